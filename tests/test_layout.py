"""The layout holds: the pure core is pure, and imports point one way.

core <- models <- services (enrollment, catalog, delivery, channels) <- faces (tasks, webhooks,
management commands, cli, admin, urls, demo). drip/core/README.md states the rule for the core.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIP = ROOT / "drip"
PURE = sorted("drip.core." + p.stem for p in (DRIP / "core").glob("*.py") if p.stem != "__init__")
BLOCKER = """
import sys, importlib.abc
FORBIDDEN = ("django", "celery", "kombu", "redis", "twilio", "smtplib", "requests", "psycopg", "socket", "urllib.request", "aiohttp", "aiosmtplib")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in FORBIDDEN or name in FORBIDDEN:
            raise ImportError("pure core imported " + name)
import yaml, jinja2, jinja2.sandbox, cmarkgfm, zoneinfo  # third-party and stdlib deps load first
sys.meta_path.insert(0, Block())
import datetime, time
class NoClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None): raise AssertionError("pure core read the clock")
    utcnow = now
datetime.datetime = NoClock
time.time = lambda: (_ for _ in ()).throw(AssertionError("pure core read the clock"))
for module in sys.argv[1:]:
    __import__(module)
print("pure")
"""

SERVICES = ("drip.enrollment", "drip.catalog", "drip.delivery", "drip.channels", "drip.inbound")
FACES = (
    "drip.tasks",
    "drip.celery",
    "drip.webhooks",
    "drip.management",
    "drip.cli",
    "drip.urls",
    "drip.admin",
    "drip.staff",
    "drip.demo",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _drip_imports(path: Path) -> set[str]:
    """Every drip module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("drip")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drip"):
            found |= {
                f"{node.module}.{a.name}" if node.module == "drip" else node.module
                for a in node.names
            }
    return found


MODULES = {
    _module_name(p): _drip_imports(p) for p in DRIP.rglob("*.py") if "migrations" not in p.parts
}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_core_modules_import_without_any_edge_available():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER, *PURE], capture_output=True, text=True, cwd=ROOT
    )
    assert result.stdout.strip() == "pure", result.stderr


@pytest.mark.parametrize("module", PURE)
def test_the_core_never_mentions_the_clock_or_environment(module):
    source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
    for forbidden in ("datetime.now(", "time.time(", "timezone.now(", "os.environ", "import os"):
        assert forbidden not in source, (module, forbidden)


def test_the_core_imports_nothing_of_drip_outside_the_core():
    # drip.errors is a leaf (it imports nothing) shared by every layer.
    wrong = {
        (m, i)
        for m, imports in MODULES.items()
        if _within(m, ("drip.core",))
        for i in imports
        if not _within(i, ("drip.core", "drip.errors"))
    }
    assert not wrong


def test_models_import_only_the_core():
    assert all(_within(i, ("drip.core", "drip.errors")) for i in MODULES["drip.models"]), MODULES[
        "drip.models"
    ]


def test_services_never_import_a_face():
    wrong = {
        (m, i)
        for m, imports in MODULES.items()
        if _within(m, SERVICES)
        for i in imports
        if _within(i, FACES)
    }
    assert not wrong


def test_the_errors_module_is_a_leaf():
    assert MODULES["drip.errors"] == set()


def test_the_import_scan_sees_imports_inside_functions():
    # the sender imports the enrollment service inside a function; a scan that missed it
    # would pass every rule above without looking.
    assert "drip.enrollment.service" in MODULES["drip.delivery.sender"]
