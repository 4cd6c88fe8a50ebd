"""PURE. ``plan(schedule, series, patient, now)`` -> one ``PlannedDelivery`` per (step, channel).

No Django, no DB, no clock: ``now`` is an argument. All datetimes in and out are timezone-aware;
``due_at`` is UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from drip.core.schedule import Anchor, AnchorKind, Channel, Schedule, SendWindow, Step
from drip.errors import EnrollmentError


class InfusionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


class SkipReason(enum.StrEnum):
    TOO_LATE = "too_late"  # already past at planning, beyond the grace period
    INFUSION_CANCELLED = "infusion_cancelled"  # the step's anchor infusion was cancelled
    CONDITION_UNMET = "condition_unmet"  # requires: infusion N done, and N was cancelled
    NO_CONSENT = "no_consent"  # patient has not consented to / chosen this channel
    OPTED_OUT = "opted_out"
    ENROLLMENT_ENDED = "enrollment_ended"
    PAUSED = "paused"


@dataclass(frozen=True)
class InfusionSlot:
    number: int  # 1-based
    starts_at: datetime  # aware; an instant (shown to the patient in their zone)
    status: InfusionStatus = InfusionStatus.SCHEDULED


@dataclass(frozen=True)
class Series:
    enrolled_at: datetime  # aware
    infusions: tuple[InfusionSlot, ...]


@dataclass(frozen=True)
class PatientPrefs:
    time_zone: str  # IANA name, e.g. "America/New_York"
    channels: frozenset[Channel]  # channels the patient consented to


@dataclass(frozen=True)
class PlannedDelivery:
    step_key: str
    channel: Channel
    message: str
    due_at: datetime  # aware, UTC, inside the send window in the patient's zone
    anchor_infusion: int | None  # the infusion whose details the message shows (None: enrollment)
    skip_reason: SkipReason | None = None  # None = to be sent

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


def plan(
    schedule: Schedule, series: Series, patient: PatientPrefs, now: datetime
) -> list[PlannedDelivery]:
    """One PlannedDelivery per (step, channel), due inside the send window, in a stable order.

    Steps anchored on an infusion the series does not have (yet) are left out.
    """
    zone = _zone(patient.time_zone)
    slots = {slot.number: slot for slot in series.infusions}
    planned: list[tuple[datetime, int, int, PlannedDelivery]] = []
    for step_index, step in enumerate(schedule.steps):
        anchor = _anchor_slot(step.anchor, series)
        if anchor is None and step.anchor.kind is not AnchorKind.ENROLLMENT:
            continue
        anchor_at = anchor.starts_at if anchor else series.enrolled_at
        due = _next_opening(
            _step_time(anchor_at, step.offset, step.at, zone), zone, schedule.send_window
        )
        for channel_index, channel in enumerate(step.channels):
            reason = _skip_reason(
                step, anchor, slots, channel, patient, due, now - schedule.late_grace
            )
            number = anchor.number if anchor else None
            delivery = PlannedDelivery(step.key, channel, step.message, due, number, reason)
            planned.append((due, step_index, channel_index, delivery))
    planned.sort(key=lambda item: item[:3])
    return [item[3] for item in planned]


def in_send_window(instant: datetime, time_zone: str, window: SendWindow) -> bool:
    """Whether ``instant`` falls inside [start, end) of the window in the patient's zone."""
    local = instant.astimezone(_zone(time_zone)).time()
    return window.start <= local < window.end


def next_window_opening(instant: datetime, time_zone: str, window: SendWindow) -> datetime:
    """``instant`` itself (in UTC) if inside the window, else the next opening of the window."""
    return _next_opening(instant, _zone(time_zone), window)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EnrollmentError("time_zone", f"'{name}' is not an IANA time zone") from None


def _anchor_slot(anchor: Anchor, series: Series) -> InfusionSlot | None:
    if anchor.kind is AnchorKind.INFUSION:
        return next((s for s in series.infusions if s.number == anchor.infusion), None)
    if anchor.kind is AnchorKind.LAST_INFUSION:
        live = [s for s in series.infusions if s.status is not InfusionStatus.CANCELLED]
        return max(live, key=lambda s: s.number, default=None)
    return None


def _step_time(anchor_at: datetime, offset: timedelta, at: time | None, zone: ZoneInfo) -> datetime:
    """Wall-clock arithmetic in the patient's zone, so "+1d" keeps the hour across DST."""
    local = anchor_at.astimezone(zone).replace(tzinfo=None) + offset
    if at is not None:
        local = datetime.combine(local.date(), at)
    return _resolve(local, zone)


def _resolve(local: datetime, zone: ZoneInfo) -> datetime:
    """Local wall time -> UTC instant. fold=0: a time in a DST gap moves forward by the gap
    (it is read with the offset before the change); an ambiguous time takes the first instant."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _next_opening(instant: datetime, zone: ZoneInfo, window: SendWindow) -> datetime:
    local = instant.astimezone(zone)
    if window.start <= local.time() < window.end:
        return instant.astimezone(UTC)
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    return _resolve(datetime.combine(day, window.start), zone)


def _skip_reason(
    step: Step,
    anchor: InfusionSlot | None,
    slots: dict[int, InfusionSlot],
    channel: Channel,
    patient: PatientPrefs,
    due: datetime,
    too_late_before: datetime,
) -> SkipReason | None:
    if anchor is not None and anchor.status is InfusionStatus.CANCELLED:
        return SkipReason.INFUSION_CANCELLED
    required = slots.get(step.requires_done) if step.requires_done else None
    if required is not None and required.status is InfusionStatus.CANCELLED:
        return SkipReason.CONDITION_UNMET
    if channel not in patient.channels:
        return SkipReason.NO_CONSENT
    if due < too_late_before:
        return SkipReason.TOO_LATE
    return None
