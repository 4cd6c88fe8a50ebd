"""Urgent alerts to the clinic's on-call contacts: an outbox of notice rows (DESIGN §4's rule).

``raise_alert`` writes an Alert and one AlertNotice per on-call address in the inbound
message's own transaction, so an alert exists exactly when its message does, whatever happens
to the broker. ``send_notices`` claims each notice pending -> sending by compare-and-set (two
workers never both send one) and records the answer. A notice a killed worker left 'sending'
goes back to pending after DRIP_ALERT_LEASE_S: for staff alerts a rare second copy is better
than none. The dispatcher tick asks ``alert_ids_due`` every tick, so a broker outage only
delays a notice.

Notices carry no patient words and no phone number, only ids: SMS shows on a lock screen, and
email leaves the clinic's systems; the words are one click away in drip.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F
from django.utils.html import escape

from drip.channels.base import EmailChannel, OutgoingEmail, OutgoingSms, SmsChannel
from drip.core.backoff import compute_backoff
from drip.errors import DeliveryError, TransientDeliveryError
from drip.models import Alert, AlertNotice, InboundMessage

log = logging.getLogger("drip.inbound.alerts")
N = AlertNotice.Status
MAX_ATTEMPTS = 10


def raise_alert(inbound: InboundMessage, *, now: datetime) -> Alert:
    """An urgent alert for ``inbound`` and a pending notice per on-call contact (caller's
    transaction). With no contact configured the alert still shows on the staff pages."""
    alert = Alert.objects.create(inbound=inbound, patient=inbound.patient, created_at=now)
    contacts = [("email", a) for a in settings.DRIP_ONCALL_EMAILS]
    contacts += [("sms", p) for p in settings.DRIP_ONCALL_PHONES]
    AlertNotice.objects.bulk_create(
        AlertNotice(alert=alert, channel=c, address=a, due_at=now) for c, a in contacts
    )
    if not contacts:
        log.error("alert.no_oncall_contacts alert_id=%s", alert.pk)
    return alert


def alert_ids_due(now: datetime) -> list[int]:
    """Alerts with a notice to send now; notices stranded in 'sending' past the lease first go
    back to pending."""
    lease = timedelta(seconds=settings.DRIP_ALERT_LEASE_S)
    AlertNotice.objects.filter(status=N.SENDING, claimed_at__lt=now - lease).update(
        status=N.PENDING, claimed_at=None
    )
    due = AlertNotice.objects.filter(status=N.PENDING, due_at__lte=now)
    return sorted(set(due.values_list("alert_id", flat=True)))


def send_notices(alert_id: int, *, now: datetime, sms: SmsChannel, email: EmailChannel) -> int:
    """Send every due notice of one alert that this call wins; returns how many went out."""
    sent = 0
    alert = Alert.objects.select_related("inbound").get(pk=alert_id)
    for notice in AlertNotice.objects.filter(alert_id=alert_id, status=N.PENDING, due_at__lte=now):
        if _claim(notice, now):
            sent += _send(notice, alert, now, sms, email)
    return sent


def _claim(notice: AlertNotice, now: datetime) -> bool:
    return bool(
        AlertNotice.objects.filter(pk=notice.pk, status=N.PENDING).update(
            status=N.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def _send(
    notice: AlertNotice, alert: Alert, now: datetime, sms: SmsChannel, email: EmailChannel
) -> int:
    try:
        if notice.channel == "sms":
            receipt = sms.send(OutgoingSms(0, notice.address, sms_text(alert)))
        else:
            receipt = email.send(_email(notice, alert))
    except DeliveryError as error:
        _failed(notice, error, now)
        return 0
    AlertNotice.objects.filter(pk=notice.pk, status=N.SENDING).update(
        status=N.SENT, sent_at=now, provider_id=receipt.provider_id, error_code=""
    )
    log.info("alert.notice_sent alert_id=%s notice_id=%s", alert.pk, notice.pk)
    return 1


def _failed(notice: AlertNotice, error: DeliveryError, now: datetime) -> None:
    attempts = notice.attempts + 1
    retry = isinstance(error, TransientDeliveryError) and attempts < MAX_ATTEMPTS
    # Retries come sooner than a delivery's: a person should hear about this within minutes.
    wait = compute_backoff(attempts, base_s=5, max_s=300, jitter=0.5)
    AlertNotice.objects.filter(pk=notice.pk, status=N.SENDING).update(
        status=N.PENDING if retry else N.FAILED,
        due_at=now + wait,
        claimed_at=None,
        error_code=error.code[:30],
    )
    log.warning(
        "alert.notice_failed alert_id=%s notice_id=%s code=%s retry=%s",
        notice.alert_id,
        notice.pk,
        error.code,
        retry,
    )


def _who(alert: Alert) -> str:
    return f"patient #{alert.patient_id}" if alert.patient_id else "an unknown number"


def _link(alert: Alert) -> str:
    return f"{settings.DRIP_PUBLIC_BASE_URL}/staff/alerts/{alert.pk}"


def sms_text(alert: Alert) -> str:
    """The on-call SMS: who and where to look; never the patient's words."""
    return f"drip URGENT: crisis reply from {_who(alert)} (alert #{alert.pk}). See drip now: {_link(alert)}"


def _email(notice: AlertNotice, alert: Alert) -> OutgoingEmail:
    subject = f"URGENT: crisis reply from {_who(alert)} (alert #{alert.pk})"
    text = (
        f"{_who(alert).capitalize()} sent a message with crisis wording at "
        f"{alert.created_at:%Y-%m-%d %H:%M} UTC (inbound #{alert.inbound_id}).\n\n"
        "drip answered at once with 988 (call or text, 24/7), 911 and the clinic's phone.\n"
        f"Please read the message and reach out: {_link(alert)}\n\n"
        "The message itself is not in this email: it stays in drip.\n"
    )
    domain = urlsplit(settings.DRIP_PUBLIC_BASE_URL).hostname or "drip.local"
    return OutgoingEmail(
        0,
        notice.address,
        subject,
        text,
        f"<pre>{escape(text)}</pre>",
        unsubscribe_url="",
        message_id=f"<drip.alert-notice.{notice.pk}@{domain}>",
    )
