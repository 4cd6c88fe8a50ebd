"""The ``drip`` command: Django's management commands with drip's settings.

``drip preview``, ``drip schedules validate``, ``drip demo``, ``drip worker`` ... are management
commands in ``drip/management/commands``; every Django command (``drip migrate``) works too.
A person at a terminal gets a sentence, not a traceback, for what they can fix: settings
(``ConfigError``), a database that is not there or not migrated, output piped into ``head``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drip.settings")
    if args[:1] == ["demo"]:
        _use_demo_sandbox()
    try:
        _run(args)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except Exception as error:  # noqa: BLE001 - only the kinds _explain knows; others re-raised
        if (explanation := _explain(error)) is None:
            raise
        sys.stderr.write(f"drip: {explanation}\n")
        sys.exit(1)


def _run(args: list[str]) -> None:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["drip", *args])
    sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit


def _explain(error: Exception) -> str | None:
    """What to tell a person about ``error``, or None when it is a bug (keep the traceback)."""
    from django.db import OperationalError, ProgrammingError

    from drip.errors import ConfigError

    if isinstance(error, ConfigError):
        return str(error)
    # Unreachable, or tables missing (SQLite: OperationalError; PostgreSQL: ProgrammingError).
    # Other database errors are bugs and keep their traceback.
    missing_table = isinstance(error, ProgrammingError) and "does not exist" in str(error)
    if isinstance(error, OperationalError) or missing_table:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return (
            f"cannot use the database at {_database_place()} ({first_line}).\n"
            "  A new database? Run `drip migrate` then `drip schedules publish`.\n"
            "  Another one? Set DATABASE_URL, or DRIP_DATA_DIR for the SQLite file's folder."
        )
    return None


def _database_place() -> str:
    """Where the database is, without its password."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return str(db["NAME"])
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 'default port'}/{db['NAME']}"


def _quiet_broken_pipe() -> None:
    """The reader went away (``drip timeline 1 | head``): stop quietly, as Unix tools do.
    stdout goes to /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


def _use_demo_sandbox() -> None:
    """The demo runs in a sandbox of its own (settings: ``DRIP_DEMO``), never on real data."""
    os.environ.update(DRIP_DEMO="1", DRIP_ENV="development")


if __name__ == "__main__":
    main()
