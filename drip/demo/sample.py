"""The sample patient and series used by ``drip preview`` and ``drip demo``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from drip.core.planner import InfusionSlot, Series
from drip.errors import EnrollmentError

SAMPLE_ZONE = "America/New_York"
SAMPLE_FIRST_NAME = "Alex"
# Mon, Wed, Fri of one week, then Mon, Wed, Fri of the next: six infusions over two weeks.
_SAMPLE_DAYS = (0, 2, 4, 7, 9, 11)


def sample_infusion_times(today: date, *, size: int = 6, at: time = time(10, 0)) -> list[datetime]:
    """Naive local times for a typical series starting the Monday after ``today``."""
    monday = today + timedelta(days=7 - today.weekday())
    return [datetime.combine(monday + timedelta(days=d), at) for d in _SAMPLE_DAYS[:size]]


def parse_infusion_times(text: str) -> list[datetime]:
    """``"2026-12-01 09:00,2026-12-03 09:30"`` -> naive local datetimes, in order."""
    times = []
    for number, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        try:
            times.append(datetime.strptime(part, "%Y-%m-%d %H:%M"))
        except ValueError:
            raise EnrollmentError(
                "infusions", f"infusion {number + 1}: '{part}' is not YYYY-MM-DD HH:MM"
            ) from None
    return times


def series_from_local(
    times: list[datetime], time_zone: str, enrolled_at: datetime | None = None
) -> Series:
    """A Series from naive local times; enrolled a week before infusion 1 unless given."""
    zone = ZoneInfo(time_zone)
    slots = tuple(
        InfusionSlot(number=i + 1, starts_at=t.replace(tzinfo=zone)) for i, t in enumerate(times)
    )
    enrolled = enrolled_at or slots[0].starts_at - timedelta(days=7)
    return Series(enrolled_at=enrolled, infusions=slots)
