"""TwilioSms against a local server that speaks Twilio's Messages API."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twilio.request_validator import RequestValidator

from drip.channels.base import OutgoingSms
from drip.channels.sms import TwilioSms
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


def test_a_status_callback_pattern_string_names_the_delivery(twilio_server):
    channel = TwilioSms(
        twilio_server.account_sid,
        twilio_server.auth_token,
        from_number="+15005550006",
        status_callback_url="https://drip.clinic.test/webhooks/twilio/status?delivery={delivery_id}",
        api_base_url=twilio_server.base_url,
    )
    channel.send(SMS)
    (got,) = twilio_server.received
    assert (
        got.form["StatusCallback"] == "https://drip.clinic.test/webhooks/twilio/status?delivery=42"
    )
    channel.close()


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


@pytest.mark.parametrize("status, code", [(401, 20003), (400, 21602), (404, 20404)])
def test_any_other_client_error_is_permanent(twilio_server, twilio_sms, status, code):
    twilio_server.fail_next(1, status, code)
    with pytest.raises(PermanentDeliveryError) as raised:
        twilio_sms.send(SMS)
    assert raised.value.code == str(code)


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (429, 20429, TransientDeliveryError),
        (503, 20503, TransientDeliveryError),
        (400, 21211, PermanentDeliveryError),
        (400, 21610, RecipientOptedOutError),
    ],
)
def test_rfc9457_problem_details_are_classified_like_legacy_errors(
    twilio_server, twilio_sms, status, code, kind
):
    twilio_server.error_format = "rfc9457"
    twilio_server.fail_next(1, status, code)
    with pytest.raises(kind) as raised:
        twilio_sms.send(SMS)
    assert raised.value.code == str(code)


@pytest.mark.parametrize("error_format", ["legacy", "rfc9457"])
def test_the_error_detail_never_carries_the_phone_number(twilio_server, twilio_sms, error_format):
    twilio_server.error_format = error_format
    twilio_server.fail_next(1, 400, 21211)  # Twilio's message quotes the number
    with pytest.raises(PermanentDeliveryError) as raised:
        twilio_sms.send(SMS)
    assert "[number]" in raised.value.detail
    assert "2125550123" not in str(raised.value)


def test_a_stall_past_the_client_timeout_is_transient(twilio_server):
    twilio_server.fail_next(1, 201, None, delay_s=3.0)
    channel = make_twilio_sms(twilio_server, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError) as raised:
        channel.send(SMS)
    assert raised.value.code == "timeout"
    assert time.monotonic() - started < 0.5 + 1.0
    channel.close()


def test_a_refused_connection_is_transient(twilio_server):
    channel = make_twilio_sms(twilio_server)
    twilio_server.stop()
    with pytest.raises(TransientDeliveryError) as raised:
        channel.send(SMS)
    assert raised.value.code == "connection"
    twilio_server.start()  # the fixture stops it again


def test_find_accepted_finds_only_this_text_to_this_number_since_the_given_time(
    twilio_server, twilio_sms
):
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from drip.channels import io_loop

    created = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    twilio_server.clock = created.timestamp  # Twilio's date_created for what it accepts
    sent = twilio_sms.send(SMS)
    twilio_sms.send(OutgoingSms(43, "+12125550199", SMS.body))  # the same text to someone else
    before = created - timedelta(minutes=1)
    assert io_loop.run(twilio_sms.find_accepted(SMS, since=before)) == sent
    assert (
        io_loop.run(twilio_sms.find_accepted(replace(SMS, body="Another text."), since=before))
        is None
    )
    assert (
        io_loop.run(twilio_sms.find_accepted(replace(SMS, to="+12125550100"), since=before)) is None
    )
    later = created + timedelta(minutes=1)  # only messages created since then count: none
    assert io_loop.run(twilio_sms.find_accepted(SMS, since=later)) is None


def test_consecutive_messages_share_one_keep_alive_connection(twilio_server, twilio_sms):
    for i in range(3):
        twilio_sms.send(OutgoingSms(i, SMS.to, SMS.body))
    assert len({got.peer for got in twilio_server.received}) == 1


def test_sixteen_threads_sending_at_once_through_the_loop_all_arrive(twilio_server, twilio_sms):
    threads = [
        threading.Thread(target=twilio_sms.send, args=(OutgoingSms(i, SMS.to, SMS.body),))
        for i in range(1, 17)  # 0 is no delivery (staff alerts): no callback
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(twilio_server.delivery_ids()) == list(range(1, 17))


def test_no_phone_number_or_body_reaches_the_logs(twilio_server, twilio_sms, caplog):
    caplog.set_level(logging.DEBUG)
    twilio_server.fail_next(1, 400, 21211)
    with pytest.raises(PermanentDeliveryError):
        twilio_sms.send(SMS)
    twilio_sms.send(SMS)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert SMS.to not in text and "2125550123" not in text and SMS.body not in text


class _CallbackSink(BaseHTTPRequestHandler):
    """Stands in for drip's webhook: keeps what was posted, answers 204."""

    posts: list[tuple[str, dict[str, str], str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        form = dict(
            urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode())
        )
        self.posts.append((self.path, form, self.headers.get("X-Twilio-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def callback_sink():
    _CallbackSink.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackSink)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CallbackSink.posts
    server.shutdown()
    server.server_close()


def test_the_servers_status_callbacks_are_signed_like_twilios(twilio_server, callback_sink):
    base, posts = callback_sink
    channel = make_twilio_sms(twilio_server, public_base_url=base)
    receipt = channel.send(SMS)
    assert twilio_server.send_status_callback(42, "undelivered", error_code=30003) == 204
    assert twilio_server.send_status_callback(receipt.provider_id, auth_token="wrong") == 204
    (path, form, signature), (_, _, forged) = posts
    url = base + path
    assert path == "/webhooks/twilio/status?delivery=42"
    assert form["MessageSid"] == receipt.provider_id and form["MessageStatus"] == "undelivered"
    assert form["ErrorCode"] == "30003"
    assert RequestValidator(twilio_server.auth_token).validate(url, form, signature)
    assert not RequestValidator(twilio_server.auth_token).validate(url, form, forged)
    channel.close()


def test_the_proxy_comes_from_the_environment_once_and_no_proxy_is_respected(monkeypatch):
    from drip.channels.twilio_http import AiohttpClient

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.clinic.test:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    proxied = AiohttpClient(timeout=1, api_url="https://api.twilio.com")
    direct = AiohttpClient(timeout=1, api_url="http://127.0.0.1:9")
    assert proxied.proxy == "http://proxy.clinic.test:3128"
    assert direct.proxy is None
