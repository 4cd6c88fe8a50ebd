"""``drip preview``: the timeline of a series for a sample patient, from the files on disk."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
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
        parser.add_argument(
            "--enrolled",
            help='local enrollment time "YYYY-MM-DD HH:MM" (default: a week before infusion 1)',
        )
        parser.add_argument(
            "--now", help='local time of planning "YYYY-MM-DD HH:MM" (default: the enrollment time)'
        )
        parser.add_argument(
            "--series-size",
            type=int,
            help="infusions in the series (default: the schedule's); --infusions may book fewer",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="print the plan as a JSON list (with --render: texts)",
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
            size = opts["series_size"] or schedule.infusions
            if not 1 <= size <= 20:
                raise CommandError(f"--series-size: give 1 to 20, not {size}")
            if not times or len(times) > size:
                raise CommandError(f"--infusions: give 1 to {size} times")
            enrolled = _local_option(opts, "enrolled")
            series = replace(
                sample.series_from_local(times, opts["tz"], enrolled), size=opts["series_size"]
            )
            now = _local_option(opts, "now") or series.enrolled_at
            rows = preview.preview(
                schedule,
                messages,
                series,
                PatientPrefs(time_zone=opts["tz"], channels=frozenset(Channel)),
                first_name=sample.SAMPLE_FIRST_NAME,
                clinic=settings.DRIP_CLINIC,
                now=now,
            )
        except DripError as error:
            raise CommandError(str(error)) from None
        if opts["json"]:
            self.stdout.write(json.dumps(preview.to_json(rows, rendered=opts["render"]), indent=2))
            return
        self.stdout.write(
            f"{schedule.title} — patient in {opts['tz']}, enrolled {series.enrolled_at:%Y-%m-%d %H:%M %Z}\n"
        )
        self.stdout.write(preview.format_table(rows))
        if opts["render"]:
            self.stdout.write("\n" + preview.format_rendered(rows))


def _local_option(opts: dict[str, Any], name: str) -> dt.datetime | None:
    """``--enrolled`` / ``--now`` as an aware time in the patient's zone (None when not given)."""
    if not opts[name]:
        return None
    try:
        local = dt.datetime.strptime(opts[name].strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise CommandError(f"--{name}: '{opts[name]}' is not YYYY-MM-DD HH:MM") from None
    return local.replace(tzinfo=ZoneInfo(opts["tz"]))
