"""The copy a delivery keeps of what its provider accepted (``sent_subject``, ``sent_text``),
checked against what the local Twilio-speaking and SMTP servers received: written with the
outcome, for sent rows only, and never logged."""

from __future__ import annotations

import logging

import pytest

from drip.delivery.dispatch import claim_due
from drip.enrollment.service import mark_infusion
from drip.models import SENT_SUBJECT_LENGTH, Delivery
from tests.support.factories import TEST_MESSAGES, enroll_patient, publish_test_schedule
from tests.support.smtp_server import NO_SUCH_USER

pytestmark = pytest.mark.django_db
S = Delivery.Status
# Line breaks, characters outside ASCII and GSM-7 (a UCS-2 text), a quote Jinja could escape.
HELLO = {
    **TEST_MESSAGES["hello"],
    "email_subject": "Hello {{ first_name }} — café “today”",
    "email_body": 'Hi {{ first_name }}, from {{ clinic_name }}.\n\nÀ bientôt — & "see" <you>.\n',
    "sms_text": "{{ clinic_name }}: hi {{ first_name }} — café\nReply “STOP” & <stop>",
}


def welcome(enrolled, channel: str) -> Delivery:
    return enrolled.deliveries.get(step_key="welcome", channel=channel)


def test_a_sent_text_keeps_the_body_twilio_received_byte_for_byte(now, send, twilio_server):
    publish_test_schedule(messages={**TEST_MESSAGES, "hello": HELLO})
    e = enroll_patient(now)
    send(now)
    (got,) = twilio_server.received
    row = welcome(e, "sms")
    assert row.status == S.SENT and got.delivery_id == row.pk
    assert row.sent_text.encode() == got.form["Body"].encode()
    assert "\n" in row.sent_text and "—" in row.sent_text  # nothing escaped or squeezed
    assert row.sent_subject == ""


def test_a_sent_email_keeps_the_subject_and_the_plain_text_part_the_server_received(
    now, send, smtp_server
):
    publish_test_schedule(messages={**TEST_MESSAGES, "hello": HELLO})
    e = enroll_patient(now)
    send(now)
    (got,) = smtp_server.received
    row = welcome(e, "email")
    assert row.status == S.SENT and got.message_id == row.provider_id
    assert row.sent_subject == got.message["Subject"] == "Hello Alex — café “today”"
    plain = got.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert row.sent_text == plain
    assert 'À bientôt — & "see" <you>.' in row.sent_text
    assert str(got.message["List-Unsubscribe"]).strip(" <>") in row.sent_text


def test_failed_skipped_and_retrying_rows_keep_nothing(now, send, twilio_server, smtp_server):
    e = enroll_patient(now)
    twilio_server.fail_next(1, 503, 20503)  # transient: retried later
    smtp_server.refusals["alex@example.com"] = NO_SUCH_USER  # permanent: failed
    skipped = e.deliveries.get(step_key="setbacks-are-normal", channel="sms")
    mark_infusion(e, 3, "cancelled", now=now, actor="test")  # the step needs infusion 3 done
    Delivery.objects.filter(pk=skipped.pk).update(status=S.QUEUED, due_at=now, skip_reason="")
    send(now, [*claim_due(now, limit=10), skipped.pk])  # the welcomes, and the skipped row
    rows = {(r.step_key, r.channel): r for r in e.deliveries.all()}
    assert rows["welcome", "sms"].status == S.SCHEDULED
    assert rows["welcome", "email"].status == S.FAILED
    assert rows["setbacks-are-normal", "sms"].skip_reason == "infusion_cancelled"
    assert twilio_server.received == [] and smtp_server.received == []
    for row in rows.values():
        assert (row.sent_subject, row.sent_text) == ("", "")

    retry = rows["welcome", "sms"]
    send(retry.due_at)  # the retry goes out: now it keeps its copy
    retry.refresh_from_db()
    (got,) = twilio_server.received
    assert (retry.status, retry.sent_text) == (S.SENT, got.form["Body"])


def test_a_render_failure_keeps_nothing(now, send, twilio_server):
    broken = {**TEST_MESSAGES["hello"], "sms_text": "{{ clinic_name }} {{ nope }}"}
    publish_test_schedule(messages={**TEST_MESSAGES, "hello": broken})
    e = enroll_patient(now)
    send(now)
    row = welcome(e, "sms")
    assert (row.status, row.error_code, row.sent_text) == (S.FAILED, "render", "")


def test_a_subject_longer_than_its_column_is_cut_and_the_outcomes_are_recorded(
    now, send, smtp_server
):
    """No rule limits a subject's length: one too long for the column must not fail the
    statement that records the group's outcomes (PostgreSQL refuses an over-long varchar)."""
    long = {**TEST_MESSAGES["hello"], "email_subject": "Hello {{ first_name }}" + " long" * 240}
    publish_test_schedule(messages={**TEST_MESSAGES, "hello": long})
    e = enroll_patient(now)
    report = send(now)
    assert report.sent == 2
    row = welcome(e, "email")
    (got,) = smtp_server.received
    assert row.status == S.SENT and len(row.sent_subject) == SENT_SUBJECT_LENGTH
    assert str(got.message["Subject"]).startswith(row.sent_subject)
    assert welcome(e, "sms").status == S.SENT


def test_the_kept_text_reaches_no_log(now, send, twilio_server, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    publish_test_schedule(messages={**TEST_MESSAGES, "hello": HELLO})
    e = enroll_patient(now)
    send(now)
    assert welcome(e, "sms").sent_text and welcome(e, "email").sent_text
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    for secret in ("café", "hi Alex", "Hello Alex", "bientôt"):
        assert secret not in text
