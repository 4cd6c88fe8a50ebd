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
        return _every_week_below(days, day, self.caps.sms_per_7_days)


def _every_week_below(days: Counter[date], day: date, cap: int) -> bool:
    """Whether every 7-day window holding ``day`` has fewer than ``cap`` messages: one pass over
    the 13 days around it, the window sliding a day at a time."""
    counts = [days[day + timedelta(days=offset)] for offset in range(-_WEEK + 1, _WEEK)]
    window = sum(counts[:_WEEK])
    if window >= cap:
        return False
    for leaving, entering in zip(counts, counts[_WEEK:], strict=False):
        window += entering - leaving
        if window >= cap:
            return False
    return True
