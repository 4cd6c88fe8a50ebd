"""Worker memory with 1,000,000 future deliveries vs none; beside the naive design (ETA tasks)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import redis

from bench.common import BENCH_BROKER, insert_future, reset_tables, seed_due, setup_django
from tests.support.procs import start_worker


def run(future: int = 1_000_000, naive: int = 50_000) -> None:
    env = setup_django()
    print(
        f"memory: worker RSS (process group) with no deliveries, with {future:,} future deliveries, "
        f"and the naive design holding {naive:,} ETA tasks"
    )
    empty = _drip_rss(env, 0)
    full = _drip_rss(env, future)
    eta = _naive_rss(env, naive)
    print(f"  drip, no deliveries:              {empty:7.1f} MiB")
    print(
        f"  drip, {future:>9,} future:          {full:7.1f} MiB  ratio {full / empty:.2f}x (goal <= 1.1)"
    )
    print(
        f"  naive, {naive:>9,} ETA tasks held:  {eta:7.1f} MiB  ({eta / empty:.1f}x; grows with every message)"
    )


def _drip_rss(env: dict[str, str], future: int) -> float:
    from django.db import connection

    from drip.tasks import dispatch_due

    reset_tables()
    redis.Redis.from_url(BENCH_BROKER).flushdb()
    if future:
        ids = seed_due(1, now=datetime.now(UTC), channels=("email",))
        from drip.models import Delivery

        enrollment_id = Delivery.objects.values_list("enrollment_id", flat=True).get(pk=ids[0])
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM drip_delivery")
        insert_future(enrollment_id, future)
    worker = start_worker({**env, "DRIP_CHANNELS": "outbox"}, name="mem")
    try:
        for _ in range(5):  # the worker runs a few dispatcher ticks over the full table
            dispatch_due.delay()
        time.sleep(3)  # let it settle after the ticks
        return _group_rss_mib(worker.process.pid)
    finally:
        worker.stop()


def _naive_rss(env: dict[str, str], count: int) -> float:
    from bench.noop_tasks import count_run

    redis.Redis.from_url(BENCH_BROKER).flushdb()
    worker = start_worker(env, name="naive", include="bench.noop_tasks")
    try:
        key = f"bench:naive:{uuid.uuid4().hex}"
        for i in range(count):
            count_run.apply_async(
                (key, str(i)), countdown=86_400
            )  # one ETA task per message, a day out
        deadline = time.monotonic() + 120
        client = redis.Redis.from_url(BENCH_BROKER)
        while client.llen("celery") > 0 and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker pulls every ETA task into memory
        time.sleep(2)
        return _group_rss_mib(worker.process.pid)
    finally:
        worker.stop()


def _group_rss_mib(leader: int) -> float:
    total_kib = 0
    group = os.getpgid(leader)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) != group:
                continue
            with open(f"/proc/{pid}/status") as status:
                total_kib += next(
                    int(line.split()[1]) for line in status if line.startswith("VmRSS:")
                )
        except (OSError, StopIteration):
            continue
    return total_kib / 1024
