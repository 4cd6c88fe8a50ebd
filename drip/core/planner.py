"""PURE. ``plan(schedule, series, patient, now)`` -> one ``PlannedDelivery`` per (step, channel).

No Django, no DB, no clock: ``now`` is an argument. All datetimes in and out are timezone-aware;
``due_at`` is UTC.

Two passes: each (step, channel) gets its natural time (anchor + offset, moved into the send
window) and the may-send verdict; then the ones to send are placed, most important first, at
the first slot from their natural time up to their ``latest`` bound that keeps the schedule's
caps, counting every message the patient got or will get (``history``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from drip.core.caps import Occupancy
from drip.core.may_send import InfusionStatus, SkipReason, skip_reason
from drip.core.schedule import Anchor, AnchorKind, Channel, Schedule, Step
from drip.core.window import (
    in_send_window,
    next_opening,
    next_window_opening,
    resolve,
    zone_of,
)

__all__ = [
    "InfusionSlot",
    "InfusionStatus",
    "PatientPrefs",
    "PlannedDelivery",
    "Sent",
    "Series",
    "SkipReason",
    "in_send_window",
    "next_window_opening",
    "plan",
]

# An essential step (past at enrollment, or crowded out) goes within this long, or not at all.
CATCH_UP_HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class InfusionSlot:
    number: int  # 1-based
    starts_at: datetime  # aware; an instant (shown to the patient in their zone)
    status: InfusionStatus = InfusionStatus.SCHEDULED


@dataclass(frozen=True)
class Series:
    enrolled_at: datetime  # aware
    infusions: tuple[InfusionSlot, ...]  # the ones booked so far
    size: int | None = None  # how many infusions the series has; None: the schedule's
    status: str = "active"  # the enrollment's status: active, paused, completed, ended


@dataclass(frozen=True)
class PatientPrefs:
    time_zone: str  # IANA name, e.g. "America/New_York"
    channels: frozenset[Channel]  # channels the patient consented to
    opted_out: frozenset[Channel] = frozenset()  # channels the patient stopped (STOP, link)


@dataclass(frozen=True)
class Sent:
    """A message outside this plan that counts against the caps: already sent (``step_key`` set:
    that step of this series is not planned again), or planned by another series."""

    channel: Channel
    at: datetime | None  # None: it never reached the patient (failed), so it does not count
    step_key: str | None = None


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


@dataclass(frozen=True)
class _Draft:
    order: tuple[int, int]  # (step index, channel index): the stable order of the schedule
    step: Step
    planned: PlannedDelivery  # at its natural time
    latest: datetime  # the last instant it may move to


def plan(
    schedule: Schedule,
    series: Series,
    patient: PatientPrefs,
    now: datetime,
    history: Iterable[Sent] = (),
) -> list[PlannedDelivery]:
    """One PlannedDelivery per (step, channel), due inside the send window, in time order.

    Steps anchored on an infusion the series does not have (yet) are left out, and so are the
    steps in ``history`` (already sent).
    """
    zone = zone_of(patient.time_zone)
    occupancy = Occupancy(zone, schedule.caps)
    done: set[tuple[str, Channel]] = set()
    for sent in history:
        if sent.at is not None:
            occupancy.add(sent.channel, sent.at)
        if sent.step_key is not None:
            done.add((sent.step_key, sent.channel))
    drafts = [
        d
        for d in _drafts(schedule, series, patient, zone)
        if (d.step.key, d.planned.channel) not in done
    ]
    placed = [(_place(d, schedule, occupancy, zone, now), d.order) for d in _by_rank(drafts)]
    placed.sort(key=lambda item: (item[0].due_at, item[1]))
    return [p for p, _ in placed]


def _drafts(
    schedule: Schedule, series: Series, patient: PatientPrefs, zone: ZoneInfo
) -> list[_Draft]:
    slots = {slot.number: slot for slot in series.infusions}
    size = series.size or schedule.infusions
    drafts = []
    for step_index, step in enumerate(schedule.steps):
        anchor = _anchor_slot(step.anchor, slots, size)
        if anchor is None and step.anchor.kind is not AnchorKind.ENROLLMENT:
            continue
        anchor_at = anchor.starts_at if anchor else series.enrolled_at
        due = next_opening(
            _step_time(anchor_at, step.offset, step.at, zone), zone, schedule.send_window
        )
        latest = _step_time(anchor_at, step.latest, None, zone) if step.latest is not None else due
        number = anchor.number if anchor else None
        for channel_index, channel in enumerate(step.channels):
            reason = skip_reason(
                enrollment_status=series.status,
                anchor=anchor,
                requires_done=step.requires_done,
                infusions=slots,
                at=due,
                consented=channel in patient.channels,
                opted_out=channel in patient.opted_out,
            )
            planned = PlannedDelivery(step.key, channel, step.message, due, number, reason)
            drafts.append(_Draft((step_index, channel_index), step, planned, max(latest, due)))
    return drafts


def _by_rank(drafts: list[_Draft]) -> list[_Draft]:
    """Placing order: higher priority first, then the earlier natural time."""
    return sorted(drafts, key=lambda d: (d.step.priority, d.planned.due_at, d.order))


def _place(
    draft: _Draft, schedule: Schedule, occupancy: Occupancy, zone: ZoneInfo, now: datetime
) -> PlannedDelivery:
    """The draft at the first slot that keeps the caps, or skipped (too_late or cap)."""
    planned = draft.planned
    if planned.skipped:
        return planned
    reason = SkipReason.TOO_LATE  # until a slot turns up
    for slot in _slots(draft, schedule, zone, now):  # lazily: the first one usually fits
        if occupancy.fits(planned.channel, slot):
            occupancy.add(planned.channel, slot)
            return replace(planned, due_at=slot)
        reason = SkipReason.CAP
    return replace(planned, skip_reason=reason)


def _slots(draft: _Draft, schedule: Schedule, zone: ZoneInfo, now: datetime) -> Iterator[datetime]:
    """Where the draft may go: its natural time (or now, if that has just passed), then the
    window's opening on each later day up to its bound. None: its whole range is past."""
    natural = draft.planned.due_at
    # Within the grace period a step just past still goes, now.
    last = max(draft.latest, natural + schedule.late_grace)
    if draft.step.essential:
        last = max(last, now + CATCH_UP_HORIZON)  # caught up: the next free slot from now on
    elif last < now:
        return
    first = natural if natural >= now else next_opening(now, zone, schedule.send_window)
    if first <= last:
        yield first
    day = first.astimezone(zone).date() + timedelta(days=1)
    while (opening := resolve(datetime.combine(day, schedule.send_window.start), zone)) <= last:
        yield opening
        day += timedelta(days=1)


def _anchor_slot(anchor: Anchor, slots: dict[int, InfusionSlot], size: int) -> InfusionSlot | None:
    if anchor.kind is AnchorKind.INFUSION:
        return slots.get(anchor.infusion or 0)
    if anchor.kind is AnchorKind.LAST_INFUSION:
        return _last_infusion(slots, size)
    return None


def _last_infusion(slots: dict[int, InfusionSlot], size: int) -> InfusionSlot | None:
    """The series' last infusion: number ``size``, waited for until booked. If it was cancelled,
    the last one not cancelled before it (the series ended there)."""
    last = slots.get(size)
    if last is None or last.status is not InfusionStatus.CANCELLED:
        return last
    live = [s for n, s in slots.items() if n < size and s.status is not InfusionStatus.CANCELLED]
    return max(live, key=lambda s: s.number, default=last)


def _step_time(anchor_at: datetime, offset: timedelta, at: time | None, zone: ZoneInfo) -> datetime:
    """Wall-clock arithmetic in the patient's zone, so "+1d" keeps the hour across DST."""
    local = anchor_at.astimezone(zone).replace(tzinfo=None) + offset
    if at is not None:
        local = datetime.combine(local.date(), at)
    return resolve(local, zone)
