"""The enrollment service on the real database: enroll, move, cancel, pause, end, opt out."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from drip import enrollment as service
from drip.errors import EnrollmentError
from drip.models import AuditEvent, ConsentRecord, Delivery, Enrollment, Infusion, Patient
from tests.support.factories import NY, enroll_patient, patient_input, publish_test_schedule

pytestmark = pytest.mark.django_db
S = Delivery.Status


def rows(enrollment) -> dict[tuple[str, str], Delivery]:
    return {(d.step_key, d.channel): d for d in enrollment.deliveries.all()}


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Patient, ConsentRecord, Enrollment, Infusion, Delivery, AuditEvent))


def test_enrolling_plans_one_row_per_step_and_channel(now):
    e = enroll_patient(now)
    planned = rows(e)
    assert set(planned) == {("welcome", "email"), ("welcome", "sms"), ("what-to-expect", "email"),
                            ("what-to-expect", "sms"), ("setbacks-are-normal", "email"),
                            ("setbacks-are-normal", "sms"), ("week-after-last", "email")}
    assert {d.status for d in planned.values()} == {S.SCHEDULED}
    assert e.patient.phone == "+12125550123" and e.infusions.count() == 6
    assert ConsentRecord.objects.filter(patient=e.patient, granted=True).count() == 2
    assert AuditEvent.objects.get(enrollment=e).event == "enrolled"


@pytest.mark.parametrize("overrides, field", [
    (dict(phone="555-1234"), "phone"),
    (dict(phone="+1 212 555 01"), "phone"),
    (dict(email="alex@"), "email"),
    (dict(time_zone="America/New_Yrok"), "time_zone"),
    (dict(time_zone="Eastern"), "time_zone"),
    (dict(sms_consent=False, email_consent=False), "consent"),
    (dict(phone="", sms_consent=True), "phone"),
    (dict(first_name="  "), "first_name"),
])
def test_bad_patient_input_is_refused_naming_the_field_and_saves_nothing(now, overrides, field):
    publish_test_schedule()
    before = counts()
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(patient_input(**overrides), [datetime(2026, 12, 7, 10)], now=now, actor="test")
    assert raised.value.field == field
    assert counts() == before


@pytest.mark.parametrize("infusions, message", [
    ([datetime(2026, 12, 9, 10), datetime(2026, 12, 7, 10)], "infusion 2 is not after infusion 1"),
    ([datetime(2026, 12, 7, 10) + timedelta(days=i) for i in range(7)], "7 infusions given; this schedule has 6"),
    ([], "at least the first infusion"),
])
def test_bad_infusion_dates_are_refused_and_save_nothing(now, infusions, message):
    publish_test_schedule()
    before = counts()
    with pytest.raises(EnrollmentError, match=message) as raised:
        service.enroll(patient_input(), infusions, now=now, actor="test")
    assert raised.value.field == "infusions" and counts() == before


def test_enrolling_without_a_published_schedule_is_refused(now):
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(patient_input(), [datetime(2026, 12, 7, 10)], now=now, actor="test")
    assert raised.value.field == "schedule" and counts() == (0, 0, 0, 0, 0, 0)


def test_moving_an_infusion_retimes_pending_rows_and_never_touches_sent_ones(now):
    e = enroll_patient(now)
    sent = rows(e)[("what-to-expect", "email")]
    Delivery.objects.filter(pk=sent.pk).update(status=S.SENT, provider_id="<sent>")
    before = rows(e)
    first = e.infusions.get(number=1)
    service.move_infusion(e, 1, first.starts_at + timedelta(days=1), now=now, actor="staff")
    after = rows(e)
    assert after[("what-to-expect", "sms")].due_at == before[("what-to-expect", "sms")].due_at + timedelta(days=1)
    assert after[("what-to-expect", "email")].due_at == before[("what-to-expect", "email")].due_at
    assert after[("what-to-expect", "email")].status == S.SENT and after[("what-to-expect", "email")].provider_id == "<sent>"


def test_a_move_that_makes_a_step_past_skips_it_too_late(now):
    e = enroll_patient(now)
    # Infusion 1 moved to tomorrow: "two days before at 18:00" is already yesterday.
    tomorrow = (now + timedelta(days=1)).astimezone(NY).replace(hour=10, minute=0)
    service.move_infusion(e, 1, tomorrow, now=now, actor="staff")
    assert rows(e)[("what-to-expect", "sms")].skip_reason == "too_late"


def test_a_move_out_of_order_is_refused_and_changes_nothing(now):
    e = enroll_patient(now)
    second = e.infusions.get(number=2).starts_at
    before = rows(e)
    with pytest.raises(EnrollmentError) as raised:
        service.move_infusion(e, 1, second + timedelta(hours=1), now=now, actor="staff")
    assert raised.value.field == "starts_at"
    assert rows(e) == before and e.infusions.get(number=1).starts_at < second


def test_cancelling_infusion_three_skips_its_conditional_step(now):
    e = enroll_patient(now)
    service.mark_infusion(e, 3, "cancelled", now=now, actor="staff")
    planned = rows(e)
    assert planned[("setbacks-are-normal", "sms")].skip_reason == "infusion_cancelled"
    assert planned[("welcome", "sms")].status == S.SCHEDULED


def test_pause_skips_pending_and_resume_revives_future_and_drops_what_passed(now):
    e = enroll_patient(now)
    service.pause(e, now=now, actor="staff")
    assert {d.skip_reason for d in e.deliveries.all()} == {"paused"}
    later = now + timedelta(days=5)  # past what-to-expect (two days before the Monday infusion)
    service.resume(e, now=later, actor="staff")
    planned = rows(e)
    assert planned[("what-to-expect", "sms")].skip_reason == "too_late"
    assert planned[("setbacks-are-normal", "sms")].status == S.SCHEDULED


def test_ending_a_series_skips_everything_pending(now):
    e = enroll_patient(now)
    service.end(e, now=now, actor="staff")
    assert {d.skip_reason for d in e.deliveries.all()} == {"enrollment_ended"}


def test_opting_out_of_sms_skips_pending_sms_and_opting_in_revives_them(now):
    e = enroll_patient(now)
    service.record_opt_out(e.patient, "sms", now=now, method="sms_keyword", actor="patient")
    planned = rows(e)
    assert {d.skip_reason for (k, c), d in planned.items() if c == "sms"} == {"opted_out"}
    assert {d.status for (k, c), d in planned.items() if c == "email"} == {S.SCHEDULED}
    service.record_opt_out(e.patient, "sms", now=now, method="sms_keyword", actor="patient")
    assert ConsentRecord.objects.filter(patient=e.patient, granted=False).count() == 1  # idempotent
    service.record_opt_in(e.patient, "sms", now=now, method="sms_keyword", actor="patient")
    assert {d.status for (k, c), d in rows(e).items() if c == "sms"} == {S.SCHEDULED}


def test_replanning_twice_creates_and_changes_nothing(now):
    e = enroll_patient(now)
    before = rows(e)
    result = service.replan(e, now=now)
    assert (result.created, result.retimed, result.skipped) == (0, 0, 0)
    assert rows(e) == before and {k: v.due_at for k, v in rows(e).items()} == {k: v.due_at for k, v in before.items()}


def test_a_row_being_sent_is_never_changed_by_replanning(now):
    e = enroll_patient(now)
    row = rows(e)[("what-to-expect", "sms")]
    Delivery.objects.filter(pk=row.pk).update(status=S.SENDING)
    service.mark_infusion(e, 1, "cancelled", now=now, actor="staff")
    again = Delivery.objects.get(pk=row.pk)
    assert again.status == S.SENDING and again.due_at == row.due_at


def test_the_timeline_reads_in_the_patients_zone_in_order(now):
    e = enroll_patient(now)
    Delivery.objects.filter(enrollment=e, step_key="welcome", channel="sms").update(
        status=S.FAILED, error_code="21211", error_text="invalid number")
    entries = service.timeline(e)
    assert [x.local_due for x in entries] == sorted(x.local_due for x in entries)
    assert entries[0].local_due.tzinfo.key == "America/New_York"
    failed = next(x for x in entries if x.step_key == "welcome" and x.channel == "sms")
    assert failed.status == "failed" and failed.why == "21211 invalid number"


def test_a_schedule_version_that_does_not_validate_is_refused_and_saves_nothing(now):
    publish_test_schedule("name: ketamine-six-infusion\ninfusions: 6\nsteps:\n  - {key: a, anchor: someday}\n")
    before = counts()
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(patient_input(), [datetime(2026, 12, 7, 10)], now=now, actor="test")
    assert raised.value.field == "schedule" and "does not validate" in str(raised.value)
    assert counts() == before
