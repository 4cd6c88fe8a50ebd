"""The inbound service with an injected clock: STOP -> START -> a new date; consent versions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drip.enrollment import service as enrollment_service
from drip.inbound.service import receive_sms
from drip.models import ConsentText, Delivery, Patient
from tests.support.factories import NY, enroll_patient

pytestmark = pytest.mark.django_db
PHONE = "+12125550123"
S = Delivery.Status


def say(body, now, n):
    return receive_sms(message_sid=f"SM{n:032d}", from_phone=PHONE, body=body, now=now)


def test_stop_then_start_then_a_new_infusion_date_brings_future_sms_back_and_nothing_past(now):
    enrollment = enroll_patient(now)
    welcome = enrollment.deliveries.get(step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=welcome.pk).update(status=S.SENT, provider_id="SMx", sent_at=now)
    say("STOP", now, 1)
    sms = enrollment.deliveries.filter(channel="sms").exclude(pk=welcome.pk)
    assert {d.skip_reason for d in sms} == {"opted_out"}

    later = now + timedelta(days=5)  # what-to-expect (infusion 1 - 2 days, 18:00) is now past
    started = say("start", later, 2)
    assert "subscribed again" in started.reply
    assert Patient.objects.get(pk=enrollment.patient_id).sms_opted_out_at is None
    rows = {d.step_key: d for d in enrollment.deliveries.filter(channel="sms")}
    assert rows["welcome"].status == S.SENT  # history untouched
    assert (
        rows["what-to-expect"].status == S.SKIPPED
        and rows["what-to-expect"].skip_reason == "too_late"
    )
    assert rows["setbacks-are-normal"].status == S.SCHEDULED
    assert rows["setbacks-are-normal"].due_at > later

    infusion_3 = enrollment.infusions.get(number=3)
    local_3 = infusion_3.starts_at.astimezone(NY).replace(tzinfo=None)
    enrollment_service.move_infusion(
        enrollment, 3, local_3 + timedelta(days=1), now=later, actor="staff"
    )
    moved = enrollment.deliveries.get(step_key="setbacks-are-normal", channel="sms")
    assert moved.status == S.SCHEDULED and moved.due_at > rows["setbacks-are-normal"].due_at
    assert enrollment.deliveries.get(step_key="what-to-expect", channel="sms").status == S.SKIPPED


def test_start_from_a_patient_who_never_stopped_changes_nothing_and_says_nothing(now):
    enrollment = enroll_patient(now)
    before = list(enrollment.deliveries.values_list("pk", "status", "due_at"))
    assert say("START", now, 1).reply == ""
    assert list(enrollment.deliveries.values_list("pk", "status", "due_at")) == before


def test_a_stopped_patient_gets_no_auto_reply_to_other_messages(now):
    enroll_patient(now)
    say("STOP", now, 1)
    assert say("ok thanks", now, 2).reply == ""


def test_each_consent_record_points_at_the_wording_the_patient_agreed_to(now):
    v1 = ConsentText.objects.get(channel="sms", version=1)
    assert "STOP" in v1.text and "Msg & data rates may apply" in v1.text
    first = enroll_patient(now)
    v2 = ConsentText.objects.create(
        channel="sms", version=2, text="New wording. Reply STOP to stop."
    )
    second = enroll_patient(now, phone="+12125550124", email="b@example.com")
    grant = lambda e: e.patient.consents.get(channel="sms", granted=True)  # noqa: E731
    assert grant(first).consent_text == v1 and grant(second).consent_text == v2
    assert first.patient.consents.get(channel="email").consent_text.version == 1


@pytest.mark.parametrize("answer", ["crisis_text", "help_text", "opt_out_text", "opt_in_text"])
def test_our_answers_name_the_clinic_by_its_sms_name(settings, answer):
    from drip.inbound import service as inbound

    settings.DRIP_CLINIC = {
        **settings.DRIP_CLINIC,
        "clinic_name": "Sunrise Ketamine Center",
        "clinic_sms_name": "Sunrise Care",
    }
    text = getattr(inbound, answer)()
    assert "Sunrise Care" in text and "Ketamine" not in text


def test_the_crisis_answer_says_no_one_watches_this_number_around_the_clock():
    from drip.inbound.service import crisis_text

    text = crisis_text()
    assert "988" in text and "911" in text and "not watched around the clock" in text
