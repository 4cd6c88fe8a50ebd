"""The ``drip`` command: Django's management commands with drip's settings.

``drip preview``, ``drip schedules validate``, ``drip demo``, ``drip worker`` ... are management
commands in ``drip/management/commands``; every Django command (``drip migrate``) works too.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drip.settings")
    if args[:1] == ["demo"]:
        _use_demo_sandbox()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["drip", *args])


def _use_demo_sandbox() -> None:
    """The demo always runs on its own fresh SQLite file, outbox and in-memory broker."""
    import shutil
    from pathlib import Path

    home = Path(os.environ.get("DRIP_HOME", "var")).resolve() / "demo"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ.update(
        DRIP_HOME=str(home),
        DATABASE_URL=f"sqlite:///{home / 'drip.sqlite3'}",
        DRIP_CHANNELS="outbox",
        DRIP_OUTBOX_DIR=str(home / "outbox"),
        DRIP_BROKER_URL="memory://",
        DRIP_ENV="development",
    )


if __name__ == "__main__":
    main()
