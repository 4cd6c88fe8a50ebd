"""``drip status``: delivery health at a glance, and the rows that need a person.

Rows left in 'sending' (a worker died between the provider's answer and our commit) are never
resent automatically; they are listed here so staff can check them with the provider.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count
from django.utils import timezone

from drip.models import Delivery


class Command(BaseCommand):
    help = "Count deliveries by status; list rows stuck in 'sending' and recent failures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stuck-after-min", type=float, default=10.0)

    def handle(self, *args: Any, **opts: Any) -> None:
        now = timezone.now()
        counts = dict(
            Delivery.objects.values_list("status").annotate(n=Count("id")).order_by("status")
        )
        self.stdout.write(
            "deliveries: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            if counts
            else "deliveries: none"
        )
        stuck = Delivery.objects.filter(
            status=Delivery.Status.SENDING,
            updated_at__lt=now - timedelta(minutes=opts["stuck_after_min"]),
        )
        self._list(
            "unsettled (left 'sending'; check with the provider, never resent automatically)", stuck
        )
        failed = Delivery.objects.filter(
            status=Delivery.Status.FAILED, updated_at__gte=now - timedelta(days=1)
        )
        self._list("failed in the last 24 h", failed)

    def _list(self, title: str, rows: Any) -> None:
        rows = list(rows.order_by("updated_at")[:50])
        self.stdout.write(f"{title}: {len(rows)}")
        for d in rows:
            why = " ".join(x for x in (d.error_code, d.error_text) if x)
            self.stdout.write(
                f"  delivery #{d.pk} enrollment #{d.enrollment_id} {d.step_key}/{d.channel} "
                f"provider_id={d.provider_id or '-'} {why}".rstrip()
            )
