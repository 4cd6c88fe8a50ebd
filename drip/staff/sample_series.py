"""The timeline picture on the schedule and draft pages: a sample series planned by the real
planner (drip.core.planner.plan), drawn as inline SVG with days across, infusions as tall marks
and one mark per message by channel, plus the same marks as a list in words.

The sample patient consents to email and texts, lives in the clinic's zone, enrolls on a
Thursday and has the whole series booked (Mon/Wed/Fri or Tue/Thu at 10:00 AM from the next
week), so the picture shows what the schedule does when everything goes as planned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from drip.core.planner import InfusionSlot, PatientPrefs, PlannedDelivery, Series, plan
from drip.core.schedule import Channel, Schedule
from drip.core.window import resolve
from drip.staff import words

PATTERNS = {"mwf": ("Mon/Wed/Fri", (0, 2, 4)), "tt": ("Tue/Thu", (1, 3))}
SAMPLE_ENROLLED = datetime(2027, 1, 7, 11, 0)  # a Thursday, local wall time
SAMPLE_WEEK = date(2027, 1, 11)  # the Monday after: infusion 1's week
INFUSION_TIME = time(10, 0)
DAY_PX, LEFT_PX, HEIGHT_PX = 18, 52, 150
EMAIL_Y, SMS_Y, STACK_PX = 44, 96, 13
MORE_REASONS = {"cap": "the most messages a day or week (caps) was reached"}


@dataclass(frozen=True)
class Mark:
    """One thing on the picture: an infusion or a message, at its day (0 = enrollment day)."""

    day: int
    kind: str  # "infusion", "email", "sms"
    x: int
    y: int
    words: str  # the text alternative, e.g. "Tue Jan 12, 5:00 PM EST · Text · reminder-2"
    skipped: bool = False
    label: str = ""  # an infusion's number


@dataclass(frozen=True)
class Picture:
    pattern: str
    pattern_words: str
    caption: str
    width: int
    height: int
    weeks: list[tuple[int, str]]  # (x, "Mon Jan 11") at each Monday
    marks: list[Mark]


def infusion_days(pattern: str, size: int) -> list[date]:
    """The sample series' infusion dates: ``size`` of them on the pattern's weekdays."""
    weekdays = PATTERNS[pattern][1]
    days = [SAMPLE_WEEK + timedelta(weeks=w, days=d) for w in range(20) for d in weekdays]
    return days[:size]


def sample_plan(
    schedule: Schedule, pattern: str, zone: str
) -> tuple[Series, list[PlannedDelivery]]:
    """The real planner's plan for the sample patient (now = the moment they enroll)."""
    tz = ZoneInfo(zone)
    enrolled = resolve(SAMPLE_ENROLLED, tz)
    slots = tuple(
        InfusionSlot(n, resolve(datetime.combine(day, INFUSION_TIME), tz))
        for n, day in enumerate(infusion_days(pattern, schedule.infusions), start=1)
    )
    series = Series(enrolled_at=enrolled, infusions=slots)
    patient = PatientPrefs(time_zone=zone, channels=frozenset(Channel))
    return series, plan(schedule, series, patient, now=enrolled)


def picture(schedule: Schedule, pattern: str, zone: str) -> Picture:
    """The sample series as marks placed on a strip of days, from enrollment to the last mark."""
    pattern = pattern if pattern in PATTERNS else "mwf"
    series, planned = sample_plan(schedule, pattern, zone)
    first = SAMPLE_ENROLLED.date()
    marks = [_infusion_mark(slot, first, zone) for slot in series.infusions]
    stacks: dict[tuple[int, str], int] = {}
    for delivery in planned:
        marks.append(_message_mark(delivery, first, zone, stacks))
    days = max(35, max(m.day for m in marks) + 2)
    days += -days % 7 if first.weekday() == 0 else 0
    return Picture(
        pattern=pattern,
        pattern_words=PATTERNS[pattern][0],
        caption=_caption(schedule, pattern, planned),
        width=LEFT_PX + days * DAY_PX,
        height=HEIGHT_PX,
        weeks=_week_labels(first, days),
        marks=sorted(marks, key=lambda m: (m.day, m.kind != "infusion")),
    )


def _x(day: int) -> int:
    return LEFT_PX + day * DAY_PX + DAY_PX // 2


def _infusion_mark(slot: InfusionSlot, first: date, zone: str) -> Mark:
    day = (slot.starts_at.astimezone(ZoneInfo(zone)).date() - first).days
    when = words.local_time(slot.starts_at, zone)
    return Mark(
        day, "infusion", _x(day), 0, f"{when} · Infusion {slot.number}", False, str(slot.number)
    )


def _message_mark(
    delivery: PlannedDelivery, first: date, zone: str, stacks: dict[tuple[int, str], int]
) -> Mark:
    """A message's mark; several on one day stack downwards in their channel's row."""
    day = (delivery.due_at.astimezone(ZoneInfo(zone)).date() - first).days
    kind = delivery.channel.value
    level = stacks.get((day, kind), 0)
    stacks[(day, kind)] = level + 1
    y = (EMAIL_Y if kind == "email" else SMS_Y) + level * STACK_PX
    channel = "Email" if kind == "email" else "Text"
    what = delivery.step_key
    what += f" ({delivery.message})" if delivery.message != delivery.step_key else ""
    text = f"{words.local_time(delivery.due_at, zone)} · {channel} · {what}"
    if delivery.skip_reason is not None:
        code = delivery.skip_reason.value
        reason = words.SKIP_REASON.get(code) or MORE_REASONS.get(code, code)
        text += f" · not sent: {reason}"
    return Mark(day, kind, _x(day), y, text, skipped=delivery.skip_reason is not None)


def _week_labels(first: date, days: int) -> list[tuple[int, str]]:
    mondays = [
        first + timedelta(days=d) for d in range(days) if (first + timedelta(d)).weekday() == 0
    ]
    return [(LEFT_PX + (m - first).days * DAY_PX, f"{m:%a %b} {m.day}") for m in mondays]


def _caption(schedule: Schedule, pattern: str, planned: list[PlannedDelivery]) -> str:
    sent = [p for p in planned if not p.skipped]
    emails = sum(p.channel is Channel.EMAIL for p in sent)
    texts = len(sent) - emails
    skipped = len(planned) - len(sent)
    caption = (
        f"A sample series: {schedule.infusions} infusions on {PATTERNS[pattern][0]} at 10:00 AM, "
        f"enrolled on {SAMPLE_ENROLLED:%a %b} {SAMPLE_ENROLLED.day}. {emails} email"
        f"{'s' if emails != 1 else ''} and {texts} text{'s' if texts != 1 else ''}"
    )
    return caption + (f"; {skipped} not sent." if skipped else ".")
