"""PURE. The schedule's caps: how many messages a patient may get per local day and per 7 days.

Occupancy is kept as a count of messages per patient-local date, per channel; the planner and
the sender ask the same question of it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from drip.core.schedule import Caps, Channel

_WEEK = 7


class Occupancy:
    """Messages a patient got or will get, counted by channel and patient-local date."""

    def __init__(self, zone: ZoneInfo, caps: Caps) -> None:
        self.zone, self.caps = zone, caps
        self.days: dict[Channel, Counter[date]] = {c: Counter() for c in Channel}

    def add(self, channel: Channel, at: datetime) -> None:
        self.days[channel][at.astimezone(self.zone).date()] += 1

    def fits(self, channel: Channel, at: datetime) -> bool:
        """Whether one more ``channel`` message at ``at`` keeps every cap within its bound."""
        day, days = at.astimezone(self.zone).date(), self.days[channel]
        if channel is Channel.EMAIL:
            return days[day] < self.caps.email_per_day
        if days[day] >= self.caps.sms_per_day:
            return False
        if days.total() < self.caps.sms_per_7_days:
            return True  # fewer texts in all than one week allows (the common case: no scan)
        return all(
            _week_count(days, day - timedelta(days=back)) < self.caps.sms_per_7_days
            for back in range(_WEEK)
        )


def _week_count(days: Counter[date], first: date) -> int:
    return sum(days[first + timedelta(days=i)] for i in range(_WEEK))
