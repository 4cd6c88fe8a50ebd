"""The file outbox: .eml files and sms.jsonl, safe with several processes appending."""

from __future__ import annotations

import email
import email.policy
import json
import multiprocessing

from drip.channels.base import OutgoingEmail, OutgoingSms
from drip.channels.outbox import OutboxEmail, OutboxSms


def test_an_sms_is_one_json_line_and_an_email_one_eml_file(tmp_path):
    OutboxSms(tmp_path).send(OutgoingSms(3, "+12125550123", "Hi"))
    OutboxEmail(tmp_path, from_email="care@clinic.test", message_id_domain="clinic.test").send(
        OutgoingEmail(4, "a@example.com", "Subject", "text", "<p>html</p>", "https://x/u/t"))
    (line,) = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line)["delivery_id"] == 3
    mail = email.message_from_bytes((tmp_path / "email-4.eml").read_bytes(), policy=email.policy.default)
    assert mail["Message-ID"] == "<drip.delivery.4@clinic.test>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_sending_one_delivery_twice_shows_twice(tmp_path):
    outbox = OutboxEmail(tmp_path, from_email="care@clinic.test", message_id_domain="clinic.test")
    mail = OutgoingEmail(4, "a@example.com", "S", "t", "<p>h</p>", "")
    outbox.send(mail)
    outbox.send(mail)
    assert len(list(tmp_path.glob("email-4*.eml"))) == 2


def _append_many(directory: str, start: int) -> None:
    channel = OutboxSms(__import__("pathlib").Path(directory))
    for i in range(start, start + 300):
        channel.send(OutgoingSms(i, "+12125550123", "x" * 150))


def test_two_processes_appending_never_interleave_lines(tmp_path):
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_append_many, args=(str(tmp_path), n)) for n in (0, 1000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    ids = sorted(json.loads(line)["delivery_id"] for line in (tmp_path / "sms.jsonl").read_text().splitlines())
    assert ids == list(range(300)) + list(range(1000, 1300))
