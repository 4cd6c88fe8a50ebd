"""TwilioSms against a local server that speaks Twilio's Messages API."""

from __future__ import annotations

import logging
import threading

import pytest

from drip.channels.base import OutgoingSms
from drip.errors import PermanentDeliveryError, RecipientOptedOutError, TransientDeliveryError
from tests.support.fixtures import make_twilio_sms

SMS = OutgoingSms(delivery_id=42, to="+12125550123", body="Hi Alex, see you Tuesday.")


def test_an_accepted_sms_returns_the_sid_the_provider_issued(twilio_server, twilio_sms):
    receipt = twilio_sms.send(SMS)
    (got,) = twilio_server.received
    assert receipt.provider_id == got.sid and got.sid.startswith("SM")
    assert got.form["To"] == SMS.to and got.form["Body"] == SMS.body
    assert got.form["From"] == "+15005550006"
    assert got.delivery_id == 42


def test_a_messaging_service_sid_is_sent_instead_of_from(twilio_server):
    make_twilio_sms(twilio_server, messaging_service_sid="MG" + "1" * 32).send(SMS)
    (got,) = twilio_server.received
    assert got.form["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in got.form


@pytest.mark.parametrize("status, code", [(500, 20500), (503, 20503), (429, 20429)])
def test_server_errors_and_rate_limits_are_transient(twilio_server, twilio_sms, status, code):
    twilio_server.fail_next(1, status, code)
    with pytest.raises(TransientDeliveryError) as raised:
        twilio_sms.send(SMS)
    assert raised.value.code == str(code)
    assert twilio_server.received == []


@pytest.mark.parametrize("code", [21211, 21614, 21606, 21408])
def test_bad_numbers_fail_permanently_with_the_twilio_code(twilio_server, twilio_sms, code):
    twilio_server.fail_next(1, 400, code)
    with pytest.raises(PermanentDeliveryError) as raised:
        twilio_sms.send(SMS)
    assert raised.value.code == str(code)
    assert not isinstance(raised.value, RecipientOptedOutError)


def test_21610_means_the_recipient_opted_out(twilio_server, twilio_sms):
    twilio_server.fail_next(1, 400, 21610)
    with pytest.raises(RecipientOptedOutError) as raised:
        twilio_sms.send(SMS)
    assert raised.value.code == "21610"


def test_a_stall_past_the_client_timeout_is_transient(twilio_server):
    twilio_server.fail_next(1, 201, None, delay_s=2.0)
    with pytest.raises(TransientDeliveryError) as raised:
        make_twilio_sms(twilio_server, timeout_s=0.3).send(SMS)
    assert raised.value.code == "timeout"


def test_a_refused_connection_is_transient(twilio_server):
    channel = make_twilio_sms(twilio_server)
    twilio_server.stop()
    with pytest.raises(TransientDeliveryError) as raised:
        channel.send(SMS)
    assert raised.value.code == "connection"
    twilio_server.start()  # the fixture stops it again


def test_sixteen_threads_sending_at_once_all_arrive(twilio_server, twilio_sms):
    threads = [threading.Thread(target=twilio_sms.send, args=(OutgoingSms(i, SMS.to, SMS.body),)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(twilio_server.delivery_ids()) == list(range(16))


def test_no_phone_number_or_body_reaches_the_logs(twilio_server, twilio_sms, caplog):
    caplog.set_level(logging.DEBUG)
    twilio_server.fail_next(1, 400, 21211)
    with pytest.raises(PermanentDeliveryError):
        twilio_sms.send(SMS)
    twilio_sms.send(SMS)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SMS.to not in text and "2125550123" not in text and SMS.body not in text
