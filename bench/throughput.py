"""End-to-end throughput: due deliveries drained by real workers through real providers.

Baseline (same run, same broker, same worker processes): one bare no-op Celery task per message.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench.common import (
    BENCH_BROKER,
    percentile,
    quiet_database,
    reset_tables,
    seed_due,
    setup_django,
)
from tests.support.procs import start_smtp_server, start_twilio_server, start_worker


def run(count: int = 20_000, workers: int = 2, slow_count: int = 4_000) -> None:
    env = setup_django()
    print(
        f"throughput: {count} deliveries, {workers} worker processes, PostgreSQL + Redis, local SMTP + Twilio-speaking servers"
    )
    fast = _drip_run(env, count, workers, delay_ms=0, channels=("sms", "email"))
    baseline = _noop_run(env, count, workers)
    slow = _drip_run(env, slow_count, workers, delay_ms=200, channels=("sms",))
    print()
    print(f"{'run':<44}{'per s':>9}{'p50 late s':>12}{'p99 late s':>12}{'dups':>6}{'lost':>6}")
    print(f"{'bare no-op Celery task per message (baseline)':<44}{baseline:>9.0f}")
    for label, r in (
        ("drip, providers answer at once", fast),
        ("drip, Twilio answers after 200 ms (SMS only)", slow),
    ):
        print(
            f"{label:<44}{r['rate']:>9.0f}{r['p50']:>12.2f}{r['p99']:>12.2f}{r['duplicates']:>6}{r['lost']:>6}"
        )
    print(f"\nratio drip / bare task: {fast['rate'] / baseline:.2f}x (goal >= 1.5)")
    print(f"with 200 ms provider latency: {slow['rate']:.0f}/s (goal >= 250)")


def _noop_run(env: dict[str, str], count: int, workers: int) -> float:
    from bench.noop_tasks import noop

    procs = [start_worker(env, name=f"noop{i}", include="bench.noop_tasks") for i in range(workers)]
    client = redis.Redis.from_url(BENCH_BROKER)
    key = f"bench:noop:{uuid.uuid4().hex}"
    quiet_database()
    try:
        started = time.perf_counter()
        for _ in range(count):
            noop.delay(key)
        while int(client.get(key) or 0) < count:
            time.sleep(0.01)
        return count / (time.perf_counter() - started)
    finally:
        for p in procs:
            p.stop()


def _drip_run(
    env: dict[str, str],
    count: int,
    workers: int,
    *,
    delay_ms: float,
    channels: tuple[str, ...],
    reset: bool = True,
    first: int = 0,
    during: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Seed ``count`` due deliveries and drain them with real workers. ``reset=False`` keeps
    what the database holds (other benchmarks' series); ``during`` starts just as the clock
    does (other work to measure the sender beside)."""
    from drip.models import Delivery
    from drip.tasks import dispatch_due

    if reset:
        reset_tables()
    redis.Redis.from_url(BENCH_BROKER).flushdb()
    records = Path(tempfile.mkdtemp(prefix="drip-bench-"))
    twilio, twilio_port = start_twilio_server(records / "sms.jsonl", delay_ms=delay_ms)
    smtp, smtp_port = start_smtp_server(records / "email.jsonl")
    worker_env = {
        **env,
        "DRIP_CHANNELS": "live",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "DRIP_SMTP_HOST": "127.0.0.1",
        "DRIP_SMTP_PORT": str(smtp_port),
    }
    if os.environ.get("BENCH_CONCURRENCY"):  # default: drip's own DRIP_SEND_CONCURRENCY
        worker_env["DRIP_SEND_CONCURRENCY"] = os.environ["BENCH_CONCURRENCY"]
    procs = [start_worker(worker_env, name=f"drip{i}") for i in range(workers)]
    try:
        now = datetime.now(UTC)
        ids = seed_due(count, now=now, channels=channels, first=first)
        quiet_database()
        due_epoch = now.timestamp() - 1
        if during is not None:
            during()
        started = time.perf_counter()
        pending = Delivery.objects.filter(  # the seeded rows: their ids are one run
            pk__range=(min(ids), max(ids)), status__in=("scheduled", "queued", "sending")
        )
        while pending.exists():
            dispatch_due()
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = {
            "workers": sum(p.cpu_seconds() for p in procs),
            "twilio server": twilio.cpu_seconds(),
            "smtp server": smtp.cpu_seconds(),
        }
        print(
            f"  cpu seconds over {elapsed:.1f} s ({len(ids)} deliveries, {delay_ms:.0f} ms provider): "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        )
        return _measure(records, len(ids), elapsed, due_epoch)
    finally:
        for p in [*procs, twilio, smtp]:
            p.stop()


def _measure(records: Path, count: int, elapsed: float, due_epoch: float) -> dict[str, float]:
    """Rate, lateness (provider arrival minus due time) and duplicates, from the servers' records."""
    sms = (
        [json.loads(line) for line in (records / "sms.jsonl").read_text().splitlines()]
        if (records / "sms.jsonl").exists()
        else []
    )
    mail = (
        [json.loads(line) for line in (records / "email.jsonl").read_text().splitlines()]
        if (records / "email.jsonl").exists()
        else []
    )
    ids = Counter(
        [f"sms:{r['delivery_id']}" for r in sms] + [f"email:{r['message_id']}" for r in mail]
    )
    lateness = [r["arrived"] - due_epoch for r in sms + mail]
    received = len(ids)
    return {
        "rate": count / elapsed,
        "p50": percentile(lateness, 0.5),
        "p99": percentile(lateness, 0.99),
        "duplicates": sum(n - 1 for n in ids.values()),
        "lost": count - received,
    }
