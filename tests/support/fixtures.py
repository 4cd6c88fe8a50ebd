"""Fixtures shared across test modules: real protocol servers on loopback, channels, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from drip.channels.email import SmtpEmail
from drip.channels.sms import TwilioSms
from tests.support.smtp_server import SmtpServer
from tests.support.twilio_server import FakeTwilio

PUBLIC_BASE = "https://drip.clinic.test"


@pytest.fixture
def twilio_server() -> Iterator[FakeTwilio]:
    """A Twilio-speaking server on loopback for this test (``.base_url``, ``.received``, faults)."""
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on loopback for this test (``.port``, ``.received``, refusals)."""
    server = SmtpServer().start()
    yield server
    server.stop()


def make_twilio_sms(
    server: FakeTwilio,
    *,
    timeout_s: float = 5.0,
    messaging_service_sid: str = "",
    public_base_url: str = PUBLIC_BASE,
) -> TwilioSms:
    """A TwilioSms for ``server``; status callbacks go to ``public_base_url``/webhooks/twilio/status."""
    return TwilioSms(
        server.account_sid,
        server.auth_token,
        from_number="+15005550006",
        messaging_service_sid=messaging_service_sid,
        status_callback_url=f"{public_base_url}/webhooks/twilio/status?delivery={{delivery_id}}",
        timeout_s=timeout_s,
        api_base_url=server.base_url,
    )


def make_smtp_email(server: SmtpServer, *, timeout_s: float = 5.0) -> SmtpEmail:
    """An SmtpEmail for ``server``: From care@clinic.test, Message-IDs @clinic.test."""
    return make_smtp_email_at(server.port, timeout_s=timeout_s)


def make_smtp_email_at(port: int, *, timeout_s: float = 5.0) -> SmtpEmail:
    return SmtpEmail(
        host="127.0.0.1",
        port=port,
        timeout_s=timeout_s,
        from_email="care@clinic.test",
        message_id_domain="clinic.test",
    )


@pytest.fixture
def twilio_sms(twilio_server: FakeTwilio) -> Iterator[TwilioSms]:
    """A TwilioSms pointed at ``twilio_server`` (From +15005550006, 5 s timeout)."""
    channel = make_twilio_sms(twilio_server)
    yield channel
    channel.close()


@pytest.fixture
def smtp_email(smtp_server: SmtpServer) -> Iterator[SmtpEmail]:
    """An SmtpEmail pointed at ``smtp_server`` (From care@clinic.test, Message-IDs @clinic.test)."""
    channel = make_smtp_email(smtp_server)
    yield channel
    channel.close()


@pytest.fixture
def now() -> datetime:
    """A fixed instant (a Tuesday, 16:00 UTC = 11:00 in New York): tests never read the clock."""
    return datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
