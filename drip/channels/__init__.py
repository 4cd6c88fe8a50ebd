"""Channels: one small interface (``deliver``/``send(message) -> Receipt``) per medium; see base.py."""

from __future__ import annotations

from functools import cache
from typing import TypeVar, cast
from urllib.parse import urlsplit

from drip.channels.base import EmailChannel, SmsChannel

AnyChannel = TypeVar("AnyChannel", SmsChannel, EmailChannel)


@cache
def build_channels() -> tuple[SmsChannel, EmailChannel]:
    """The configured channels (per process): the file outbox, or Twilio + SMTP when live."""
    from django.conf import settings

    domain = urlsplit(settings.DRIP_PUBLIC_BASE_URL).hostname or "drip.local"
    if settings.DRIP_CHANNELS == "outbox":
        from drip.channels.outbox import OutboxEmail, OutboxSms

        return OutboxSms(settings.DRIP_OUTBOX_DIR), OutboxEmail(
            settings.DRIP_OUTBOX_DIR,
            from_email=settings.DEFAULT_FROM_EMAIL,
            message_id_domain=domain,
            reply_to=settings.DRIP_REPLY_TO,
        )
    from drip.channels.email import SmtpEmail
    from drip.channels.sms import TwilioSms

    base = settings.DRIP_PUBLIC_BASE_URL
    sms = TwilioSms(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        from_number=settings.TWILIO_FROM_NUMBER,
        messaging_service_sid=settings.TWILIO_MESSAGING_SERVICE_SID,
        status_callback_url=lambda delivery_id: (
            f"{base}/webhooks/twilio/status?delivery={delivery_id}"
        ),
        timeout_s=settings.TWILIO_TIMEOUT_S,
        api_base_url=settings.TWILIO_API_BASE_URL,
    )
    email = SmtpEmail(
        host=settings.EMAIL_HOST,
        port=settings.EMAIL_PORT,
        username=settings.EMAIL_HOST_USER,
        password=settings.EMAIL_HOST_PASSWORD,
        tls=settings.DRIP_SMTP_TLS,
        timeout_s=settings.EMAIL_TIMEOUT,
        from_email=settings.DEFAULT_FROM_EMAIL,
        message_id_domain=domain,
        reply_to=settings.DRIP_REPLY_TO,
    )
    sender_id = settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER
    return (
        _limited(sms, f"drip:rate:sms:{sender_id}", settings.DRIP_SMS_PER_S),
        _limited(email, f"drip:rate:email:{settings.EMAIL_HOST}", settings.DRIP_EMAIL_PER_S),
    )


def _limited(channel: AnyChannel, key: str, per_second: float) -> AnyChannel:
    """Share the provider's limit across every worker process (Redis), when one is set."""
    from django.conf import settings

    if per_second <= 0:
        return channel
    from drip.channels.ratelimit import RateLimited, RedisRateLimiter

    limiter = RedisRateLimiter(settings.DRIP_RATE_LIMIT_REDIS_URL, key, per_second)
    return cast(AnyChannel, RateLimited(channel, limiter))  # same send(), a slot taken first


def reset_channels() -> None:
    """Close and forget the cached channels (tests that change settings)."""
    if build_channels.cache_info().currsize:
        for channel in build_channels():  # the cached pair, not a new one
            _close(channel)
    build_channels.cache_clear()


def _close(channel: object) -> None:
    inner = getattr(channel, "_channel", None)  # a RateLimited wrapper: close what it wraps
    close = getattr(inner or channel, "close", None)
    if close is not None:
        close()
