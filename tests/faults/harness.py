"""One fault scenario: 2,000 deliveries due, two workers and two dispatchers at once, a fault,
then a drain. Counts what the provider servers really received."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.procs import (
    ManagedProcess,
    RedisServer,
    start_smtp_server,
    start_twilio_server,
    start_worker,
)

TWILIO_TOKEN = "fault-token"
SCENARIO_LINES: list[str] = []  # printed in the terminal summary (tests/faults/conftest.py)


@dataclass
class Outcome:
    due: int
    sent: int
    duplicates: int
    lost: int  # deliveries no provider received
    lost_not_sending: int  # of those, rows not left 'sending' (marked sent, failed, ...): no excuse
    unsettled: int  # rows still 'sending' after the status callbacks
    settled_by_callback: int
    seconds: float

    def line(self, name: str) -> str:
        return (
            f"[faults] {name:<32} due={self.due} sent={self.sent} duplicates={self.duplicates} "
            f"lost={self.lost} (not left sending: {self.lost_not_sending}) "
            f"unsettled={self.unsettled} (settled by callback: {self.settled_by_callback}) "
            f"in {self.seconds:.1f} s"
        )


class Cluster:
    """Our own Redis, the provider servers, two worker processes and two dispatcher processes."""

    def __init__(
        self,
        database_url: str,
        *,
        twilio_faults: dict[str, float] | None = None,
        smtp_451_rate: float = 0.0,
        workers: int = 2,
        dispatchers: int = 2,
    ) -> None:
        self.records = Path(tempfile.mkdtemp(prefix="drip-faults-"))
        self.redis = RedisServer()
        self.twilio, twilio_port = start_twilio_server(
            self.records / "sms.jsonl", auth_token=TWILIO_TOKEN, **(twilio_faults or {})
        )
        self.smtp, smtp_port = start_smtp_server(
            self.records / "email.jsonl", fail_451_rate=smtp_451_rate
        )
        self.env = {
            "DATABASE_URL": database_url,
            "DRIP_BROKER_URL": self.redis.url(0),
            "DRIP_CHANNELS": "live",
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": "+15005550006",
            "TWILIO_TIMEOUT_S": "1",
            "DRIP_SMTP_HOST": "127.0.0.1",
            "DRIP_SMTP_PORT": str(smtp_port),
            "DRIP_SMTP_TIMEOUT_S": "2",
            "DRIP_QUEUED_LEASE_S": "3",
            "DRIP_RETRY_BASE_S": "0.2",
            "DRIP_RETRY_MAX_S": "1",
            "DRIP_MAX_ATTEMPTS": "100",
            "DRIP_SEND_CONCURRENCY": "16",
            "DRIP_SEND_BATCH": "50",
            "DRIP_LOG_LEVEL": "WARNING",
        }
        self.workers = [start_worker(self.env, name=f"w{i}") for i in range(workers)]
        self.dispatchers = [self._dispatcher() for _ in range(dispatchers)]

    def _dispatcher(self) -> ManagedProcess:
        proc = ManagedProcess(
            [sys.executable, "-m", "tests.faults.dispatch_loop", "--every", "0.2"],
            env=self.env,
            name="dispatcher",
        )
        proc.wait_for_line("dispatcher ready")
        return proc

    def kill_random_worker(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.workers))
        self.workers[index].kill()
        self.workers[index] = start_worker(
            self.env, name=f"w{index}-{int(time.monotonic() * 1000)}"
        )

    def received(self) -> tuple[Counter[int], Counter[str]]:
        sms = _lines(self.records / "sms.jsonl")
        mail = _lines(self.records / "email.jsonl")
        return Counter(r["delivery_id"] for r in sms), Counter(r["message_id"] for r in mail)

    def sms_sid(self, delivery_id: int) -> str:
        return next(
            r["sid"] for r in _lines(self.records / "sms.jsonl") if r["delivery_id"] == delivery_id
        )

    def stop(self) -> None:
        for proc in [*self.dispatchers, *self.workers, self.twilio, self.smtp]:
            proc.stop()
        self.redis.stop()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def drain(timeout_s: float = 180.0) -> None:
    """Wait (bounded) until nothing is scheduled or queued: every row sent, failed or left sending."""
    from drip.models import Delivery

    deadline = time.monotonic() + timeout_s
    while Delivery.objects.filter(status__in=("scheduled", "queued")).exists():
        if time.monotonic() > deadline:
            counts = Counter(Delivery.objects.values_list("status", flat=True))
            raise TimeoutError(f"not drained after {timeout_s} s: {dict(counts)}")
        time.sleep(0.2)


def wait_for_calls_in_flight(quiet_s: float = 3.0, timeout_s: float = 60.0) -> None:
    """Wait (bounded) until the rows in 'sending' stop changing for ``quiet_s``: a worker's calls
    still in flight when the last row left 'queued' get answered and recorded (the provider
    timeouts here are 1-2 s); rows a killed worker stranded stay 'sending' and count as such."""
    from drip.models import Delivery

    deadline = time.monotonic() + timeout_s
    seen, quiet_since = None, time.monotonic()
    while time.monotonic() < deadline:
        now_sending = set(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
        if now_sending != seen:
            seen, quiet_since = now_sending, time.monotonic()
        elif not now_sending or time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.2)  # polling real worker processes


def run_scenario(
    cluster: Cluster, fault: Callable[[float], None], *, fault_s: float, count: int = 2000
) -> Outcome:
    """Seed ``count`` due deliveries, apply ``fault(elapsed)`` repeatedly for ``fault_s``, drain, count."""
    from bench.common import seed_due

    started = time.monotonic()
    seed_due(count, now=datetime.now(UTC))
    while (elapsed := time.monotonic() - started) < fault_s:
        fault(elapsed)
        time.sleep(0.1)
    drain()
    wait_for_calls_in_flight()
    return settle_and_count(cluster, count, time.monotonic() - started)


def settle_and_count(cluster: Cluster, count: int, seconds: float) -> Outcome:
    from django.conf import settings
    from django.test import Client
    from twilio.request_validator import RequestValidator

    from drip.models import Delivery

    sms, mail = cluster.received()
    sending = list(Delivery.objects.filter(status="sending"))
    settled = 0
    for row in sending:  # the status callback settles what Twilio accepted before the crash
        if row.channel == "sms" and sms[row.pk]:
            path = f"/webhooks/twilio/status?delivery={row.pk}"
            params = {"MessageSid": cluster.sms_sid(row.pk), "MessageStatus": "delivered"}
            signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
                settings.DRIP_PUBLIC_BASE_URL + path, params
            )
            settled += (
                Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
            )
    rows = Delivery.objects.values_list("pk", "channel")
    domain_ids = {
        f"<drip.delivery.{pk}@localhost>": pk for pk, channel in rows if channel == "email"
    }
    got = {pk for pk in sms} | {domain_ids[m] for m in mail if m in domain_ids}
    duplicates = sum(n - 1 for n in sms.values()) + sum(n - 1 for n in mail.values())
    still_sending = set(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
    lost = {pk for pk, _ in rows} - got
    return Outcome(
        due=count,
        sent=len(got),
        duplicates=duplicates,
        lost=len(lost),
        lost_not_sending=len(lost - still_sending),
        unsettled=len(still_sending),
        settled_by_callback=settled,
        seconds=seconds,
    )
