"""A provider's rate limit holds across every worker process, seen from the provider's side."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from drip.channels.ratelimit import RedisRateLimiter
from tests.support.procs import ManagedProcess, RedisServer, start_twilio_server, start_worker

PER_S = 20


def test_the_limiter_spaces_acquisitions_across_threads(redis_url):
    limiter = RedisRateLimiter(redis_url, f"test:rate:{time.monotonic_ns()}", per_second=50)
    stamps: list[float] = []
    lock = threading.Lock()

    def take(n):
        for _ in range(n):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(10,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    stamps.sort()
    assert len(stamps) == 30
    assert stamps[-1] - stamps[0] >= 29 / 50 * 0.9  # 30 slots 20 ms apart


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_four_workers_together_never_exceed_the_sms_limit(postgres_only, settings):
    from bench.common import seed_due
    from drip.catalog import versions as catalog

    catalog.publish_from_disk(actor="test")
    db = connection.settings_dict
    records = Path(tempfile.mkdtemp(prefix="drip-rate-"))
    redis_server = RedisServer()
    twilio, port = start_twilio_server(records / "sms.jsonl", auth_token="rate-token")
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DRIP_BROKER_URL": redis_server.url(0),
        "DRIP_CHANNELS": "live",
        "DRIP_SMS_PER_S": str(PER_S),
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "rate-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "DRIP_SEND_BATCH": "10",
        "DRIP_LOG_LEVEL": "INFO",
    }
    workers = [start_worker(env, name=f"rate{i}") for i in range(4)]
    dispatcher = ManagedProcess(
        [sys.executable, "-m", "tests.faults.dispatch_loop", "--every", "0.2"],
        env=env,
        name="dispatcher",
    )
    try:
        seed_due(120, now=datetime.now(UTC), channels=("sms",))
        deadline = time.monotonic() + 60
        while len(_arrivals(records)) < 120 and time.monotonic() < deadline:
            time.sleep(0.1)
        arrivals = sorted(_arrivals(records))
        busy_workers = sum("batch.done" in w.log_path.read_text() for w in workers)
    finally:
        for proc in [dispatcher, *workers, twilio]:
            proc.stop()
        redis_server.stop()
    assert len(arrivals) == 120
    assert busy_workers >= 2  # the limit is shared, not per worker
    # Slots are reserved 50 ms apart; what the provider sees also carries each worker's scheduling
    # jitter (a thread may wait for the GIL after its slot), so short windows get a small margin
    # while longer ones must hold the rate almost exactly.
    assert most_within(arrivals, 1.0) <= PER_S * 1.25
    assert most_within(arrivals, 3.0) <= 3 * PER_S + 3
    assert arrivals[-1] - arrivals[0] >= (120 - 1) / PER_S * 0.9


def most_within(arrivals: list[float], window_s: float) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + window_s) for start in arrivals)


def _arrivals(records: Path) -> list[float]:
    path = records / "sms.jsonl"
    return (
        [json.loads(line)["arrived"] for line in path.read_text().splitlines()]
        if path.exists()
        else []
    )
