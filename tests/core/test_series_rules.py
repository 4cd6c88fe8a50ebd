"""Issue 10's defects, one table row each, on the shipped schedule; then the cap properties."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from drip.core.planner import InfusionSlot, PatientPrefs, PlannedDelivery, Sent, Series, plan
from drip.core.schedule import AnchorKind, Channel
from tests.core.sweep import shipped_schedule

SCHEDULE = shipped_schedule()
NY = "America/New_York"
PREFS = PatientPrefs(NY, frozenset(Channel))
END_OF_SERIES = {s.key for s in SCHEDULE.steps if s.anchor.kind is AnchorKind.LAST_INFUSION}


def mwf(*days: int, hour: int = 10) -> list[datetime]:
    """Infusions at ``hour`` New York time, ``days`` after Monday 7 December 2026."""
    first = datetime(2026, 12, 7, hour, tzinfo=ZoneInfo(NY))
    return [first + timedelta(days=d) for d in days]


def planned(starts: list[datetime], enrolled: datetime) -> list[PlannedDelivery]:
    slots = tuple(InfusionSlot(i + 1, t) for i, t in enumerate(starts))
    return [p for p in plan(SCHEDULE, Series(enrolled, slots), PREFS, enrolled) if not p.skipped]


def sms_days(plan_: list[PlannedDelivery], zone: str = NY) -> Counter[datetime]:
    return Counter(p.due_at.astimezone(ZoneInfo(zone)).date() for p in plan_ if p.channel == "sms")


def most_in_7_days(days: Counter[datetime]) -> int:
    return max(sum(days[d + timedelta(days=i)] for i in range(7)) for d in days)


# --- Why 1: "You finished your series!" mid-series -------------------------------------------


def test_with_three_of_six_booked_nothing_for_the_end_of_the_series_is_planned():
    starts = mwf(0, 2, 4)
    keys = {p.step_key for p in planned(starts, starts[0] - timedelta(days=7))}
    assert keys & END_OF_SERIES == set()


def test_end_of_series_steps_follow_infusion_six_once_it_is_booked():
    starts = mwf(0, 2, 4, 7, 9, 11)
    plan_ = planned(starts, starts[0] - timedelta(days=7))
    ends = [p for p in plan_ if p.step_key in END_OF_SERIES]
    assert ends and all(p.due_at > starts[5] and p.anchor_infusion == 6 for p in ends)


def test_a_series_ended_after_infusion_four_times_its_end_from_infusion_four():
    starts = mwf(0, 2, 4, 7)
    slots = tuple(InfusionSlot(i + 1, t) for i, t in enumerate(starts))
    series = Series(starts[0] - timedelta(days=7), slots, size=4)
    plan_ = plan(SCHEDULE, series, PREFS, series.enrolled_at)
    ends = [p for p in plan_ if p.step_key in END_OF_SERIES and not p.skipped]
    assert ends and {p.anchor_infusion for p in ends} == {4}


# --- Why 2: caps kept only by the schedule's spacing -----------------------------------------


def test_moving_infusion_four_a_day_later_keeps_three_texts_in_any_seven_days():
    starts = mwf(0, 2, 4, 8, 9, 11)  # the demo's move: Monday's infusion 4 on Tuesday
    days = sms_days(planned(starts, starts[0] - timedelta(days=7)))
    assert most_in_7_days(days) <= 3 and max(days.values()) == 1


def test_a_daily_series_gets_at_most_three_texts_in_seven_days():
    starts = mwf(0, 1, 2, 3, 4, 5)
    days = sms_days(planned(starts, starts[0] - timedelta(days=7)))
    assert most_in_7_days(days) <= 3


def test_enrolled_the_day_before_infusion_one_the_welcome_and_reminder_are_not_the_same_day():
    starts = mwf(0, 2, 4, 7, 9, 11, hour=19)
    enrolled = datetime(2026, 12, 6, 11, tzinfo=ZoneInfo(NY))
    assert max(sms_days(planned(starts, enrolled)).values()) == 1


def test_the_grace_period_does_not_fire_a_reminder_beside_the_welcome():
    starts = mwf(0, 2, 4, 7, 9, 11)
    enrolled = datetime(2026, 12, 6, 18, 30, tzinfo=ZoneInfo(NY))  # reminder-1 was due 17:00
    assert max(sms_days(planned(starts, enrolled)).values()) == 1


# --- Why 3: a late joiner never hears the first lesson ---------------------------------------


def test_enrolled_after_infusion_two_the_first_lesson_is_caught_up():
    starts = mwf(0, 2, 4, 7, 9, 11)
    enrolled = starts[1] + timedelta(hours=3)
    plan_ = {p.step_key: p for p in planned(starts, enrolled)}
    assert plan_["a-tool-not-a-magic-wand"].due_at > enrolled
    assert "setbacks-are-normal" in plan_


# --- properties: any series, any lead, any moves ---------------------------------------------

ZONES = ["America/New_York", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def series_cases(draw):
    zone = draw(st.sampled_from(ZONES))
    first = draw(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)))
    first = first.replace(second=0, microsecond=0, tzinfo=ZoneInfo(zone))
    size = draw(st.integers(min_value=1, max_value=20))
    gaps = draw(st.lists(st.integers(60, 9 * 24 * 60), min_size=size - 1, max_size=size - 1))
    starts = [first]
    for gap in gaps:
        starts.append(starts[-1] + timedelta(minutes=gap))
    lead = timedelta(minutes=draw(st.integers(-10 * 24 * 60, 30 * 24 * 60)))  # < 0: late
    booked = draw(st.integers(min_value=1, max_value=size))
    slots = tuple(InfusionSlot(i + 1, t) for i, t in enumerate(starts[:booked]))
    return zone, Series(first - lead, slots, size=size)


def move_one(data: st.DataObject, series: Series) -> Series:
    """``series`` with one infusion moved up to three days either way (kept in order, as the
    service requires; a move out of order is dropped)."""
    index = data.draw(st.integers(0, len(series.infusions) - 1))
    slots = list(series.infusions)
    moved = slots[index].starts_at + timedelta(minutes=data.draw(st.integers(-4320, 4320)))
    before = slots[index - 1].starts_at if index else None
    after = slots[index + 1].starts_at if index + 1 < len(slots) else None
    if (before and moved <= before) or (after and moved >= after):
        return series
    slots[index] = replace(slots[index], starts_at=moved)
    return replace(series, infusions=tuple(slots))


def assert_keeps_caps_and_window(
    zone: str, plan_: list[PlannedDelivery], sent: list[Sent] = ()
) -> None:
    local = ZoneInfo(zone)
    kept = [p for p in plan_ if not p.skipped]
    for p in kept:
        at = p.due_at.astimezone(local).time()
        assert SCHEDULE.send_window.start <= at < SCHEDULE.send_window.end
    every = [(p.channel, p.due_at) for p in kept] + [(s.channel, s.at) for s in sent]
    days = Counter(at.astimezone(local).date() for c, at in every if c == "sms")
    assert not days or (max(days.values()) <= 1 and most_in_7_days(days) <= 3)
    emails = Counter(at.astimezone(local).date() for c, at in every if c == "email")
    assert not emails or max(emails.values()) <= 1


@settings(max_examples=200, deadline=None)
@given(series_cases(), st.data())
def test_no_cap_is_ever_broken_and_nothing_leaves_the_window_after_any_moves(case, data):
    zone, series = case
    prefs = PatientPrefs(zone, frozenset(Channel))
    now, sent = series.enrolled_at, []
    plan_ = plan(SCHEDULE, series, prefs, now)
    assert_keeps_caps_and_window(zone, plan_)
    for _ in range(data.draw(st.integers(0, 4))):
        # Time passes (what fell due went out), staff move an infusion, the series is re-planned.
        now += timedelta(hours=data.draw(st.integers(0, 72)))
        sent += [
            Sent(p.channel, p.due_at, p.step_key) for p in plan_ if not p.skipped and p.due_at < now
        ]
        series = move_one(data, series)
        plan_ = plan(SCHEDULE, series, prefs, now, sent)
        assert_keeps_caps_and_window(zone, plan_, sent)
