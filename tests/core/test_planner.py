"""The planner: a table of real-world cases, then properties that must hold for any input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drip.core.planner import (
    InfusionSlot,
    InfusionStatus,
    PatientPrefs,
    Sent,
    Series,
    SkipReason,
    in_send_window,
    next_window_opening,
    plan,
)
from drip.core.schedule import Channel, parse_schedule

SCHEDULE = parse_schedule(
    """\
name: t
infusions: 6
send_window: {start: "09:00", end: "20:00"}
steps:
  - {key: welcome, anchor: enrollment, offset: 0m, channels: [email, sms], message: m}
  - {key: before-first, anchor: infusion 1, offset: -2d, at: "18:00", channels: [sms], message: m}
  - {key: three-hours-before-second, anchor: infusion 2, offset: -3h, channels: [sms], message: m}
  - {key: after-third, anchor: infusion 3, offset: +1d, at: "10:00", channels: [email], message: m, requires: infusion 3 done}
  - {key: day-after-fourth, anchor: infusion 4, offset: +1d, channels: [email], message: m}
  - {key: week-after-last, anchor: last infusion, offset: +1w, at: "10:00", channels: [email, sms], message: m}
""",
    source="t.yaml",
)
BOTH = frozenset(Channel)
NY, AUCKLAND = "America/New_York", "Pacific/Auckland"


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def series(
    zone: str, starts: list[datetime], enrolled: datetime | None = None, **status: InfusionStatus
) -> Series:
    slots = tuple(
        InfusionSlot(i + 1, t, status.get(f"i{i + 1}", InfusionStatus.SCHEDULED))
        for i, t in enumerate(starts)
    )
    return Series(enrolled or starts[0] - timedelta(days=7), slots)


def mwf(zone: str, year: int, month: int, day: int, hour: int = 10) -> list[datetime]:
    first = datetime(year, month, day, hour)
    return [(first + timedelta(days=d)).replace(tzinfo=ZoneInfo(zone)) for d in (0, 2, 4, 7, 9, 11)]


def due(planned, key: str, channel: Channel = None):
    return next(
        p for p in planned if p.step_key == key and (channel is None or p.channel is channel)
    )


def as_local(p, zone: str) -> datetime:
    return p.due_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def test_steps_land_at_their_local_times_in_the_patients_zone():
    s = series(NY, mwf(NY, 2026, 12, 7))
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)
    assert as_local(due(planned, "before-first"), NY) == datetime(2026, 12, 5, 18, 0)
    assert as_local(due(planned, "three-hours-before-second"), NY) == datetime(
        2026, 12, 9, 7, 0
    ) + timedelta(hours=2)  # 07:00 -> window opens 09:00
    assert as_local(due(planned, "after-third"), NY) == datetime(2026, 12, 12, 10, 0)
    assert as_local(due(planned, "week-after-last", Channel.SMS), NY) == datetime(
        2026, 12, 25, 10, 0
    )
    assert all(p.due_at.tzinfo is UTC for p in planned)


def test_a_dst_gap_moves_a_local_time_forward_and_an_overlap_takes_the_first_instant():
    gap_day = parse_schedule(
        """\
name: t
infusions: 1
send_window: {start: "08:00", end: "21:00"}
steps:
  - {key: a, anchor: infusion 1, offset: -1d, channels: [sms], message: m}
