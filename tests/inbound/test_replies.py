"""Staff replies from the inbox: written once, sent once, never to a patient who opted out,
never at night, and a retry after a lost answer looks in Twilio before sending again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drip.enrollment.service import record_opt_out
from drip.inbound.replies import ReplyRefused, reply_ids_due, send_reply, write_reply
from drip.inbound.service import receive_sms
from drip.models import AuditEvent, StaffReply
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db
TEXT = "Hi Alex, yes: eat a light meal two hours before. See you Wednesday. - Sam"


@pytest.fixture
def question(now):
    enroll_patient(now)
    return receive_sms(
        message_sid="SM" + "a" * 32, from_phone="+12125550123", body="Can I eat before?", now=now
    ).inbound


def write(question, now, key="form-1", body=TEXT):
    return write_reply(
        question.patient_id, body, inbound=question, actor="sam", form_key=key, now=now
    )


def test_a_reply_is_sent_once_to_the_patient_and_audited(question, now, twilio_server, twilio_sms):
    reply = write(question, now)
    assert send_reply(reply.pk, now=now, sms=twilio_sms) is True
    assert send_reply(reply.pk, now=now, sms=twilio_sms) is False  # a second worker: nothing
    assert [(r.form["To"], r.form["Body"]) for r in twilio_server.received] == [
        ("+12125550123", TEXT)
    ]
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.provider_id == twilio_server.received[0].sid
    events = list(
        AuditEvent.objects.filter(patient_id=question.patient_id).values_list("event", "actor")
    )
    assert ("sms_reply_written", "sam") in events and ("sms_reply_sent", "drip") in events


def test_the_same_form_sent_twice_is_one_reply(question, now):
    assert write(question, now).pk == write(question, now).pk
    assert StaffReply.objects.count() == 1


def test_a_reply_to_a_patient_who_opted_out_is_refused_and_nothing_is_stored(question, now):
    record_opt_out(question.patient, "sms", now=now, method="sms_keyword", actor="patient")
    with pytest.raises(ReplyRefused, match="opted out of texts"):
        write(question, now)
    assert StaffReply.objects.count() == 0


def test_a_stop_after_the_reply_was_written_stops_it_before_the_call(
    question, now, twilio_server, twilio_sms
):
    reply = write(question, now)
    record_opt_out(question.patient, "sms", now=now, method="sms_keyword", actor="patient")
    assert send_reply(reply.pk, now=now, sms=twilio_sms) is False
    reply.refresh_from_db()
    assert reply.status == "refused" and twilio_server.received == []


def test_an_empty_reply_is_refused(question, now):
    with pytest.raises(ReplyRefused, match="empty"):
        write(question, now, body="   ")


def test_a_reply_written_at_night_waits_for_8_am_in_the_patients_zone(question, twilio_sms):
    night = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)  # 10:30 PM in New York
    reply = write(question, night)
    assert reply.due_at == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)  # 8:00 AM EST
    assert send_reply(reply.pk, now=night, sms=twilio_sms) is False
    assert reply.pk not in reply_ids_due(night) and reply.pk in reply_ids_due(reply.due_at)


def test_a_lost_answer_is_looked_up_in_twilio_not_sent_twice(
    question, now, twilio_server, twilio_sms
):
    twilio_server.clock = now.timestamp  # Twilio's date_created by the test's clock
    twilio_server.fail_next(1, 201, delay_s=6, accept_first=True)  # accepted, answer lost
    reply = write(question, now)
    assert send_reply(reply.pk, now=now, sms=twilio_sms) is False  # timed out: retry later
    reply.refresh_from_db()
    assert reply.status == "pending" and len(twilio_server.received) == 1
    later = reply.due_at + timedelta(seconds=1)
    assert send_reply(reply.pk, now=later, sms=twilio_sms) is True
    reply.refresh_from_db()
    assert len(twilio_server.received) == 1  # found in Twilio's list, not sent again
    assert reply.status == "sent" and reply.provider_id == twilio_server.received[0].sid


def test_a_reply_left_sending_by_a_stopped_worker_comes_back_after_the_lease(
    question, now, settings
):
    settings.DRIP_SENDING_LEASE_S = 600
    reply = write(question, now)
    StaffReply.objects.filter(pk=reply.pk).update(status="sending", claimed_at=now, attempts=1)
    assert reply_ids_due(now + timedelta(seconds=599)) == []
    assert reply_ids_due(now + timedelta(seconds=601)) == [reply.pk]
