"""The pure core imports no edge (Django, DB, network, environment) and never reads the clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = ["drip.schedule", "drip.planner", "drip.rendering", "drip.segments", "drip.backoff"]
BLOCKER = """
import sys, importlib.abc
FORBIDDEN = ("django", "celery", "kombu", "redis", "twilio", "smtplib", "requests", "psycopg", "socket", "urllib.request")
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


def test_pure_modules_import_without_any_edge_available():
    result = subprocess.run([sys.executable, "-c", BLOCKER, *PURE], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "pure", result.stderr


def test_pure_modules_do_not_mention_the_clock_or_environment():
    for module in PURE:
        source = (ROOT / (module.replace(".", "/") + ".py")).read_text()
        for forbidden in ("datetime.now(", "time.time(", "timezone.now(", "os.environ", "import os"):
            assert forbidden not in source, (module, forbidden)
