"""Inbound SMS: signed Twilio webhooks at a steady rate through gunicorn on PostgreSQL.

`python -m bench inbound [--seconds 60] [--rate 100]`. An open-loop load: request ``i`` is due
at ``start + i / rate`` whatever the answers before it did, and its latency counts from that due
time, so a slow server cannot hide its queue by slowing the sender down. The mix: replies
(the inbox), STOPs, crisis messages, an unknown number now and then, and every 50th request a
replay of an earlier MessageSid (Twilio retries a webhook it did not hear back from).

Reported: webhook latency (p50/p99/max), every MessageSid stored once (none lost, no replay
stored twice), one alert per crisis message, and the time from the webhook to the on-call SMS
handed to Twilio (a real Celery worker sends it to the local Twilio-speaking server; the
server's own record of the arrival is the truth). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.common import BENCH_BROKER, percentile, reset_tables, setup_django
from tests.support.procs import ManagedProcess, free_port, start_twilio_server, start_worker
from tests.support.procs import wait_for_port as wait_for_listener

AUTH_TOKEN = "bench-token"
ONCALL_PHONE = "+12025550100"
PATIENTS = 1_000
REPLAY_EVERY = 50
WARM_UP_ROUNDS = 5
WARM_UP = "SMwarm"  # MessageSid prefix of the warm-up requests, left out of every count
HANDOFF_WAIT_S = 60.0
# Every tenth message a crisis, every fifth a STOP, the rest replies; body texts as patients
# write them (the classifier's work is part of what is measured).
REPLIES = ("Thanks, see you Tuesday", "Can I move my appointment?", "ok", "Feeling better today!")
STOPS = ("STOP", "stop texting me", "Unsubscribe")
CRISIS = ("I want to die", "i dont want to be here anymore, i want to end it all")


@dataclass(frozen=True)
class Sent:
    """One webhook request: what it carried and how it went."""

    sid: str
    kind: str  # reply | stop | crisis | replay
    started_wall: float  # epoch seconds when the request went out
    latency_s: float  # answer time minus the request's due time
    answered_s: float  # answer time, seconds since the first request was due
    status: int


def run(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inbound")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn worker processes")
    args = parser.parse_args(argv)
    env = setup_django()
    reset_tables()
    redis.Redis.from_url(BENCH_BROKER).flushdb()
    phones = _seed_patients(PATIENTS)
    records = Path(tempfile.mkdtemp(prefix="drip-bench-inbound-"))
    twilio, twilio_port = start_twilio_server(records / "sms.jsonl", auth_token=AUTH_TOKEN)
    web_port = free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    server_env = {
        **env,
        "DRIP_CHANNELS": "live",
        "DRIP_PUBLIC_BASE_URL": base_url,
        "DRIP_ONCALL_PHONES": ONCALL_PHONE,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{twilio_port}",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+15005550006",
    }
    web = _start_gunicorn(server_env, web_port, args.web_workers)
    worker = start_worker(server_env, name="inbound-alerts")
    print(
        f"inbound: {args.rate:.0f} signed webhooks/s for {args.seconds:.0f} s through gunicorn "
        f"({args.web_workers} workers) on PostgreSQL; alerts by 1 Celery worker to the local "
        "Twilio-speaking server"
    )
    try:
        sent, web_cpu_s = asyncio.run(
            _load(base_url, phones, rate=args.rate, seconds=args.seconds, web=web)
        )
        crisis_count = sum(1 for s in sent if s.kind == "crisis" and s.status == 200)
        handed = _wait_for_notices(crisis_count + WARM_UP_ROUNDS, records)
    finally:
        for proc in (web, worker, twilio):
            proc.stop()
    _report(sent, handed, args.seconds, web_cpu_s)


def _seed_patients(count: int) -> list[str]:
    from drip.models import Patient

    phones = [f"+1303{i:07d}" for i in range(count)]
    Patient.objects.bulk_create(
        Patient(first_name="Alex", phone=phone, time_zone="America/Denver", sms_consent=True)
        for phone in phones
    )
    return phones


def _start_gunicorn(env: dict[str, str], port: int, workers: int) -> ManagedProcess:
    import sys

    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "drip.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        name="gunicorn",
    )
    wait_for_listener(port)
    return proc


def _message(index: int, phones: list[str]) -> tuple[str, str, str]:
    """(kind, from, body) of the ``index``-th new message."""
    sender = phones[index % len(phones)] if index % 97 else "+14155550199"  # now and then unknown
    if index % 10 == 3:
        return "crisis", sender, CRISIS[index % len(CRISIS)]
    if index % 5 == 1:
        return "stop", sender, STOPS[index % len(STOPS)]
    return "reply", sender, REPLIES[index % len(REPLIES)]


async def _load(
    base_url: str, phones: list[str], *, rate: float, seconds: float, web: ManagedProcess
) -> tuple[list[Sent], float]:
    """Every webhook's outcome, and the CPU seconds gunicorn spent on them."""
    import aiohttp
    from twilio.request_validator import RequestValidator

    url = f"{base_url}/webhooks/twilio/inbound"
    validator = RequestValidator(AUTH_TOKEN)
    total = int(rate * seconds)
    forms: list[tuple[str, dict[str, str]]] = []
    for i in range(total):
        if i % REPLAY_EVERY == REPLAY_EVERY - 1:
            forms.append(("replay", forms[i // 2][1]))  # an earlier webhook, sent again
            continue
        kind, sender, body = _message(i, phones)
        sid = f"SM{i:032d}"
        forms.append(
            (kind, {"MessageSid": sid, "From": sender, "To": "+15005550006", "Body": body})
        )
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        await _warm_up(session, url, validator, phones)
        cpu_before = web.cpu_seconds()
        start = loop.time() + 0.5

        async def one(i: int, kind: str, form: dict[str, str]) -> Sent:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            started_wall = time.time()
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
            async with session.post(url, data=form, headers=headers) as response:
                await response.read()
                answered = loop.time()
                return Sent(
                    form["MessageSid"],
                    kind,
                    started_wall,
                    answered - due,
                    answered - start,
                    response.status,
                )

        sent = await asyncio.gather(*(one(i, k, f) for i, (k, f) in enumerate(forms)))
        return list(sent), web.cpu_seconds() - cpu_before


async def _warm_up(session: Any, url: str, validator: Any, phones: list[str]) -> None:
    """A few requests of each kind before the clock starts: a gunicorn worker's first request
    loads Django's URLs and views, its first alert opens the broker connection pool."""
    for round_ in range(WARM_UP_ROUNDS):
        forms = [
            {
                "MessageSid": f"{WARM_UP}{round_}x{i}",
                "From": phones[-1 - i],
                "To": "+15005550006",
                "Body": body,
            }
            for i, body in enumerate((REPLIES[0], STOPS[0], CRISIS[0]))
        ]
        for form in forms:
            headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
            async with session.post(url, data=form, headers=headers) as response:
                await response.read()


def _wait_for_notices(crisis_count: int, records: Path) -> dict[str, float]:
    """Until every alert's on-call SMS is sent (bounded); returns MessageSid -> epoch seconds it
    reached Twilio, from the Twilio-speaking server's own record."""
    from drip.models import AlertNotice

    deadline = time.monotonic() + HANDOFF_WAIT_S
    sent = AlertNotice.objects.filter(status=AlertNotice.Status.SENT)
    while sent.count() < crisis_count and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a real worker
    lines = (records / "sms.jsonl").read_text().splitlines()
    arrived = {r["sid"]: r["arrived"] for r in map(json.loads, lines) if r["to"] == ONCALL_PHONE}
    return {
        inbound_sid: arrived[provider_id]
        for inbound_sid, provider_id in sent.values_list(
            "alert__inbound__message_sid", "provider_id"
        )
        if provider_id in arrived
    }


def _report(sent: list[Sent], handed: dict[str, float], seconds: float, web_cpu_s: float) -> None:
    from drip.models import Alert, AlertNotice, InboundMessage

    new = [s for s in sent if s.kind != "replay"]
    measured = InboundMessage.objects.exclude(message_sid__startswith=WARM_UP)
    stored = Counter(measured.values_list("message_sid", flat=True))
    crisis = {s.sid: s for s in new if s.kind == "crisis"}
    alerts = Counter(
        Alert.objects.filter(inbound__in=measured).values_list("inbound__message_sid", flat=True)
    )
    notices = AlertNotice.objects.filter(channel="sms", alert__inbound__in=measured).count()
    latencies = [s.latency_s * 1000 for s in sent]
    handoff = [handed[sid] - s.started_wall for sid, s in crisis.items() if sid in handed]
    kinds = Counter(s.kind for s in sent)
    print(
        f"  sent {len(sent)} webhooks in {seconds:.0f} s: "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    )
    print(f"  answers not 200: {sum(1 for s in sent if s.status != 200)}")
    last_s = max(s.answered_s for s in sent)
    print(
        f"  answered all in {last_s:.1f} s: {len(sent) / last_s:.0f}/s sustained; gunicorn CPU "
        f"{web_cpu_s * 1000 / len(sent):.1f} ms per webhook (load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores)"
    )
    print(
        f"  latency ms: p50 {percentile(latencies, 0.5):.0f}, p99 {percentile(latencies, 0.99):.0f}, "
        f"max {max(latencies):.0f} (goal p99 <= 100)"
    )
    print(
        f"  MessageSids stored: {len(stored)} of {len(new)} (lost {len({s.sid for s in new} - set(stored))}, "
        f"stored twice {sum(1 for n in stored.values() if n > 1)})"
    )
    print(
        f"  crisis alerts: {sum(alerts.values())} for {len(crisis)} crisis messages "
        f"(missing {len(set(crisis) - set(alerts))}, twice {sum(1 for n in alerts.values() if n > 1)}); "
        f"on-call SMS notices {notices}"
    )
    print(
        f"  webhook -> on-call SMS handed to Twilio: {len(handoff)} of {len(crisis)}, "
        f"p50 {percentile(handoff, 0.5):.2f} s, p99 {percentile(handoff, 0.99):.2f} s, "
        f"max {max(handoff, default=float('nan')):.2f} s (goal p99 <= 5 s)"
    )
