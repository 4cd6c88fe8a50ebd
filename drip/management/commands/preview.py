"""``drip preview``: the timeline of a series for a sample patient, from the files on disk."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drip.catalog import files as library
from drip.core import preview
from drip.core.planner import PatientPrefs
from drip.core.schedule import Channel
from drip.demo import sample
from drip.errors import DripError


class Command(BaseCommand):
    help = "Print the timeline (and with --render, the texts) of a series for a sample patient."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--schedule", default="ketamine-six-infusion")
        parser.add_argument(
            "--infusions", help='local times: "2026-12-01 09:00,2026-12-03 09:00,..."'
        )
        parser.add_argument("--tz", default=sample.SAMPLE_ZONE, help="patient's IANA time zone")
        parser.add_argument(
            "--render", action="store_true", help="also print every message as sent"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            ZoneInfo(opts["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise CommandError(f"--tz: '{opts['tz']}' is not an IANA time zone") from None
        try:
            messages = library.load_messages(settings.DRIP_MESSAGES_DIR)
            schedules = library.load_schedules(settings.DRIP_SCHEDULES_DIR, messages)
            schedule = schedules.get(opts["schedule"])
            if schedule is None:
                raise CommandError(
                    f"--schedule: no schedule '{opts['schedule']}' (have: {', '.join(sorted(schedules))})"
                )
            times = (
                sample.parse_infusion_times(opts["infusions"])
                if opts["infusions"]
                else sample.sample_infusion_times(dt.date.today(), size=schedule.infusions)
            )
            if not times or len(times) > schedule.infusions:
                raise CommandError(f"--infusions: give 1 to {schedule.infusions} times")
            series = sample.series_from_local(times, opts["tz"])
            rows = preview.preview(
                schedule,
                messages,
                series,
                PatientPrefs(time_zone=opts["tz"], channels=frozenset(Channel)),
                first_name=sample.SAMPLE_FIRST_NAME,
                clinic=settings.DRIP_CLINIC,
                now=series.enrolled_at,
            )
        except DripError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{schedule.title} — patient in {opts['tz']}, enrolled {series.enrolled_at:%Y-%m-%d %H:%M %Z}\n"
        )
        self.stdout.write(preview.format_table(rows))
        if opts["render"]:
            self.stdout.write("\n" + preview.format_rendered(rows))
