"""The sender's claim and load (drip.delivery.rows.claim) alone: 20,000 queued rows claimed in
groups of 100 inside a transaction each, as the sender does, no providers, no workers."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from bench.common import quiet_database, reset_tables, seed_due, setup_django


def run(count: int = 20_000, rounds: int = 7, group: int = 100) -> None:
    setup_django()
    from django.db import connection, transaction

    from drip.delivery import rows as delivery_rows
    from drip.models import Delivery

    reset_tables()
    ids = seed_due(count, now=datetime.now(UTC))
    groups = [ids[i : i + group] for i in range(0, len(ids), group)]
    totals: list[float] = []
    for _ in range(rounds):
        Delivery.objects.update(status="queued", attempts=0, queued_at=datetime.now(UTC))
        quiet_database()
        started = time.perf_counter()
        for ids_of_group in groups:
            with transaction.atomic():
                claimed = delivery_rows.claim(ids_of_group)
            assert len(claimed) == len(ids_of_group)
        totals.append(time.perf_counter() - started)
    connection.close()
    best, median = min(totals), statistics.median(totals)
    print(
        f"claim + load of {count:,} rows in groups of {group}: median {median * 1000:.0f} ms "
        f"({median / count * 1e6:.1f} µs per row), best {best * 1000:.0f} ms, over {rounds} rounds"
    )
