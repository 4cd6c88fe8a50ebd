"""``drip schedules validate`` and ``drip schedules publish``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drip.catalog import files as library
from drip.errors import DripError


class Command(BaseCommand):
    help = "validate: check every schedule and message file. publish: load changed ones into the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["validate", "publish"])
        parser.add_argument("--schedules-dir", type=Path, default=settings.DRIP_SCHEDULES_DIR)
        parser.add_argument("--messages-dir", type=Path, default=settings.DRIP_MESSAGES_DIR)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "validate":
            self._validate(opts["schedules_dir"], opts["messages_dir"])
        else:
            self._publish(opts["schedules_dir"], opts["messages_dir"])

    def _validate(self, schedules_dir: Path, messages_dir: Path) -> None:
        problems = library.validate_library(schedules_dir, messages_dir)
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found")
        self._warn(schedules_dir, messages_dir)
        self.stdout.write(
            f"ok: every schedule in {schedules_dir} and message in {messages_dir} is valid"
        )

    def _publish(self, schedules_dir: Path, messages_dir: Path) -> None:
        from drip.catalog import versions as catalog

        try:
            versions = catalog.publish_from_disk(schedules_dir, messages_dir, actor="cli")
        except DripError as error:
            raise CommandError(str(error)) from None
        self._warn(schedules_dir, messages_dir)
        for version in versions:
            self.stdout.write(f"published {version.name} v{version.version}")
        if not versions:
            self.stdout.write("nothing changed")

    def _warn(self, schedules_dir: Path, messages_dir: Path) -> None:
        """What is allowed but worth a look (reading grade, caps): printed, never refused."""
        for warning in library.library_warnings(schedules_dir, messages_dir):
            self.stderr.write(f"warning: {warning}")
