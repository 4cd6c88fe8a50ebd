"""The series patterns of issue 10's "Why", and the rules every plan must keep.

``python -m tests.core.sweep`` prints how many patterns break a rule (the figure for the note);
``tests/core/test_sweep.py`` asserts none does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from drip.core.planner import InfusionSlot, PatientPrefs, PlannedDelivery, Series, plan
from drip.core.schedule import AnchorKind, Channel, Schedule, parse_schedule

SHIPPED = Path(__file__).resolve().parents[2] / "schedules" / "ketamine-six-infusion.yaml"
# Each zone with the two dates of 2026 its clocks change (Lord Howe moves by half an hour).
DST_DATES = {
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    "America/St_Johns": (date(2026, 3, 8), date(2026, 11, 1)),
    "Australia/Lord_Howe": (date(2026, 4, 5), date(2026, 10, 4)),
}
HOURS = (time(7, 0), time(10, 0), time(19, 0))
LEADS = tuple(timedelta(hours=h) for h in (14 * 24, 7 * 24, 3 * 24, 2 * 24, 24, 20))
# Days after infusion 1: Mon/Wed/Fri for two weeks; Tue/Thu for three weeks (weekday of day 0).
PATTERNS = {"mon-wed-fri": (0, (0, 2, 4, 7, 9, 11)), "tue-thu": (1, (0, 2, 7, 9, 14, 16))}


@dataclass(frozen=True)
class Pattern:
    zone: str
    starts: tuple[datetime, ...]  # all six infusions, aware
    booked: int  # how many of them staff have booked
    enrolled_at: datetime
    name: str


def shipped_schedule() -> Schedule:
    return parse_schedule(SHIPPED.read_text(), source=SHIPPED.name)


def patterns() -> Iterator[Pattern]:
    """3 zones x 2 DST dates x 3 hours x 2 patterns x (6 leads + 6 late + 5 partial bookings)."""
    for zone, dates in DST_DATES.items():
        for change in dates:
            for hour in HOURS:
                for pattern, (weekday, days) in PATTERNS.items():
                    yield from _variants(
                        zone,
                        _series_starts(zone, change, hour, weekday, days),
                        f"{zone} {change} {hour:%H:%M} {pattern}",
                    )


def _series_starts(
    zone: str, change: date, hour: time, weekday: int, days: tuple[int, ...]
) -> tuple[datetime, ...]:
    # The series starts in the week before the clocks change, so the change falls inside it.
    first = change - timedelta(days=7) + timedelta(days=(weekday - change.weekday()) % 7)
    return tuple(datetime.combine(first + timedelta(days=d), hour, ZoneInfo(zone)) for d in days)


def _variants(zone: str, starts: tuple[datetime, ...], name: str) -> Iterator[Pattern]:
    for lead in LEADS:
        yield Pattern(zone, starts, 6, starts[0] - lead, f"{name} lead {lead}")
    for number in range(1, 7):
        late = starts[number - 1] + timedelta(hours=1)
        yield Pattern(zone, starts, 6, late, f"{name} enrolled after infusion {number}")
    for booked in range(1, 6):
        yield Pattern(
            zone, starts, booked, starts[0] - timedelta(days=7), f"{name} {booked} booked"
        )


def plan_pattern(schedule: Schedule, p: Pattern) -> list[PlannedDelivery]:
    slots = tuple(InfusionSlot(i + 1, t) for i, t in enumerate(p.starts[: p.booked]))
    return plan(
        schedule,
        Series(p.enrolled_at, slots),
        PatientPrefs(p.zone, frozenset(Channel)),
        p.enrolled_at,
    )


def broken_rules(schedule: Schedule, p: Pattern) -> list[str]:
    """Every rule the plan of ``p`` breaks (empty: a good plan)."""
    planned = [d for d in plan_pattern(schedule, p) if not d.skipped]
    zone = ZoneInfo(p.zone)
    broken = _caps(planned, zone) + _window(planned, zone, schedule)
    due = {d.step_key: d.due_at for d in planned}
    if "what-to-expect" in due and due["what-to-expect"] >= p.starts[0]:
        broken.append("order: what-to-expect after infusion 1")
    if "setbacks-are-normal" in due and due["setbacks-are-normal"] <= p.starts[2]:
        broken.append("order: setbacks-are-normal before infusion 3")
    ending = {s.key for s in schedule.steps if s.anchor.kind is AnchorKind.LAST_INFUSION}
    if any(d.step_key in ending and d.due_at <= p.starts[-1] for d in planned):
        broken.append("end-of-series message before the series ends")
    if p.enrolled_at <= p.starts[2] + timedelta(hours=1) and p.booked >= 3:
        for key in ("a-tool-not-a-magic-wand", "setbacks-are-normal"):
            if key not in due:
                broken.append(f"essential: {key} never reaches the patient")
    return broken


def _caps(planned: list[PlannedDelivery], zone: ZoneInfo) -> list[str]:
    broken = []
    for channel, per_day in ((Channel.SMS, 1), (Channel.EMAIL, 1)):
        days = Counter(d.due_at.astimezone(zone).date() for d in planned if d.channel is channel)
        if any(n > per_day for n in days.values()):
            broken.append(f"cap: more than {per_day} {channel.value} on one day")
        if channel is Channel.SMS and any(
            sum(days[start + timedelta(days=i)] for i in range(7)) > 3 for start in list(days)
        ):
            broken.append("cap: more than 3 sms in 7 days")
    return broken


def _window(planned: list[PlannedDelivery], zone: ZoneInfo, schedule: Schedule) -> list[str]:
    window = schedule.send_window
    outside = [
        d for d in planned if not window.start <= d.due_at.astimezone(zone).time() < window.end
    ]
    return ["window: sent outside the send window"] if outside else []


def main() -> None:
    schedule = shipped_schedule()
    results = [(p, broken_rules(schedule, p)) for p in patterns()]
    bad = [(p, b) for p, b in results if b]
    base = [r for r in results if "lead" in r[0].name]
    print(
        f"{len(bad)} of {len(results)} patterns break a rule "
        f"({sum(1 for _, b in base if b)} of {len(base)} with every infusion booked ahead)"
    )
    for rule, count in Counter(rule for _, b in bad for rule in set(b)).most_common():
        print(f"  {count:4d}  {rule}")


if __name__ == "__main__":
    main()
