"""Thin Celery tasks: take ids (and an optional virtual time), call one service, safe to run twice."""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from drip.celery import app


def _now(as_of: str | None) -> datetime:
    """The real clock, unless a virtual one is injected (demo, tests) as an ISO timestamp."""
    return datetime.fromisoformat(as_of) if as_of else timezone.now()


@app.task(name="drip.dispatch_due")
def dispatch_due(as_of: str | None = None) -> int:
    """Claim every due delivery and enqueue sends, DRIP_SEND_BATCH ids per task."""
    from drip.catalog.publish import stalled_moves
    from drip.delivery.dispatch import claim_due, recover_stale, settle_stranded_sms
    from drip.inbound.alerts import alert_ids_due
    from drip.inbound.replies import reply_ids_due

    now = _now(as_of)
    recover_stale(now, lease_s=settings.DRIP_QUEUED_LEASE_S)
    settle_stranded_sms(now, lease_s=settings.DRIP_SENDING_LEASE_S)
    for alert_id in alert_ids_due(now):  # alerts whose first enqueue failed (broker down)
        send_alert.delay(alert_id, as_of)
    for reply_id in reply_ids_due(now):  # staff replies held for the morning, or not enqueued
        send_staff_reply.delay(reply_id, as_of)
    for move_id in stalled_moves(now):  # a schedule move whose next batch never came
        move_to_version.delay(move_id, as_of)
    total = 0
    while ids := claim_due(now, limit=settings.DRIP_CLAIM_BATCH):
        for start in range(0, len(ids), settings.DRIP_SEND_BATCH):
            send_batch.delay(ids[start : start + settings.DRIP_SEND_BATCH], as_of)
        total += len(ids)
        if len(ids) < settings.DRIP_CLAIM_BATCH:
            break
    return total


@app.task(name="drip.send_batch")
def send_batch(ids: list[int], as_of: str | None = None) -> dict[str, int]:
    from drip.channels import build_channels
    from drip.delivery.sender import send_deliveries

    sms, email = build_channels()
    report = send_deliveries(
        ids, now=_now(as_of), sms=sms, email=email, concurrency=settings.DRIP_SEND_CONCURRENCY
    )
    return {"sent": report.sent, "retried": report.retried, "failed": report.failed}


@app.task(name="drip.send_alert")
def send_alert(alert_id: int, as_of: str | None = None) -> int:
    """Send one alert's due on-call notices (each claimed by compare-and-set: safe twice)."""
    from drip.channels import build_channels
    from drip.inbound.alerts import send_notices

    sms, email = build_channels()
    return send_notices(alert_id, now=_now(as_of), sms=sms, email=email)


@app.task(name="drip.send_staff_reply")
def send_staff_reply(reply_id: int, as_of: str | None = None) -> bool:
    """Send one staff reply from the inbox (claimed by compare-and-set: safe twice)."""
    from drip.channels import build_channels
    from drip.inbound.replies import send_reply

    sms, _ = build_channels()
    return send_reply(reply_id, now=_now(as_of), sms=sms)


@app.task(name="drip.move_to_version")
def move_to_version(move_id: int, as_of: str | None = None) -> bool:
    """Move one batch of series to a newly published version, then queue the next batch after a
    rest as long as this one took (send tasks run meanwhile); safe to run twice."""
    from drip.catalog.publish import REST, move_batch

    started = time.monotonic()
    done = move_batch(move_id, now=_now(as_of))
    if not done:
        rest = REST * (time.monotonic() - started)
        move_to_version.apply_async((move_id, as_of), countdown=rest)
    return done
