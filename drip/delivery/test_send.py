"""Test sends: one message of a schedule, rendered for a sample patient, sent to a staff
member's own email or phone through the live channels. Never a Delivery row (so never counted
as a patient's message), marked as a test in the subject or text."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings

from drip.channels.base import EmailChannel, OutgoingEmail, OutgoingSms, Receipt, SmsChannel
from drip.core.rendering import MessageTemplate, build_context, render_email, render_sms

SUBJECT_MARK = "[Test] "
SMS_MARK = "Test: "
SAMPLE_UNSUBSCRIBE_URL = "https://clinic.example/u/sample"  # a test send unsubscribes nobody


def sample_context(first_name: str, clinic: Mapping[str, str]) -> dict[str, object]:
    """The template variables for the sample patient (infusion 2 of 6, Wed Dec 9, 10:30 AM)."""
    return build_context(
        first_name=first_name,
        clinic=clinic,
        series_size=6,
        infusion_number=2,
        infusion_local_start=datetime(2026, 12, 9, 10, 30),
        unsubscribe_url=SAMPLE_UNSUBSCRIBE_URL,
    )


def marked_sms(template: MessageTemplate, to: str, context: Mapping[str, object]) -> OutgoingSms:
    """The text, prefixed "Test: " (delivery id 0: no status callback, no Delivery row)."""
    return OutgoingSms(0, to, SMS_MARK + render_sms(template, dict(context)).text)


def marked_email(
    template: MessageTemplate, to: str, context: Mapping[str, object]
) -> OutgoingEmail:
    """The email, its subject prefixed "[Test] ", without a List-Unsubscribe header."""
    mail = render_email(template, dict(context))
    domain = urlsplit(settings.DRIP_PUBLIC_BASE_URL).hostname or "drip.local"
    message_id = f"<drip.test-send.{uuid.uuid4().hex}@{domain}>"
    subject = SUBJECT_MARK + mail.subject
    return OutgoingEmail(0, to, subject, mail.text, mail.html, "", message_id=message_id)


def send_test(
    template: MessageTemplate,
    channel: str,
    to: str,
    context: Mapping[str, object],
    *,
    sms: SmsChannel,
    email: EmailChannel,
) -> Receipt:
    """Send one test message now; the channel's DeliveryError escapes for the caller to show."""
    if channel == "sms":
        return sms.send(marked_sms(template, to, context))
    return email.send(marked_email(template, to, context))
