"""What staff type in cannot break the data: one person is one patient, names fit and are text,
an infusion is done only once it has started."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from drip.enrollment import service
from drip.errors import EnrollmentError
from drip.models import ConsentRecord, Enrollment, Patient
from tests.support.factories import enroll_patient, publish_test_schedule

pytestmark = pytest.mark.django_db

OTHER_PHONE, OTHER_EMAIL = "+12125550188", "sam@example.com"


def enroll_again(now, **overrides):
    return enroll_patient(now + timedelta(hours=1), **overrides)


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(email=OTHER_EMAIL), "phone"),
        (dict(phone="(212) 555-0123", email=OTHER_EMAIL), "phone"),  # another spelling, same E.164
        (dict(phone=OTHER_PHONE), "email"),
        (dict(phone=OTHER_PHONE, email="ALEX@Example.COM"), "email"),  # emails match in any case
        (dict(phone="", sms_consent=False), "email"),
    ],
)
def test_a_phone_or_email_already_on_an_enrolled_patient_is_refused_naming_them(
    now, overrides, field
):
    first = enroll_patient(now)
    with pytest.raises(EnrollmentError) as raised:
        enroll_again(now, first_name="Alexandra", **overrides)
    assert raised.value.field == field and raised.value.patient_id == first.patient_id
    assert f"patient #{first.patient_id}" in str(raised.value)
    assert (Patient.objects.count(), Enrollment.objects.count()) == (1, 1)


def test_a_paused_series_still_holds_its_patients_contacts(now):
    first = enroll_patient(now)
    service.pause(first, now=now, actor="staff")
    with pytest.raises(EnrollmentError) as raised:
        enroll_again(now)
    assert raised.value.patient_id == first.patient_id and "paused" in str(raised.value)


def test_a_patient_whose_series_ended_is_enrolled_again_as_the_same_patient(now):
    first = enroll_patient(now)
    service.record_opt_out(first.patient, "sms", now=now, method="sms_keyword", actor="patient")
    service.end(first, now=now, actor="staff")
    second = enroll_again(now, first_name="Alexandra", email="ALEX@example.com")
    patient = Patient.objects.get()
    assert second.patient_id == first.patient_id == patient.pk
    assert (patient.first_name, patient.email) == ("Alexandra", "ALEX@example.com")
    # Their STOP still stands: new consent is not a START.
    assert patient.sms_opted_out_at is not None
    assert {d.skip_reason for d in second.deliveries.filter(channel="sms")} == {"opted_out"}
    assert second.deliveries.filter(channel="email", status="scheduled").exists()


def test_a_returning_patient_who_no_longer_consents_to_sms_gets_a_withdrawal_on_record(now):
    first = enroll_patient(now)
    service.end(first, now=now, actor="staff")
    second = enroll_again(now, sms_consent=False)
    latest = ConsentRecord.objects.filter(patient=second.patient, channel="sms").latest("pk")
    assert latest.granted is False and not second.patient.sms_consent
    assert {d.skip_reason for d in second.deliveries.filter(channel="sms")} == {"no_consent"}


def test_a_phone_on_one_patient_and_an_email_on_another_is_refused(now):
    alex = enroll_patient(now)
    sam = enroll_patient(now, phone=OTHER_PHONE, email=OTHER_EMAIL)
    for e in (alex, sam):
        service.end(e, now=now, actor="staff")
    with pytest.raises(EnrollmentError) as raised:
        enroll_again(now, email=OTHER_EMAIL)
    assert raised.value.field == "email" and raised.value.patient_id == sam.patient_id
    assert Enrollment.objects.count() == 2


def test_patients_without_an_email_or_phone_do_not_collide_on_the_blank(now):
    enroll_patient(now, email="", email_consent=False)
    enroll_patient(now, phone=OTHER_PHONE, email="", email_consent=False)
    enroll_patient(now, phone="", sms_consent=False, email=OTHER_EMAIL)
    assert Patient.objects.count() == 3


@pytest.mark.parametrize(
    "overrides, field, says",
    [
        (dict(first_name="A" * 101), "first_name", "101 characters; at most 100"),
        (dict(first_name="A" * 10_000), "first_name", "10,000 characters"),
        (dict(last_name="R" * 101), "last_name", "at most 100"),
        (dict(first_name="Al\x00ex"), "first_name", "U+0000"),
        (dict(first_name="Alex\nBuy now"), "first_name", "U+000A"),
        (dict(last_name="Ri\x1bvera"), "last_name", "U+001B"),
        (dict(first_name="Al\u2028ex"), "first_name", "U+2028"),
        (dict(email="a" * 250 + "@example.com"), "email", "at most 254"),
    ],
)
def test_names_too_long_or_holding_control_characters_are_refused_before_the_database(
    now, overrides, field, says
):
    publish_test_schedule()
    with pytest.raises(EnrollmentError, match=re.escape(says)) as raised:
        enroll_patient(now, **overrides)
    assert raised.value.field == field and Patient.objects.count() == 0


def test_names_at_the_limit_and_in_any_script_are_taken(now):
    e = enroll_patient(now, first_name="A" * 100, last_name="\u0645\u0647\u200c\u0631\u0648\u06cc")
    assert e.patient.first_name == "A" * 100 and e.patient.last_name.endswith("\u06cc")


def test_an_infusion_cannot_be_marked_done_before_it_starts(now):
    e = enroll_patient(now)
    first = e.infusions.get(number=1)
    with pytest.raises(EnrollmentError) as raised:
        service.mark_infusion(e, 1, "done", now=first.starts_at - timedelta(minutes=1), actor="s")
    assert raised.value.field == "status" and "before it starts" in str(raised.value)
    assert e.infusions.get(number=1).status == "scheduled"
    service.mark_infusion(e, 1, "done", now=first.starts_at, actor="staff")
    assert e.infusions.get(number=1).status == "done"


def test_an_opt_out_with_a_method_that_is_not_a_consent_method_is_refused(now):
    e = enroll_patient(now)
    with pytest.raises(EnrollmentError) as raised:
        service.record_opt_out(e.patient, "sms", now=now, method="carrier pigeon", actor="staff")
    assert raised.value.field == "method" and e.patient.may_receive("sms")
    assert not ConsentRecord.objects.filter(granted=False).exists()
