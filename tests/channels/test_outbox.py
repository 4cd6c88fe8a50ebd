"""The file outbox (.eml files and sms.jsonl, safe with several processes) and the channel factory."""

from __future__ import annotations

import email
import email.policy
import json
import multiprocessing
from pathlib import Path

import pytest

from drip.channels import build_channels, reset_channels
from drip.channels.base import OutgoingEmail, OutgoingSms
from drip.channels.email import SmtpEmail
from drip.channels.outbox import OutboxEmail, OutboxSms
from drip.channels.sms import TwilioSms

MAIL = OutgoingEmail(4, "a@example.com", "Subject", "text", "<p>html</p>", "https://x/u/t")


def test_an_sms_is_one_json_line_and_an_email_one_eml_file(tmp_path):
    OutboxSms(tmp_path).send(OutgoingSms(3, "+12125550123", "Hi"))
    OutboxEmail(tmp_path, from_email="care@clinic.test", message_id_domain="clinic.test").send(MAIL)
    (line,) = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["delivery_id"] == 3
    mail = email.message_from_bytes(
        (tmp_path / "email-4.eml").read_bytes(), policy=email.policy.default
    )
    assert mail["Message-ID"] == "<drip.delivery.4@clinic.test>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sending_one_delivery_twice_shows_twice(tmp_path):
    outbox = OutboxEmail(tmp_path, from_email="care@clinic.test", message_id_domain="clinic.test")
    mail = OutgoingEmail(4, "a@example.com", "S", "t", "<p>h</p>", "")
    outbox.send(mail)
    outbox.send(mail)
    assert len(list(tmp_path.glob("email-4*.eml"))) == 2


def _append_many(directory: str, start: int) -> None:
    channel = OutboxSms(Path(directory))
    for i in range(start, start + 300):
        channel.send(OutgoingSms(i, "+12125550123", "x" * 150))


def _email_many(directory: str) -> None:
    import django

    django.setup()  # a spawned process: Django's mail needs settings
    outbox = OutboxEmail(
        Path(directory), from_email="care@clinic.test", message_id_domain="clinic.test"
    )
    for _ in range(20):
        outbox.send(MAIL)


def test_two_processes_appending_never_interleave_lines(tmp_path):
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_append_many, args=(str(tmp_path), n)) for n in (0, 1000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    ids = sorted(
        json.loads(line)["delivery_id"]
        for line in (tmp_path / "sms.jsonl").read_text().splitlines()
    )
    assert ids == list(range(300)) + list(range(1000, 1300))


def test_two_processes_sending_one_email_delivery_both_leave_every_copy(tmp_path):
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_email_many, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(list(tmp_path.glob("email-4*.eml"))) == 40


@pytest.fixture
def fresh_channels():
    reset_channels()
    yield
    reset_channels()


def test_the_factory_builds_the_file_outbox_once_per_process(settings, tmp_path, fresh_channels):
    settings.DRIP_CHANNELS, settings.DRIP_OUTBOX_DIR = "outbox", tmp_path
    settings.DRIP_PUBLIC_BASE_URL = "https://drip.clinic.test"
    sms, email_channel = build_channels()
    assert build_channels() == (sms, email_channel)
    sms.send(OutgoingSms(3, "+12125550123", "Hi"))
    assert email_channel.send(MAIL).provider_id == "<drip.delivery.4@drip.clinic.test>"
    assert (tmp_path / "sms.jsonl").exists() and (tmp_path / "email-4.eml").exists()
    reset_channels()
    assert build_channels()[0] is not sms


def test_live_channels_from_settings_reach_twilio_and_smtp(
    settings, twilio_server, smtp_server, fresh_channels
):
    settings.DRIP_CHANNELS, settings.DRIP_PUBLIC_BASE_URL = "live", "https://drip.clinic.test"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = (
        twilio_server.account_sid,
        twilio_server.auth_token,
    )
    settings.TWILIO_API_BASE_URL, settings.TWILIO_FROM_NUMBER = (
        twilio_server.base_url,
        "+15005550006",
    )
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.DRIP_SMS_PER_S = settings.DRIP_EMAIL_PER_S = 0
    sms, email_channel = build_channels()
    assert isinstance(sms, TwilioSms) and isinstance(email_channel, SmtpEmail)
    sms.send(OutgoingSms(3, "+12125550123", "Hi"))
    email_channel.send(MAIL)
    (got_sms,) = twilio_server.received
    assert (
        got_sms.form["StatusCallback"]
        == "https://drip.clinic.test/webhooks/twilio/status?delivery=3"
    )
    assert smtp_server.message_ids() == ["<drip.delivery.4@drip.clinic.test>"]
