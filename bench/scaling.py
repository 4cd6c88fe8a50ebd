"""End-to-end deliveries/s with 1, 2 and 4 worker processes (the scaling curve)."""

from __future__ import annotations

from bench.common import setup_django
from bench.throughput import _drip_run


def run(count: int = 5_000) -> None:
    env = setup_django()
    print(
        f"scaling: {count:,} deliveries (SMS + email), providers answering at once, and at 200 ms (SMS)"
    )
    for workers in (1, 2, 4):
        fast = _drip_run(env, count, workers, delay_ms=0, channels=("sms", "email"))
        slow = _drip_run(env, count // 2, workers, delay_ms=200, channels=("sms",))
        print(
            f"  {workers} worker process(es): {fast['rate']:7.0f}/s at once, {slow['rate']:7.0f}/s at 200 ms; "
            f"duplicates {fast['duplicates'] + slow['duplicates']}, lost {fast['lost'] + slow['lost']}"
        )
