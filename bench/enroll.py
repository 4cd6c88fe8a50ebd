"""Enrolling many patients through the real enrollment service (validation, planning, rows)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.common import reset_tables, setup_django


def run(count: int = 10_000) -> None:
    setup_django()
    from drip.enrollment.service import PatientInput, enroll
    from drip.models import Delivery

    reset_tables()
    now = datetime.now(UTC)
    first = (now + timedelta(days=7)).replace(
        tzinfo=None, hour=10, minute=0, second=0, microsecond=0
    )
    infusions = [first + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    started = time.perf_counter()
    for i in range(count):
        enroll(
            PatientInput(
                f"P{i}",
                "Bench",
                f"p{i}@bench.test",
                f"+1212555{i % 10000:04d}",
                "America/New_York",
                True,
                True,
            ),
            infusions,
            now=now,
            actor="bench",
        )
    elapsed = time.perf_counter() - started
    planned = Delivery.objects.count()
    print(
        f"enroll: {count:,} patients in {elapsed:.1f} s = {count / elapsed:,.0f} enrollments/s, "
        f"{planned:,} deliveries planned = {planned / elapsed:,.0f} deliveries/s"
    )
