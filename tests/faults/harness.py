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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.procs import (
    ManagedProcess,
    RedisServer,
    start_smtp_server,
    start_twilio_server,
    start_worker,
)

TWILIO_TOKEN = "fault-token"
# A row left 'sending' this long is stranded (its worker died mid-call). Far longer than a live
# worker holds one (a lookup and a send, 1 s timeout each, then recording the answer through up
# to 3 s of database retries), and longer than a scenario runs, so every stranded SMS is still
# 'sending' at the end, where ``settle_stranded`` moves its clock past the lease and counts it.
SENDING_LEASE_S = 60.0
SCENARIO_LINES: list[str] = []  # printed in the terminal summary (tests/faults/conftest.py)


@dataclass
class Outcome:
    due: int
    sent: int
    duplicates: int
    lost: int  # deliveries no provider received
    lost_not_sending: int  # of those, rows not left 'sending' (marked sent, failed, ...): no excuse
    sms_lost: int
    sms_unsettled: int
    emails_listed: int
    found_by_lookup: int
    sent_again: int
    seconds: float

    def line(self, name: str) -> str:
        return (
            f"[faults] {name:<32} due={self.due} sent={self.sent} duplicates={self.duplicates} "
            f"lost={self.lost} (not left sending: {self.lost_not_sending}) | SMS lost={self.sms_lost} unsettled={self.sms_unsettled} "
            f"(stranded {self.found_by_lookup + self.sent_again}: Twilio had {self.found_by_lookup}, "
            f"had not {self.sent_again}) | emails left sending, listed for "
            f"staff={self.emails_listed} "
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
            "DRIP_SENDING_LEASE_S": str(SENDING_LEASE_S),
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
    """Seed ``count`` due deliveries, apply ``fault(elapsed)`` repeatedly for ``fault_s``, drain,
    let the lease pass for what is left 'sending', drain again, count."""
    from bench.common import seed_due

    started = time.monotonic()
    seed_due(count, now=datetime.now(UTC))
    while (elapsed := time.monotonic() - started) < fault_s:
        fault(elapsed)
        time.sleep(0.1)
    drain()
    wait_for_calls_in_flight()
    stranded = settle_stranded(cluster)
    return count_outcome(cluster, count, stranded, time.monotonic() - started)


@dataclass
class Stranded:
    """SMS rows left 'sending' once every live call had ended, split by whether Twilio had them."""

    found: int
    sent_again: int


def settle_stranded(cluster: Cluster, timeout_s: float = 30.0) -> Stranded:
    """Let the sending lease pass for the SMS rows left 'sending' (no live call holds one any
    more: ``wait_for_calls_in_flight``) and wait until the cluster's own dispatchers have settled
    them: looked up in Twilio's message list, recorded sent if found, sent again if not.

    Rather than sleeping through the lease, the stranded rows' clock is moved back by it: their
    ``updated_at`` (when their worker claimed them) becomes a lease earlier, which is what the
    dispatchers compare with the lease (the same as tests/delivery/test_settle.py's rows)."""
    from django.db.models import F

    from drip.models import Delivery

    stranded = Delivery.objects.filter(channel="sms", status="sending")  # every call has ended
    ids = set(stranded.values_list("pk", flat=True))
    received, _ = cluster.received()
    stranded.update(updated_at=F("updated_at") - timedelta(seconds=SENDING_LEASE_S))
    deadline = time.monotonic() + timeout_s
    unsettled = Delivery.objects.filter(
        channel="sms", status__in=("scheduled", "queued", "sending")
    )
    while unsettled.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # polling real dispatcher and worker processes; what is left counts as lost
    found = sum(1 for pk in ids if received[pk])
    return Stranded(found=found, sent_again=len(ids) - found)


def count_outcome(cluster: Cluster, count: int, stranded: Stranded, seconds: float) -> Outcome:
    """What the provider servers received, against the rows; the email rows still 'sending' are
    what the staff Today page lists once their lease has passed."""
    from drip.delivery.dispatch import unsettled_emails
    from drip.models import Delivery

    sms, mail = cluster.received()
    rows = Delivery.objects.values_list("pk", "channel")
    sms_ids = {pk for pk, channel in rows if channel == "sms"}
    domain_ids = {
        f"<drip.delivery.{pk}@localhost>": pk for pk, channel in rows if channel == "email"
    }
    got = {pk for pk in sms} | {domain_ids[m] for m in mail if m in domain_ids}
    duplicates = sum(n - 1 for n in sms.values()) + sum(n - 1 for n in mail.values())
    lost = {pk for pk, _ in rows} - got
    still_sending = set(Delivery.objects.filter(status="sending").values_list("pk", flat=True))
    after_lease = datetime.now(UTC) + timedelta(seconds=SENDING_LEASE_S)
    return Outcome(
        due=count,
        sent=len(got),
        duplicates=duplicates,
        lost=len(lost),
        lost_not_sending=len(lost - still_sending),
        sms_lost=len(sms_ids - got),
        sms_unsettled=Delivery.objects.filter(
            channel="sms", status__in=("scheduled", "queued", "sending")
        ).count(),
        emails_listed=len(unsettled_emails(after_lease, lease_s=SENDING_LEASE_S)),
        found_by_lookup=stranded.found,
        sent_again=stranded.sent_again,
        seconds=seconds,
    )
