"""The enrollment service on the real database: enroll, move, cancel, pause, end, opt out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from drip.catalog import versions as catalog
from drip.enrollment import service
from drip.errors import EnrollmentError
from drip.models import AuditEvent, ConsentRecord, Delivery, Enrollment, Infusion, Patient
from tests.support.factories import (
    NY,
    TEST_SCHEDULE,
    enroll_patient,
    mwf_infusions,
    next_monday_10am,
    patient_input,
    publish_test_schedule,
)

pytestmark = pytest.mark.django_db
S = Delivery.Status


def rows(enrollment) -> dict[tuple[str, str], Delivery]:
    return {(d.step_key, d.channel): d for d in enrollment.deliveries.all()}


def counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count()
        for m in (Patient, ConsentRecord, Enrollment, Infusion, Delivery, AuditEvent)
    )


def test_enrolling_plans_one_row_per_step_and_channel(now):
    e = enroll_patient(now)
    planned = rows(e)
    assert set(planned) == {
        ("welcome", "email"),
        ("welcome", "sms"),
        ("what-to-expect", "email"),
        ("what-to-expect", "sms"),
        ("setbacks-are-normal", "email"),
        ("setbacks-are-normal", "sms"),
        ("week-after-last", "email"),
    }
    assert {d.status for d in planned.values()} == {S.SCHEDULED}
    assert e.patient.phone == "+12125550123" and e.infusions.count() == 6
    assert ConsentRecord.objects.filter(patient=e.patient, granted=True).count() == 2
    assert AuditEvent.objects.get(enrollment=e).event == "enrolled"


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(phone="555-1234"), "phone"),
        (dict(phone="+1 212 555 01"), "phone"),
        (dict(email="alex@"), "email"),
        (dict(time_zone="America/New_Yrok"), "time_zone"),
        (dict(time_zone="Eastern"), "time_zone"),
        (dict(sms_consent=False, email_consent=False), "consent"),
        (dict(phone="", sms_consent=True), "phone"),
        (dict(first_name="  "), "first_name"),
        (dict(email="", email_consent=True), "email"),
        (dict(consent_method="smoke signals"), "consent_method"),
    ],
)
def test_bad_patient_input_is_refused_naming_the_field_and_saves_nothing(now, overrides, field):
    publish_test_schedule()
    before = counts()
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(
            patient_input(**overrides), [datetime(2026, 12, 7, 10)], now=now, actor="test"
        )
    assert raised.value.field == field
    assert counts() == before


@pytest.mark.parametrize(
    "infusions, message",
    [
        (
            [datetime(2026, 12, 9, 10), datetime(2026, 12, 7, 10)],
            "infusion 2 is not after infusion 1",
        ),
        (
            [datetime(2026, 12, 7, 10) + timedelta(days=i) for i in range(7)],
            "7 infusions given; this schedule has 6",
        ),
        ([], "at least the first infusion"),
    ],
)
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


def test_enrolling_in_a_schedule_nobody_published_is_refused_even_when_others_exist(now):
    publish_test_schedule()
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(
            patient_input(),
            [datetime(2026, 12, 7, 10)],
            schedule="no-such-series",
            now=now,
            actor="test",
        )
    assert raised.value.field == "schedule" and counts() == (0, 0, 0, 0, 0, 0)


def test_the_contact_details_are_stored_clean_and_consent_is_recorded_per_channel(now):
    e = enroll_patient(
        now,
        phone="(212) 555-0123",
        email=" alex@example.com ",
        email_consent=False,
        consent_method="verbal",
    )
    assert (e.patient.phone, e.patient.email) == ("+12125550123", "alex@example.com")
    [record] = ConsentRecord.objects.filter(patient=e.patient)
    assert (
        record.channel,
        record.granted,
        record.method,
        record.recorded_by,
        record.recorded_at,
    ) == ("sms", True, "verbal", "test", now)
    assert {d.skip_reason for d in e.deliveries.filter(channel="email")} == {"no_consent"}


def test_naive_infusion_times_are_the_patients_wall_time_and_aware_ones_are_kept(now):
    publish_test_schedule()
    aware = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)
    e = service.enroll(
        patient_input(time_zone="America/Los_Angeles"),
        [datetime(2026, 12, 7, 10), aware],
        now=now,
        actor="test",
    )
    first, second = e.infusions.all()
    assert first.starts_at == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles
    assert second.starts_at == aware


def test_an_ambiguous_wall_time_on_the_autumn_change_is_read_as_the_first_one():
    publish_test_schedule()
    enrolled = datetime(2026, 10, 20, 16, 0, tzinfo=UTC)
    e = service.enroll(patient_input(), [datetime(2026, 11, 1, 1, 30)], now=enrolled, actor="test")
    assert e.infusions.get().starts_at == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )  # 01:30 EDT, not EST


def test_moving_an_infusion_retimes_pending_rows_and_never_touches_sent_ones(now):
    e = enroll_patient(now)
    sent = rows(e)[("what-to-expect", "email")]
    Delivery.objects.filter(pk=sent.pk).update(status=S.SENT, provider_id="<sent>")
    before = rows(e)
    first = e.infusions.get(number=1)
    service.move_infusion(e, 1, first.starts_at + timedelta(days=1), now=now, actor="staff")
    after = rows(e)
    assert after[("what-to-expect", "sms")].due_at == before[
        ("what-to-expect", "sms")
    ].due_at + timedelta(days=1)
    assert after[("what-to-expect", "email")].due_at == before[("what-to-expect", "email")].due_at
    assert (
        after[("what-to-expect", "email")].status == S.SENT
        and after[("what-to-expect", "email")].provider_id == "<sent>"
    )


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


def test_cancelling_infusion_three_skips_steps_that_require_it_and_steps_anchored_on_it(now):
    publish_test_schedule(
        TEST_SCHEDULE + '  - {key: after-four, anchor: infusion 4, offset: +1d, at: "10:00", '
        "channels: [sms], message: hello, requires: infusion 3 done}\n"
    )
    e = enroll_patient(now)
    service.mark_infusion(e, 3, "cancelled", now=now, actor="staff")
    planned = rows(e)
    assert planned[("after-four", "sms")].skip_reason == "condition_unmet"
    assert {planned[("setbacks-are-normal", c)].skip_reason for c in ("sms", "email")} == {
        "infusion_cancelled"
    }
    assert planned[("week-after-last", "email")].status == S.SCHEDULED
    service.mark_infusion(e, 3, "scheduled", now=now, actor="staff")  # booked again after all
    assert {d.status for d in e.deliveries.all()} == {S.SCHEDULED}


def test_cancelling_every_infusion_skips_the_steps_timed_from_the_last_one(now):
    e = enroll_patient(now)
    for number in range(1, 7):
        service.mark_infusion(e, number, "cancelled", now=now, actor="staff")
    planned = rows(e)
    assert planned[("week-after-last", "email")].skip_reason == "infusion_cancelled"
    assert planned[("welcome", "email")].status == S.SCHEDULED


def test_marking_an_infusion_something_else_is_refused(now):
    e = enroll_patient(now)
    with pytest.raises(EnrollmentError) as raised:
        service.mark_infusion(e, 1, "postponed", now=now, actor="staff")
    assert raised.value.field == "status"
    with pytest.raises(EnrollmentError) as raised:
        service.mark_infusion(e, 9, "done", now=now, actor="staff")
    assert raised.value.field == "infusion"


def test_adding_an_infusion_plans_its_steps_and_moves_the_last_infusion_steps(now):
    first = next_monday_10am(now)
    e = enroll_patient(now, mwf_infusions(first, 2))
    assert ("setbacks-are-normal", "sms") not in rows(e)  # no infusion 3 yet: not planned
    assert ("week-after-last", "email") not in rows(e)  # the series' end (infusion 6) not booked
    added = service.add_infusion(e, first + timedelta(days=4), now=now, actor="staff")
    planned = rows(e)
    assert added.number == 3 and planned[("setbacks-are-normal", "sms")].status == S.SCHEDULED
    assert ("week-after-last", "email") not in planned
    assert AuditEvent.objects.filter(
        enrollment=e, event="infusion_added", detail__infusion=3
    ).exists()


def test_an_added_infusion_must_come_last_and_fit_the_series(now):
    first = next_monday_10am(now)
    e = enroll_patient(now, mwf_infusions(first, 2))
    with pytest.raises(EnrollmentError) as raised:
        service.add_infusion(e, first + timedelta(days=1), now=now, actor="staff")
    assert raised.value.field == "starts_at"
    full = enroll_patient(now, phone="+12125550124", email="sam@example.com")
    with pytest.raises(EnrollmentError) as raised:
        service.add_infusion(full, first + timedelta(days=30), now=now, actor="staff")
    assert raised.value.field == "infusions" and full.infusions.count() == 6


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
    sent = rows(e)[("welcome", "sms")]
    Delivery.objects.filter(pk=sent.pk).update(status=S.SENT)
    service.end(e, now=now, actor="staff")
    e.refresh_from_db()
    assert (e.status, e.ended_at) == ("ended", now)
    assert {d.skip_reason for d in e.deliveries.exclude(pk=sent.pk)} == {"enrollment_ended"}
    assert Delivery.objects.get(pk=sent.pk).status == S.SENT


def test_an_ended_series_cannot_be_paused_or_resumed_and_repeats_are_harmless(now):
    e = enroll_patient(now)
    service.pause(e, now=now, actor="staff")
    service.pause(e, now=now, actor="staff")
    assert AuditEvent.objects.filter(enrollment=e, event="paused").count() == 1
    service.end(e, now=now, actor="staff")
    for action in (service.pause, service.resume):
        with pytest.raises(EnrollmentError) as raised:
            action(e, now=now, actor="staff")
        assert raised.value.field == "status"
    e.refresh_from_db()
    assert e.status == "ended"
    active = enroll_patient(now)
    service.resume(
        active, now=now, actor="staff"
    )  # already active: nothing to do, nothing recorded
    assert not AuditEvent.objects.filter(enrollment=active, event="resumed").exists()


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


def test_opting_out_skips_pending_sms_in_every_enrollment_of_the_patient(now):
    first = enroll_patient(now)
    second = Enrollment.objects.create(
        patient=first.patient,
        enrolled_at=now,
        schedule_version=catalog.latest_version("ketamine-six-infusion"),
    )
    Infusion.objects.create(enrollment=second, number=1, starts_at=now + timedelta(days=20))
    service.replan(second, now=now)
    sent = rows(first)[("welcome", "sms")]
    Delivery.objects.filter(pk=sent.pk).update(status=S.SENT)
    later = now + timedelta(hours=1)
    service.record_opt_out(first.patient, "sms", now=later, method="sms_keyword", actor="patient")
    pending_sms = Delivery.objects.filter(enrollment__patient=first.patient, channel="sms").exclude(
        pk=sent.pk
    )
    assert {d.enrollment_id for d in pending_sms} == {first.pk, second.pk}
    assert set(pending_sms.values_list("skip_reason", flat=True)) == {"opted_out"}
    assert Delivery.objects.get(pk=sent.pk).status == S.SENT
    event = AuditEvent.objects.get(event="opted_out")
    assert (event.patient_id, event.at, event.detail["enrollments"]) == (
        first.patient_id,
        later,
        [first.pk, second.pk],
    )
    service.record_opt_in(first.patient, "sms", now=later, method="sms_keyword", actor="patient")
    # The second series' welcome text falls on the day the first one's went out: the cap of one
    # text a day (counting the patient's other series) keeps it back.
    capped = {(d.enrollment_id, d.step_key) for d in pending_sms.all() if d.skip_reason == "cap"}
    assert capped == {(second.pk, "welcome")}
    assert {d.status for d in pending_sms.all() if d.skip_reason != "cap"} == {S.SCHEDULED}
    assert first.patient.sms_opted_out_at is None


def test_opting_out_of_an_unknown_channel_is_refused(now):
    e = enroll_patient(now)
    with pytest.raises(EnrollmentError) as raised:
        service.record_opt_out(e.patient, "fax", now=now, method="provider", actor="staff")
    assert raised.value.field == "channel"


def test_audit_events_carry_ids_and_event_names_but_no_patient_details(now):
    e = enroll_patient(now)
    service.move_infusion(
        e, 2, e.infusions.get(number=2).starts_at + timedelta(hours=1), now=now, actor="staff"
    )
    after_first = e.infusions.get(number=1).starts_at + timedelta(hours=1)
    service.mark_infusion(e, 1, "done", now=after_first, actor="staff")
    service.record_opt_out(e.patient, "email", now=now, method="email_link", actor="patient")
    events = list(AuditEvent.objects.values("event", "actor", "detail", "patient_id"))
    assert [x["event"] for x in sorted(events, key=lambda x: x["event"])] == [
        "enrolled",
        "infusion_done",
        "infusion_moved",
        "opted_out",
    ]
    dumped = json.dumps(events, default=str)
    for secret in ("Alex", "Rivera", "alex@example.com", "2125550123"):
        assert secret not in dumped


def test_replanning_twice_creates_and_changes_nothing(now):
    e = enroll_patient(now)
    before = rows(e)
    result = service.replan(e, now=now)
    assert (result.created, result.retimed, result.skipped) == (0, 0, 0)
    assert rows(e) == before and {k: v.due_at for k, v in rows(e).items()} == {
        k: v.due_at for k, v in before.items()
    }


def test_a_row_being_sent_is_never_changed_by_replanning(now):
    e = enroll_patient(now)
    row = rows(e)[("what-to-expect", "sms")]
    Delivery.objects.filter(pk=row.pk).update(status=S.SENDING)
    service.mark_infusion(e, 1, "cancelled", now=now, actor="staff")
    again = Delivery.objects.get(pk=row.pk)
    assert again.status == S.SENDING and again.due_at == row.due_at


def test_a_queued_row_stays_queued_unless_its_plan_changes(now):
    e = enroll_patient(now)
    welcome, expect = rows(e)[("welcome", "sms")], rows(e)[("what-to-expect", "sms")]
    Delivery.objects.filter(pk__in=[welcome.pk, expect.pk]).update(status=S.QUEUED, queued_at=now)
    service.move_infusion(
        e, 1, e.infusions.get(number=1).starts_at + timedelta(days=1), now=now, actor="staff"
    )
    assert Delivery.objects.get(pk=welcome.pk).status == S.QUEUED  # same plan: left with the worker
    moved = Delivery.objects.get(pk=expect.pk)
    assert (moved.status, moved.queued_at, moved.due_at) == (
        S.SCHEDULED,
        None,
        expect.due_at + timedelta(days=1),
    )


def test_replanning_keeps_a_retry_waiting_out_its_backoff(now):
    e = enroll_patient(now)
    row = rows(e)[("welcome", "email")]
    retry_at = now + timedelta(minutes=5)
    Delivery.objects.filter(pk=row.pk).update(attempts=1, due_at=retry_at)
    sixth = e.infusions.get(number=6).starts_at
    service.move_infusion(e, 6, sixth + timedelta(hours=1), now=now, actor="staff")
    assert Delivery.objects.get(pk=row.pk).due_at == retry_at


def test_the_timeline_reads_in_the_patients_zone_in_order(now):
    e = enroll_patient(now)
    Delivery.objects.filter(enrollment=e, step_key="welcome", channel="sms").update(
        status=S.FAILED, error_code="21211", error_text="invalid number"
    )
    entries = service.timeline(e)
    assert [x.local_due for x in entries] == sorted(x.local_due for x in entries)
    assert entries[0].local_due.tzinfo.key == "America/New_York"
    failed = next(x for x in entries if x.step_key == "welcome" and x.channel == "sms")
    assert failed.status == "failed" and failed.why == "21211 invalid number"
    expect = next(x for x in entries if x.step_key == "what-to-expect" and x.channel == "email")
    assert expect.local_due.replace(tzinfo=None) == datetime(
        2026, 12, 5, 18, 0
    )  # Saturday 18:00 local
    assert "Sat 2026-12-05 18:00 EST" in str(expect)
    keys = [(x.local_due, x.step_key, x.channel) for x in entries]
    assert keys == sorted(keys)


def test_a_schedule_version_that_does_not_validate_is_refused_and_saves_nothing(now):
    publish_test_schedule(
        "name: ketamine-six-infusion\ninfusions: 6\nsteps:\n  - {key: a, anchor: someday}\n"
    )
    before = counts()
    with pytest.raises(EnrollmentError) as raised:
        service.enroll(patient_input(), [datetime(2026, 12, 7, 10)], now=now, actor="test")
    assert raised.value.field == "schedule" and "does not validate" in str(raised.value)
    assert counts() == before


def test_an_enrollment_knows_its_series_size_from_the_schedule(now):
    assert enroll_patient(now).series_size == 6


def test_ending_a_series_after_infusion_four_times_the_end_from_it(now):
    e = enroll_patient(now)
    fourth = e.infusions.get(number=4).starts_at
    later = fourth + timedelta(hours=2)
    with pytest.raises(EnrollmentError) as raised:
        service.end_series_after(e, 5, now=later, actor="staff")  # infusion 5 is still ahead
    assert raised.value.field == "infusion"
    service.end_series_after(e, 4, now=later, actor="staff")
    e.refresh_from_db()
    week_after = rows(e)[("week-after-last", "email")]
    assert e.series_size == 4 and week_after.anchor_infusion == 4
    assert week_after.status == S.SCHEDULED and fourth < week_after.due_at < fourth + timedelta(8)
    assert set(e.infusions.filter(number__gt=4).values_list("status", flat=True)) == {"cancelled"}
    assert AuditEvent.objects.filter(enrollment=e, event="series_ended_early").exists()


def test_the_series_size_can_grow_but_not_below_the_infusions_booked(now):
    first = next_monday_10am(now)
    e = enroll_patient(now, mwf_infusions(first, 3))
    service.set_series_size(e, 3, now=now, actor="staff")
    assert rows(e)[("week-after-last", "email")].anchor_infusion == 3
    with pytest.raises(EnrollmentError) as raised:
        service.set_series_size(e, 2, now=now, actor="staff")
    assert raised.value.field == "series_size"
