"""Texts staff write to a patient from the inbox: written to an outbox row, then sent once.

``write_reply`` checks and stores the reply (refused when the patient opted out of texts, or
has no phone) and audits it; a reply written at night waits for the morning in the patient's
zone. ``send_reply`` claims the row pending -> sending by compare-and-set, checks the opt-out
again, and sends; a second try (a lost answer, a stopped worker) first looks in Twilio's message
list, so the patient never gets it twice. The dispatcher tick asks ``reply_ids_due`` every
tick, so a broker outage only delays a reply.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from drip.channels import io_loop
from drip.channels.base import OutgoingSms, Receipt, SmsChannel
from drip.core.backoff import compute_backoff
from drip.core.schedule import SendWindow
from drip.core.window import next_opening, zone_of
from drip.errors import (
    DeliveryError,
    DripError,
    RecipientOptedOutError,
    TransientDeliveryError,
)
from drip.models import Actor, AuditEvent, InboundMessage, Patient, StaffReply, actor_name

log = logging.getLogger("drip.inbound.replies")
R = StaffReply.Status
MAX_ATTEMPTS = 8
MAX_CHARS = 1600  # Twilio's limit for one message body
CLOCK_SLACK = timedelta(minutes=5)  # Twilio's clock against ours, when looking a reply up


class ReplyRefused(DripError):
    """A reply drip will not send, with the reason in words staff read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def write_reply(
    patient_id: int,
    body: str,
    *,
    inbound: InboundMessage | None,
    actor: Actor,
    form_key: str,
    now: datetime,
) -> StaffReply:
    """Store a reply to send at the next allowed hour; the same ``form_key`` twice is one row."""
    text = body.strip()
    try:
        with transaction.atomic():
            patient = Patient.objects.select_for_update().get(pk=patient_id)
            _check(patient, text)
            reply = StaffReply.objects.create(
                patient=patient,
                inbound=inbound,
                form_key=form_key,
                to_phone=patient.phone,
                body=text,
                written_by=actor_name(actor),
                created_at=now,
                due_at=_next_allowed(now, patient.time_zone),
            )
            _audit("sms_reply_written", reply, actor, now)
    except IntegrityError:
        stored = StaffReply.objects.filter(form_key=form_key).first()
        if stored is None:
            raise
        return stored  # the same form sent twice (a double click): already written
    log.info("reply.written reply_id=%s patient_id=%s", reply.pk, patient_id)
    return reply


def _check(patient: Patient, text: str) -> None:
    if patient.sms_opted_out_at is not None:
        raise ReplyRefused(
            f"{patient.first_name} {patient.last_name} opted out of texts: drip will not text "
            "them. Call them instead, or record an opt-in on their page if they ask for texts again."
        )
    if not patient.phone:
        raise ReplyRefused("This patient has no phone number on file: add one on their page.")
    if not text:
        raise ReplyRefused("Write the reply first: the box is empty.")
    if len(text) > MAX_CHARS:
        raise ReplyRefused(f"The reply is {len(text)} characters; a text can hold {MAX_CHARS}.")


def reply_window() -> SendWindow:
    """The hours (patient's zone) a staff reply may go out; outside them it waits."""
    start, end = settings.DRIP_STAFF_REPLY_HOURS
    return SendWindow(time(start), time(end) if end < 24 else time.max)  # 24: till midnight


def _next_allowed(now: datetime, zone: str) -> datetime:
    return next_opening(now, zone_of(zone), reply_window())


def _audit(event: str, reply: StaffReply, actor: Actor, now: datetime) -> None:
    detail = {"reply_id": reply.pk, "inbound_id": reply.inbound_id}
    AuditEvent.record(actor, event, at=now, patient_id=reply.patient_id, detail=detail)


# --- sending ---------------------------------------------------------------------------------


def reply_ids_due(now: datetime) -> list[int]:
    """Replies to send now; those left 'sending' past the lease (a stopped worker) first go back
    to pending, to be looked up in Twilio before any new send."""
    lease = timedelta(seconds=settings.DRIP_SENDING_LEASE_S)
    StaffReply.objects.filter(status=R.SENDING, claimed_at__lt=now - lease).update(
        status=R.PENDING, error_code="unsettled"
    )
    due = StaffReply.objects.filter(status=R.PENDING, due_at__lte=now).order_by("due_at")
    return list(due.values_list("pk", flat=True)[:500])


def send_reply(reply_id: int, *, now: datetime, sms: SmsChannel) -> bool:
    """Send one reply if this call wins its claim and the patient still takes texts."""
    if not StaffReply.objects.filter(pk=reply_id, status=R.PENDING, due_at__lte=now).update(
        status=R.SENDING, claimed_at=now, attempts=F("attempts") + 1
    ):
        return False
    reply = StaffReply.objects.select_related("patient").get(pk=reply_id)
    if reply.patient.sms_opted_out_at is not None:  # STOP arrived after it was written
        _finish(reply, R.REFUSED, now, code="opted_out")
        return False
    message = OutgoingSms(0, reply.to_phone, reply.body)
    try:
        receipt = _earlier_copy(reply, message, sms) or sms.send(message)
    except DeliveryError as error:
        _failed(reply, error, now)
        return False
    _finish(reply, R.SENT, now, provider_id=receipt.provider_id)
    return True


def _earlier_copy(reply: StaffReply, message: OutgoingSms, sms: SmsChannel) -> Receipt | None:
    """On any try after the first, the copy Twilio may already hold (its answer was lost)."""
    if reply.attempts <= 1:
        return None
    since = reply.created_at - CLOCK_SLACK
    return io_loop.run(sms.find_accepted(message, since=since))


def _failed(reply: StaffReply, error: DeliveryError, now: datetime) -> None:
    if isinstance(error, RecipientOptedOutError):
        _finish(reply, R.REFUSED, now, code=error.code, text=error.detail)
    elif isinstance(error, TransientDeliveryError) and reply.attempts < MAX_ATTEMPTS:
        wait = compute_backoff(reply.attempts, base_s=10, max_s=600, jitter=0.5)
        StaffReply.objects.filter(pk=reply.pk, status=R.SENDING).update(
            status=R.PENDING, due_at=now + wait, error_code=error.code[:30]
        )
        log.warning("reply.retry reply_id=%s code=%s", reply.pk, error.code)
    else:
        _finish(reply, R.FAILED, now, code=error.code, text=error.detail)


def _finish(
    reply: StaffReply,
    status: str,
    now: datetime,
    *,
    provider_id: str = "",
    code: str = "",
    text: str = "",
) -> None:
    """Record the outcome (only on the row this call claimed) and audit it."""
    with transaction.atomic():
        StaffReply.objects.filter(pk=reply.pk, status=R.SENDING).update(
            status=status,
            sent_at=now if status == R.SENT else None,
            provider_id=provider_id,
            error_code=code[:30],
            error_text=text[:300],
        )
        _audit(f"sms_reply_{status}", reply, "drip", now)
    log.info("reply.%s reply_id=%s code=%s", status, reply.pk, code or "none")
