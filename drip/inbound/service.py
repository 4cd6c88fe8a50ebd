"""What an inbound SMS does: store it, act on its keyword, decide the reply, raise an alert.

``receive_sms`` runs in one transaction and returns the reply for the webhook's own TwiML
response, so a patient in crisis is answered at once even while the broker is down. The
message's ``MessageSid`` is unique: a replayed webhook finds its row and gets no second reply
or alert (two concurrent copies: the second insert waits for the first and fails on the key).

Order of precedence: crisis (its reply, an alert), then STOP / START / HELP, then anything
else (the inbox, with an auto-reply at most once a day per sender).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from drip.catalog import clinic
from drip.core.keywords import Classification, Keyword, classify
from drip.enrollment.service import record_opt_in, record_opt_out
from drip.inbound.alerts import raise_alert
from drip.models import InboundMessage, Patient

log = logging.getLogger("drip.inbound.service")
Kind, Status = InboundMessage.Kind, InboundMessage.Status
AUTO_REPLY_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class Received:
    """What the webhook needs: the reply to give (or ""), the alert to send now (or None)."""

    inbound: InboundMessage
    reply: str
    alert_id: int | None
    replayed: bool = False


def receive_sms(*, message_sid: str, from_phone: str, body: str, now: datetime) -> Received:
    """Store one inbound SMS and act on it; a replay of a stored ``message_sid`` does nothing."""
    found = classify(body)
    try:
        with transaction.atomic():
            inbound = InboundMessage.objects.create(
                message_sid=message_sid,
                patient=_patient_by_phone(from_phone),
                from_phone=from_phone,
                body=body,
                kind=found.kind,
                received_at=now,
            )
            received = _act(inbound, found, now)
    except IntegrityError:
        stored = InboundMessage.objects.filter(message_sid=message_sid).first()
        if stored is None:  # not the unique key: a real error
            raise
        log.info("inbound.replayed inbound_id=%s", stored.pk)
        return Received(stored, "", None, replayed=True)
    log.info(
        "inbound.received inbound_id=%s patient_id=%s kind=%s reply=%s alert_id=%s",
        inbound.pk,
        inbound.patient_id,
        inbound.kind,
        inbound.reply_reason or "none",
        received.alert_id,
    )
    return received


def _patient_by_phone(phone: str) -> Patient | None:
    """The patient with this number (one person is one patient; the oldest if ever two)."""
    if not phone:
        return None
    return Patient.objects.filter(phone=phone).order_by("pk").select_for_update().first()


def _act(inbound: InboundMessage, found: Classification, now: datetime) -> Received:
    alert_id = raise_alert(inbound, now=now).pk if found.crisis else None
    if found.keyword is Keyword.STOP:
        reply, reason = _opt_out(inbound, now)
    elif found.keyword is Keyword.START:
        reply, reason = _opt_in(inbound, now)
    elif found.keyword is Keyword.HELP:
        reply, reason = _keyword_answer(help_text()), "help"
    else:
        reply, reason = _auto_reply(inbound, now)
    if found.crisis:  # the crisis answer replaces any other: one reply, the one that matters
        reply = crisis_text(opted_out=found.keyword is Keyword.STOP)
        reason = "crisis"
    if found.keyword is not Keyword.OTHER and not found.crisis:
        inbound.status, inbound.handled_by, inbound.handled_at = Status.HANDLED, "drip", now
    inbound.reply_body, inbound.reply_reason = reply, reason if reply else ""
    inbound.save(update_fields=["reply_body", "reply_reason", "status", "handled_by", "handled_at"])
    return Received(inbound, reply, alert_id)


def _opt_out(inbound: InboundMessage, now: datetime) -> tuple[str, str]:
    """Opt the patient out of SMS (every pending SMS skipped in this transaction); confirm once."""
    patient = inbound.patient
    if patient is not None:
        already = patient.sms_opted_out_at is not None
        record_opt_out(patient, "sms", now=now, method="sms_keyword", actor="patient")
        if already:
            return "", ""
    return _keyword_answer(opt_out_text()), "opt_out"


def _opt_in(inbound: InboundMessage, now: datetime) -> tuple[str, str]:
    """Lift the patient's STOP: future SMS of an active series are re-planned, none replayed."""
    patient = inbound.patient
    if patient is None or patient.sms_opted_out_at is None:
        return "", ""
    record_opt_in(patient, "sms", now=now, method="sms_keyword", actor="patient")
    return _keyword_answer(opt_in_text()), "opt_in"


def _keyword_answer(text: str) -> str:
    """Twilio's Advanced Opt-Out answers STOP/START/HELP itself: then drip stays silent."""
    return "" if settings.DRIP_TWILIO_ANSWERS_KEYWORDS else text


def _auto_reply(inbound: InboundMessage, now: datetime) -> tuple[str, str]:
    """At most one auto-reply a day per sender, and none to a patient who said STOP."""
    patient = inbound.patient
    if patient is not None and patient.sms_opted_out_at is not None:
        return "", ""
    recent = InboundMessage.objects.filter(
        from_phone=inbound.from_phone,
        reply_reason="auto_reply",
        received_at__gt=now - AUTO_REPLY_EVERY,
    ).exclude(pk=inbound.pk)
    if recent.exists():
        return "", ""
    return settings.DRIP_AUTO_REPLY.format(**_clinic()), "auto_reply"


def _clinic() -> dict[str, str]:
    """The clinic as a text names it: the SMS name, which keeps the drug off a lock screen."""
    facts = clinic.current()
    return {
        "clinic_name": facts.get("clinic_sms_name") or facts["clinic_name"],
        "clinic_phone": facts["clinic_phone"],
    }


def crisis_text(*, opted_out: bool = False) -> str:
    """The answer to crisis wording: 988 (call or text, 24/7), 911, the clinic's phone."""
    c = _clinic()
    stopped = " You will get no more reminder texts." if opted_out else ""
    return (
        f"{c['clinic_name']}: we hear you, and you are not alone. Call or text 988 (Suicide & "
        f"Crisis Lifeline, 24/7). In an emergency call 911. Your care team: {c['clinic_phone']}. "
        f"We have let the team know; this number is not watched around the clock.{stopped}"
    )


def help_text() -> str:
    """The HELP answer: who we are, how to reach a person, how often, rates, how to stop."""
    c = _clinic()
    return (
        f"{c['clinic_name']} infusion reminders. Call {c['clinic_phone']} for help. "
        f"{settings.DRIP_SMS_FREQUENCY}. Msg & data rates may apply. Reply STOP to stop. "
        "In crisis: call or text 988."
    )


def opt_out_text() -> str:
    c = _clinic()
    return (
        f"{c['clinic_name']}: you are unsubscribed and will get no more texts from us. "
        f"Reply START to resume. Questions: {c['clinic_phone']}."
    )


def opt_in_text() -> str:
    c = _clinic()
    return (
        f"{c['clinic_name']}: you are subscribed again to your infusion reminders. "
        f"{settings.DRIP_SMS_FREQUENCY}. Msg & data rates may apply. Reply HELP for help, STOP to stop."
    )
