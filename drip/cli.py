"""The ``drip`` command: Django's management commands with drip's settings.

``drip preview``, ``drip schedules validate``, ``drip demo``, ``drip worker`` ... are management
commands in ``drip/management/commands``; every Django command (``drip migrate``) works too.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drip.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["drip", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