""",
        source="t.yaml",
    )
    # Infusion 1 at 02:30 on Mar 9 2026 would put "-1d" at 02:30 on Mar 8: a time that does not exist.
    at_gap = series(NY, [local(NY, 2026, 3, 9, 2, 30)])
    p = plan(gap_day, at_gap, PatientPrefs(NY, BOTH), now=at_gap.enrolled_at)[0]
    assert p.due_at == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )  # 03:30 EDT, then the window opens at 08:00 EDT
    raw = datetime(2026, 3, 8, 2, 30).replace(tzinfo=ZoneInfo(NY), fold=0).astimezone(UTC)
    assert raw.astimezone(ZoneInfo(NY)).strftime("%H:%M %Z") == "03:30 EDT"
    ambiguous = datetime(2026, 11, 1, 1, 30).replace(tzinfo=ZoneInfo(NY), fold=0).astimezone(UTC)
    assert ambiguous == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first of the two


def test_a_day_offset_keeps_the_wall_clock_hour_across_a_dst_change():
    starts = [
        local(NY, 2026, 10, 31, 10, 0),
        local(NY, 2026, 11, 2, 10, 0),
        local(NY, 2026, 11, 4, 10, 0),
        local(NY, 2026, 11, 6, 10, 0),
    ]
    s = series(NY, starts)
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)
    # Infusion 4 on Fri Nov 6 10:00 EST; "+1d" -> Sat 10:00 EST even though Nov 1 changed the offset.
    assert as_local(due(planned, "day-after-fourth"), NY) == datetime(2026, 11, 7, 10, 0)


def test_a_series_across_a_month_end_lands_on_the_right_days():
    s = series(NY, mwf(NY, 2027, 1, 29))  # Fri Jan 29 ... into February
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)
    assert as_local(due(planned, "after-third"), NY) == datetime(2027, 2, 3, 10, 0)
    assert as_local(due(planned, "week-after-last", Channel.EMAIL), NY) == datetime(
        2027, 2, 16, 10, 0
    )


def test_a_patient_in_auckland_gets_their_own_local_date_not_utcs():
    s = series(AUCKLAND, mwf(AUCKLAND, 2026, 12, 7, hour=9))
    planned = plan(SCHEDULE, s, PatientPrefs(AUCKLAND, BOTH), now=s.enrolled_at)
    before_first = due(planned, "before-first")
    assert as_local(before_first, AUCKLAND) == datetime(2026, 12, 5, 18, 0)
    assert before_first.due_at == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)  # NZDT is UTC+13


def test_late_enrollment_skips_past_steps_instead_of_sending_them_all_at_once():
    starts = mwf(NY, 2026, 12, 7)
    now = local(NY, 2026, 12, 12, 12, 0)  # after infusion 3 (Fri Dec 11), before infusion 4
    s = series(NY, starts, enrolled=now)
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=now)
    assert due(planned, "before-first").skip_reason is SkipReason.TOO_LATE
    assert due(planned, "three-hours-before-second").skip_reason is SkipReason.TOO_LATE
    # after-third was due 10:00 today: 2 hours ago, within the default grace, so it still goes.
    assert due(planned, "after-third").skip_reason is None
    assert due(planned, "welcome", Channel.SMS).skip_reason is None
    assert due(planned, "day-after-fourth").skip_reason is None


def test_a_step_outside_the_window_moves_to_the_next_opening():
    assert next_window_opening(local(NY, 2026, 12, 1, 21, 30), NY, SCHEDULE.send_window) == local(
        NY, 2026, 12, 2, 9, 0
    )
    assert next_window_opening(local(NY, 2026, 12, 1, 6, 0), NY, SCHEDULE.send_window) == local(
        NY, 2026, 12, 1, 9, 0
    )
    inside = local(NY, 2026, 12, 1, 12, 0)
    assert next_window_opening(inside, NY, SCHEDULE.send_window) == inside
    assert not in_send_window(local(NY, 2026, 12, 1, 20, 0), NY, SCHEDULE.send_window)


def test_a_cancelled_infusion_skips_its_steps_and_conditional_steps_that_need_it():
    s = series(NY, mwf(NY, 2026, 12, 7), i3=InfusionStatus.CANCELLED)
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)
    assert due(planned, "after-third").skip_reason is SkipReason.INFUSION_CANCELLED
    assert due(planned, "day-after-fourth").skip_reason is None


def test_a_condition_on_a_cancelled_infusion_is_unmet():
    schedule = replace(
        SCHEDULE,
        steps=tuple(
            replace(st_, requires_done=2) if st_.key == "day-after-fourth" else st_
            for st_ in SCHEDULE.steps
        ),
    )
    s = series(NY, mwf(NY, 2026, 12, 7), i2=InfusionStatus.CANCELLED)
    assert (
        due(
            plan(schedule, s, PatientPrefs(NY, BOTH), now=s.enrolled_at), "day-after-fourth"
        ).skip_reason
        is SkipReason.CONDITION_UNMET
    )


def test_last_infusion_means_the_last_one_not_cancelled():
    s = series(NY, mwf(NY, 2026, 12, 7), i6=InfusionStatus.CANCELLED)
    planned = plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)
    week_after = due(planned, "week-after-last", Channel.EMAIL)
    assert week_after.anchor_infusion == 5 and as_local(week_after, NY) == datetime(
        2026, 12, 23, 10, 0
    )


def test_steps_for_infusions_not_yet_booked_are_left_out():
    # The last infusion of a series of 6 is infusion 6: with 2 booked, "week after last" waits.
    s = series(NY, mwf(NY, 2026, 12, 7)[:2])
    keys = {p.step_key for p in plan(SCHEDULE, s, PatientPrefs(NY, BOTH), now=s.enrolled_at)}
    assert keys == {"welcome", "before-first", "three-hours-before-second"}


def test_a_channel_the_patient_did_not_consent_to_is_skipped():
    s = series(NY, mwf(NY, 2026, 12, 7))
    planned = plan(SCHEDULE, s, PatientPrefs(NY, frozenset({Channel.EMAIL})), now=s.enrolled_at)
    assert {p.skip_reason for p in planned if p.channel is Channel.SMS} == {SkipReason.NO_CONSENT}
    assert {p.skip_reason for p in planned if p.channel is Channel.EMAIL} == {None}


def test_an_unknown_time_zone_is_refused_naming_the_field():
    from drip.errors import EnrollmentError

    s = series(NY, mwf(NY, 2026, 12, 7))
    with pytest.raises(EnrollmentError, match="time_zone"):
        plan(SCHEDULE, s, PatientPrefs("Mars/Olympus_Mons", BOTH), now=s.enrolled_at)


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Auckland",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "America/St_Johns",
]
starts_st = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31))
gaps_st = st.lists(st.integers(min_value=60, max_value=7 * 24 * 60), min_size=5, max_size=5)


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(ZONES))
    first = draw(starts_st).replace(second=0, microsecond=0, tzinfo=ZoneInfo(zone))
    starts = [first]
    for gap in draw(gaps_st):
        starts.append(starts[-1] + timedelta(minutes=gap))
    enrolled = first - timedelta(minutes=draw(st.integers(min_value=0, max_value=30 * 24 * 60)))
    return zone, Series(
        enrolled, tuple(InfusionSlot(i + 1, t.astimezone(UTC)) for i, t in enumerate(starts))
    )


@settings(max_examples=150, deadline=None)
@given(cases())
def test_nothing_is_ever_planned_outside_the_send_window(case):
    zone, s = case
    for p in plan(SCHEDULE, s, PatientPrefs(zone, BOTH), now=s.enrolled_at):
        local_time = p.due_at.astimezone(ZoneInfo(zone)).time()
        assert time(9) <= local_time < time(20), (p, zone)


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(min_value=0, max_value=60 * 24 * 14))
def test_replanning_later_is_stable_for_everything_still_ahead(case, minutes_later):
    zone, s = case
    prefs = PatientPrefs(zone, BOTH)
    first = plan(SCHEDULE, s, prefs, now=s.enrolled_at)
    later_now = s.enrolled_at + timedelta(minutes=minutes_later)
    # By then, what was due has gone out: the re-planner passes it as history.
    sent = [Sent(p.channel, p.due_at, p.step_key) for p in first if p.due_at < later_now]
    again = {(p.step_key, p.channel): p for p in plan(SCHEDULE, s, prefs, later_now, sent)}
    assert plan(SCHEDULE, s, prefs, now=s.enrolled_at) == first  # deterministic
    for a in first:
        if a.due_at >= later_now:
            assert again[a.step_key, a.channel] == a


@settings(max_examples=150, deadline=None)
@given(
    cases(), st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=60 * 24 * 3)
)
def test_moving_an_infusion_later_never_moves_its_own_steps_earlier(case, index, minutes):
    zone, s = case
    moved_at = s.infusions[index].starts_at + timedelta(minutes=minutes)
    if index + 1 < len(s.infusions) and moved_at >= s.infusions[index + 1].starts_at:
        return  # a move past the next infusion is refused by the service; not a planner input
    moved = replace(
        s,
        infusions=tuple(
            replace(i, starts_at=moved_at) if i.number == index + 1 else i for i in s.infusions
        ),
    )
    prefs = PatientPrefs(zone, BOTH)
    before = {
        (p.step_key, p.channel): p
        for p in plan(SCHEDULE, s, prefs, now=s.enrolled_at)
        if p.anchor_infusion == index + 1
    }
    after = {
        (p.step_key, p.channel): p
        for p in plan(SCHEDULE, moved, prefs, now=s.enrolled_at)
        if p.anchor_infusion == index + 1
    }
    for key, p in before.items():
        if key in after:
            assert after[key].due_at >= p.due_at
