"""PURE. Time zones and the send window: local wall time <-> UTC instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drip.core.schedule import SendWindow
from drip.errors import EnrollmentError


@lru_cache(maxsize=512)
def zone_of(name: str) -> ZoneInfo:
    """The IANA zone ``name``; EnrollmentError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EnrollmentError("time_zone", f"'{name}' is not an IANA time zone") from None


def resolve(local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time -> UTC instant. fold=0: a time in a DST gap moves forward by the gap
    (it is read with the offset before the change); an ambiguous time takes the first instant."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_opening(instant: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    """``instant`` (in UTC) if inside the window in ``zone``, else the window's next opening."""
    local = instant.astimezone(zone)
    if window.start <= local.time() < window.end:
        return instant.astimezone(UTC)
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    return resolve(datetime.combine(day, window.start), zone)


def in_send_window(instant: datetime, time_zone: str, window: SendWindow) -> bool:
    """Whether ``instant`` falls inside [start, end) of the window in the patient's zone."""
    local = instant.astimezone(zone_of(time_zone)).time()
    return window.start <= local < window.end


def next_window_opening(instant: datetime, time_zone: str, window: SendWindow) -> datetime:
    """``instant`` itself (in UTC) if inside the window, else the next opening of the window."""
    return next_opening(instant, zone_of(time_zone), window)
