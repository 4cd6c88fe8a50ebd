"""SmtpEmail against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import replace
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drip.channels.base import OutgoingEmail
from drip.channels.email import FAST_FOLDING
from drip.errors import PermanentDeliveryError, TransientDeliveryError
from tests.support.fixtures import make_smtp_email, make_smtp_email_at
from tests.support.smtp_server import NO_SUCH_USER, TRY_LATER

MAIL = OutgoingEmail(
    delivery_id=7,
    to="alex@example.com",
    subject="Setbacks are normal",
    text="Hi Alex,\n\nUps and downs are normal.",
    html="<p>Hi Alex,</p><p>Ups and downs are normal.</p>",
    unsubscribe_url="https://drip.clinic.test/u/token123",
)


def test_an_email_arrives_as_text_and_html_with_a_message_id_from_the_delivery(
    smtp_server, smtp_email
):
    receipt = smtp_email.send(MAIL)
    (got,) = smtp_server.received
    assert got.message_id == receipt.provider_id == "<drip.delivery.7@clinic.test>"
    assert (
        got.message["To"] == "alex@example.com" and got.message["Subject"] == "Setbacks are normal"
    )
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
    smtp_server.refuse_recipients("*@example.com", NO_SUCH_USER)
    with pytest.raises(PermanentDeliveryError) as raised:
        smtp_email.send(MAIL)
    assert raised.value.code == "smtp-550"
    assert smtp_server.received == []


def test_a_550_after_the_data_fails_permanently_too(smtp_server, smtp_email):
    smtp_server.refuse_next(1, NO_SUCH_USER)
    with pytest.raises(PermanentDeliveryError) as raised:
        smtp_email.send(MAIL)
    assert raised.value.code == "smtp-550"


def test_an_smtp_reply_quoting_the_address_does_not_reach_the_error_detail(smtp_server, smtp_email):
    smtp_server.refuse_recipients(
        "alex@example.com", "550 5.1.1 <alex@example.com>: Recipient address rejected"
    )
    with pytest.raises(PermanentDeliveryError) as raised:
        smtp_email.send(MAIL)
    assert "alex@example.com" not in str(raised.value) and "[address]" in raised.value.detail
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_consecutive_emails_share_one_smtp_connection(smtp_server, smtp_email):
    for delivery_id in (1, 2, 3):
        smtp_email.send(replace(MAIL, delivery_id=delivery_id))
    assert len({got.peer for got in smtp_server.received}) == 1


def test_a_connection_the_server_dropped_is_reopened_without_an_error(smtp_server, smtp_email):
    smtp_email.send(replace(MAIL, delivery_id=1))
    smtp_server.stop()  # drops the kept-open connection, as an idle timeout would
    smtp_server.start(smtp_server.port)
    smtp_email.send(replace(MAIL, delivery_id=2))
    first, second = smtp_server.received
    assert second.message_id == "<drip.delivery.2@clinic.test>" and first.peer != second.peer


def test_after_close_the_next_email_opens_a_fresh_connection(smtp_server, smtp_email):
    smtp_email.send(replace(MAIL, delivery_id=1))
    smtp_email.close()
    smtp_email.send(replace(MAIL, delivery_id=2))
    smtp_email.send(replace(MAIL, delivery_id=3))
    peers = [got.peer for got in smtp_server.received]
    assert peers[0] != peers[1] == peers[2]


def test_sixteen_threads_sending_at_once_through_the_loop_all_arrive(smtp_server, smtp_email):
    threads = [
        threading.Thread(target=smtp_email.send, args=(replace(MAIL, delivery_id=i),))
        for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(smtp_server.message_ids()) == sorted(
        f"<drip.delivery.{i}@clinic.test>" for i in range(16)
    )


def test_a_server_that_is_down_is_transient(smtp_server):
    channel = make_smtp_email(smtp_server, timeout_s=1)
    smtp_server.stop()
    with pytest.raises(TransientDeliveryError) as raised:
        channel.send(MAIL)
    assert raised.value.code == "connection"
    smtp_server.start(smtp_server.port)


def test_a_server_that_never_answers_times_out_as_transient():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never greets
        channel = make_smtp_email_at(silent.getsockname()[1], timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(TransientDeliveryError) as raised:
            channel.send(MAIL)
        assert raised.value.code == "timeout"
        assert time.monotonic() - started < 0.5 + 1.0


def test_no_address_or_body_reaches_the_logs(smtp_server, smtp_email, caplog):
    caplog.set_level(logging.DEBUG)
    smtp_server.refuse_next(1, TRY_LATER)
    with pytest.raises(TransientDeliveryError):
        smtp_email.send(MAIL)
    smtp_email.send(MAIL)
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not the test server's
    text = "\n".join(r.getMessage() for r in ours)
    assert "alex@example.com" not in text and "Ups and downs" not in text


@settings(max_examples=500, deadline=None)
@given(
    name=st.sampled_from(["Subject", "To", "List-Unsubscribe", "X-A"]),
    value=st.text(
        alphabet=st.characters(max_codepoint=0x7F) | st.sampled_from("éü ·\t\n"), max_size=120
    ),
)
def test_fast_header_folding_writes_the_same_bytes_as_python(name, value):
    def fold(policy):
        try:
            return policy.fold_binary(name, value)
        except Exception as error:  # noqa: BLE001 - the same refusal counts as the same answer
            return type(error)

    for linesep in ("\n", "\r\n"):
        assert fold(FAST_FOLDING.clone(linesep=linesep)) == fold(compat32.clone(linesep=linesep))


def test_a_long_non_ascii_subject_still_arrives_intact(smtp_server, smtp_email):
    subject = "Después de la infusión 3: los altibajos son normales, " * 3
    smtp_email.send(replace(MAIL, subject=subject.strip()))
    (got,) = smtp_server.received
    assert (
        got.message["Subject"].strip() == subject.strip()
    )  # compat32 folds it onto the next line, as Django always has
    assert (
        got.raw.count(b"=_drip_") == 4
    )  # one random boundary: declared, opening, between parts, closing


def test_emails_carry_the_clinics_reply_to_when_one_is_set():
    from drip.channels.base import OutgoingEmail
    from drip.channels.email import build_email_message

    mail = OutgoingEmail(7, "alex@example.com", "Hi", "text", "<p>html</p>", "")
    with_reply = build_email_message(
        mail, from_email="care@clinic.test", domain="clinic.test", reply_to="team@clinic.test"
    ).message()
    assert with_reply["Reply-To"] == "team@clinic.test"
    assert (
        build_email_message(mail, from_email="care@clinic.test", domain="clinic.test").message()[
            "Reply-To"
        ]
        is None
    )
