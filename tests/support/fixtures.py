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
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def make_twilio_sms(server: FakeTwilio, *, timeout_s: float = 5.0, messaging_service_sid: str = "") -> TwilioSms:
    return TwilioSms(
        server.account_sid, server.auth_token, from_number="+15005550006",
        messaging_service_sid=messaging_service_sid,
        status_callback_url=lambda d: f"{PUBLIC_BASE}/webhooks/twilio/status?delivery={d}",
        timeout_s=timeout_s, api_base_url=server.base_url,
    )


def make_smtp_email(server: SmtpServer, *, timeout_s: float = 5.0) -> SmtpEmail:
    return SmtpEmail(host="127.0.0.1", port=server.port, timeout_s=timeout_s,
                     from_email="care@clinic.test", message_id_domain="clinic.test")


@pytest.fixture
def twilio_sms(twilio_server: FakeTwilio) -> TwilioSms:
    return make_twilio_sms(twilio_server)


@pytest.fixture
def smtp_email(smtp_server: SmtpServer) -> SmtpEmail:
    return make_smtp_email(smtp_server)


@pytest.fixture
def now() -> datetime:
    """A fixed instant (a Tuesday, 16:00 UTC = 11:00 in New York): tests never read the clock."""
    return datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
