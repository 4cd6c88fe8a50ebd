"""SmtpEmail against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import logging

import pytest

from drip.channels.base import OutgoingEmail
from drip.errors import PermanentDeliveryError, TransientDeliveryError
from tests.support.fixtures import make_smtp_email
from tests.support.smtp_server import NO_SUCH_USER, TRY_LATER

MAIL = OutgoingEmail(
    delivery_id=7, to="alex@example.com", subject="Setbacks are normal",
    text="Hi Alex,\n\nUps and downs are normal.", html="<p>Hi Alex,</p><p>Ups and downs are normal.</p>",
    unsubscribe_url="https://drip.clinic.test/u/token123",
)


def test_an_email_arrives_as_text_and_html_with_a_message_id_from_the_delivery(smtp_server, smtp_email):
    receipt = smtp_email.send(MAIL)
    (got,) = smtp_server.received
    assert got.message_id == receipt.provider_id == "<drip.delivery.7@clinic.test>"
    assert got.message["To"] == "alex@example.com" and got.message["Subject"] == "Setbacks are normal"
    assert got.message.get_body(("plain",)).get_content().startswith("Hi Alex,")
    assert "<p>Ups and downs are normal.</p>" in got.message.get_body(("html",)).get_content()


def test_an_email_carries_one_click_unsubscribe_headers(smtp_server, smtp_email):
    smtp_email.send(MAIL)
    (got,) = smtp_server.received
    assert got.message["List-Unsubscribe"] == "<https://drip.clinic.test/u/token123>"
    assert got.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_smtp_451_is_transient_and_the_next_try_succeeds(smtp_server, smtp_email):
    smtp_server.refuse_next(1, TRY_LATER)
    with pytest.raises(TransientDeliveryError) as raised:
        smtp_email.send(MAIL)
    assert raised.value.code == "smtp-451"
    smtp_email.send(MAIL)
    assert len(smtp_server.received) == 1


def test_smtp_550_fails_permanently(smtp_server, smtp_email):
    smtp_server.refusals["alex@example.com"] = NO_SUCH_USER
    with pytest.raises(PermanentDeliveryError) as raised:
        smtp_email.send(MAIL)
    assert raised.value.code == "smtp-550"
    assert smtp_server.received == []


def test_a_server_that_is_down_is_transient(smtp_server):
    channel = make_smtp_email(smtp_server, timeout_s=1)
    smtp_server.stop()
    with pytest.raises(TransientDeliveryError) as raised:
        channel.send(MAIL)
    assert raised.value.code in ("connection", "timeout")
    smtp_server.start(smtp_server.port)


def test_no_address_or_body_reaches_the_logs(smtp_server, smtp_email, caplog):
    caplog.set_level(logging.DEBUG)
    smtp_server.refuse_next(1, TRY_LATER)
    with pytest.raises(TransientDeliveryError):
        smtp_email.send(MAIL)
    smtp_email.send(MAIL)
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not the test server's
    text = "\n".join(r.getMessage() for r in ours)
    assert "alex@example.com" not in text and "Ups and downs" not in text
