"""What a new user and the production image install: Python version, pins, ignored secrets."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pairs = (line.split("==") for line in lines if line and not line.startswith("#"))
    return {_name(name): version for name, version in pairs}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_pins_every_dependency_within_the_ranges_pyproject_allows():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        version = pinned.get(_name(requirement.name))
        assert version is not None, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(version), f"{requirement.name}=={version}: {line}"


def test_the_dockerfile_installs_with_the_constraints():
    assert "pip install --no-cache-dir -c constraints.txt ." in (ROOT / "Dockerfile").read_text()


def test_python_311_and_newer_are_accepted():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"


def test_make_picks_a_python_that_is_311_or_newer():
    chosen = subprocess.run(
        ["make", "-s", "python"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    version = subprocess.run(
        [chosen, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "True", chosen


def test_a_local_env_file_with_secrets_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0
