"""``drip timeline ENROLLMENT_ID``: what was sent, what is next, what failed and why."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from drip.enrollment.service import timeline
from drip.models import Enrollment


class Command(BaseCommand):
    help = "Print one enrollment's timeline in the patient's time zone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("enrollment_id", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            enrollment = Enrollment.objects.select_related("patient").get(pk=opts["enrollment_id"])
        except Enrollment.DoesNotExist:
            raise CommandError(f"no enrollment #{opts['enrollment_id']}") from None
        self.stdout.write(
            f"Enrollment #{enrollment.pk} ({enrollment.status}), patient #{enrollment.patient_id}, "
            f"{enrollment.patient.time_zone}"
        )
        for entry in timeline(enrollment):
            self.stdout.write(f"  {entry}")
