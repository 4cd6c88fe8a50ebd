"""Duplicates when a worker starts after the broker's visibility timeout: drip vs naive ETA tasks.

Both designs get the same timeline on a Redis broker with a short visibility timeout: messages
due in ``due_in_s`` seconds, worker A running from the start, worker B starting once the
visibility timeout has passed. Redis hands B the messages A still holds unacknowledged.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from bench.common import BENCH_BROKER, reset_tables, seed_due, setup_django
from tests.support.procs import ManagedProcess, start_twilio_server, start_worker

VISIBILITY_S = 3


def run(count: int = 200, due_in_s: int = 10) -> None:
    env = {**setup_django(), "DRIP_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S)}
    print(
        f"visibility: {count} messages due in {due_in_s} s; broker visibility timeout {VISIBILITY_S} s; "
        f"a second worker starts after it"
    )
    naive = _naive(env, count, due_in_s)
    ours = _drip(env, count, due_in_s)
    print(f"  naive (one ETA task per message): {naive} duplicate runs")
    print(f"  drip (rows + dispatcher):         {ours} duplicate sends")


def _naive(env: dict[str, str], count: int, due_in_s: int) -> int:
    from bench.noop_tasks import count_run

    client = redis.Redis.from_url(BENCH_BROKER)
    client.flushdb()
    key = f"bench:vis:{uuid.uuid4().hex}"
    first = start_worker(env, name="visA", include="bench.noop_tasks")
    try:
        for i in range(count):
            count_run.apply_async((key, str(i)), countdown=due_in_s)
        time.sleep(VISIBILITY_S + 1)
        second = start_worker(env, name="visB", include="bench.noop_tasks")
        time.sleep(due_in_s + 3)
        second.stop()
    finally:
        first.stop()
    runs = [int(v) for v in client.hvals(key)]
    return sum(n - 1 for n in runs)


def _drip(env: dict[str, str], count: int, due_in_s: int) -> int:
    import sys

    reset_tables()
    redis.Redis.from_url(BENCH_BROKER).flushdb()
    records = Path(tempfile.mkdtemp(prefix="drip-vis-"))
    twilio, port = start_twilio_server(records / "sms.jsonl")
    live = {
        **env,
        "DRIP_CHANNELS": "live",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
    }
    seed_due(count, now=datetime.now(UTC) + timedelta(seconds=due_in_s), channels=("sms",))
    first = start_worker(live, name="visA")
    dispatcher = ManagedProcess(
        [sys.executable, "-m", "tests.faults.dispatch_loop", "--every", "0.5"],
        env=live,
        name="dispatcher",
    )
    try:
        time.sleep(VISIBILITY_S + 1)
        second = start_worker(live, name="visB")
        time.sleep(due_in_s + 3)
        second.stop()
    finally:
        for proc in (dispatcher, first, twilio):
            proc.stop()
    lines = (
        (records / "sms.jsonl").read_text().splitlines() if (records / "sms.jsonl").exists() else []
    )
    received = Counter(json.loads(line)["delivery_id"] for line in lines)
    if len(received) != count:
        print(f"  (drip: {len(received)} of {count} received)")
    return sum(n - 1 for n in received.values())
