"""``drip schedules validate``, ``drip schedules publish`` and ``drip schedules export NAME DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drip.catalog import files as library
from drip.errors import DripError


class Command(BaseCommand):
    help = (
        "validate: check every schedule and message file. publish: load changed ones into the "
        "database. export NAME DIR: write a published version back as files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["validate", "publish", "export"])
        parser.add_argument("name", nargs="?", help="export: the schedule's name")
        parser.add_argument("folder", nargs="?", type=Path, help="export: where to write")
        parser.add_argument(
            "--schedule-version", type=int, help="export: this version (default newest)"
        )
        parser.add_argument(
            "--move",
            choices=["everyone", "new"],
            default="everyone",
            help="publish: move every active or paused series on an earlier version to the new "
            "one (default, as the editor does), or only enroll new patients on it",
        )
        parser.add_argument("--schedules-dir", type=Path, default=settings.DRIP_SCHEDULES_DIR)
        parser.add_argument("--messages-dir", type=Path, default=settings.DRIP_MESSAGES_DIR)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "validate":
            self._validate(opts["schedules_dir"], opts["messages_dir"])
        elif opts["action"] == "export":
            self._export(
                opts["name"], opts["folder"], opts["schedule_version"], opts["messages_dir"]
            )
        else:
            self._publish(opts["schedules_dir"], opts["messages_dir"], opts["move"])

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

    def _publish(self, schedules_dir: Path, messages_dir: Path, who_moves: str) -> None:
        from django.utils import timezone

        from drip.catalog import publish
        from drip.catalog import versions as catalog
        from drip.models import AuditEvent

        try:
            versions = catalog.publish_from_disk(schedules_dir, messages_dir, actor="cli")
        except DripError as error:
            raise CommandError(str(error)) from None
        self._warn(schedules_dir, messages_dir)
        for version in versions:
            now = timezone.now()
            AuditEvent.objects.create(
                at=now,
                actor="cli",
                event=AuditEvent.Event.SCHEDULE_PUBLISHED,
                detail={"schedule": version.name, "version": version.version,
                        "who_moves": who_moves, "copied_from": None},
            )  # fmt: skip
            self.stdout.write(f"published {version.name} v{version.version}")
            if who_moves != publish.EVERYONE or version.version == 1:
                continue
            move = publish.move_all(publish.start_move(version, actor="cli", now=now).pk, now=now)
            self.stdout.write(
                f"  moved {move.moved} series from earlier versions to v{version.version}: "
                f"pending messages {move.retimed} re-timed, {move.created} added, "
                f"{move.skipped} skipped (sent ones never change)"
            )
        if not versions:
            self.stdout.write("nothing changed")

    def _export(
        self, name: str | None, folder: Path | None, number: int | None, messages_dir: Path
    ) -> None:
        from drip.catalog.publish import export
        from drip.models import ScheduleVersion

        if not name or folder is None:
            raise CommandError("usage: drip schedules export NAME DIR [--schedule-version N]")
        versions = ScheduleVersion.objects.filter(name=name).order_by("-version")
        version = versions.filter(version=number).first() if number else versions.first()
        if version is None:
            which = f"version {number} of " if number else ""
            raise CommandError(f"no published {which}schedule named '{name}'")
        article = messages_dir / library.ARTICLE_FILE
        export(version, folder, article=article.read_text("utf-8") if article.is_file() else None)
        self.stdout.write(
            f"wrote {name} v{version.version} to {folder}/schedules and {folder}/messages "
            f"(check: drip schedules validate --schedules-dir {folder}/schedules "
            f"--messages-dir {folder}/messages)"
        )

    def _warn(self, schedules_dir: Path, messages_dir: Path) -> None:
        """What is allowed but worth a look (reading grade, caps): printed, never refused."""
        for warning in library.library_warnings(schedules_dir, messages_dir):
            self.stderr.write(f"warning: {warning}")
