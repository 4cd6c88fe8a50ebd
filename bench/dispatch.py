"""Dispatch cost as the table grows: claim 1,000 due rows beside 10,000 vs 1,000,000 future rows."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from bench.common import insert_future, reset_tables, seed_due, setup_django


def run(small: int = 10_000, large: int = 1_000_000, due: int = 1_000, repeats: int = 15) -> None:
    setup_django()
    print(
        f"dispatch: claim {due} due rows with {small:,} vs {large:,} future rows in the table (PostgreSQL)"
    )
    small_ms = _measure(small, due, repeats)
    large_ms = _measure(large, due, repeats)
    print(f"  {small:>9,} future rows: {small_ms:7.2f} ms per claim of {due}")
    print(f"  {large:>9,} future rows: {large_ms:7.2f} ms per claim of {due}")
    print(f"  ratio: {large_ms / small_ms:.2f}x (goal <= 1.6)")


def _measure(future: int, due: int, repeats: int) -> float:
    from django.db import connection

    from drip.delivery.dispatch import claim_due

    reset_tables()
    now = datetime.now(UTC)
    ids = seed_due(due, now=now, channels=("sms",))
    enrollment_id = _enrollment_of(ids[0])
    insert_future(enrollment_id, future)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        claimed = claim_due(now, limit=due)
        timings.append((time.perf_counter() - started) * 1000)
        if len(claimed) != due:
            raise RuntimeError(f"claimed {len(claimed)} of {due}")
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE drip_delivery SET status = 'scheduled', queued_at = NULL WHERE status = 'queued'"
            )
    return statistics.median(timings)


def _enrollment_of(delivery_id: int) -> int:
    from drip.models import Delivery

    return Delivery.objects.values_list("enrollment_id", flat=True).get(pk=delivery_id)
