"""PURE. The one rule for "may this delivery go out (now)?", used by the planner, the re-planner
and the sender alike, so the three never disagree.

``skip_reason`` answers for the state of the enrollment, its infusions and the patient;
``send_verdict`` adds what only the moment of sending knows: too late, outside the send window.
Infusion statuses are compared as strings, so the planner's ``InfusionSlot`` and the sender's
rows (plain text from SQL) both fit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from drip.core.schedule import SendWindow
from drip.core.window import in_send_window, next_window_opening


class InfusionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


class SkipReason(enum.StrEnum):
    TOO_LATE = "too_late"  # already past at planning, beyond the grace period
    INFUSION_CANCELLED = "infusion_cancelled"  # the step's anchor infusion was cancelled
    CONDITION_UNMET = "condition_unmet"  # requires: infusion N done, and it will not be
    NO_CONSENT = "no_consent"  # patient has not consented to / chosen this channel
    OPTED_OUT = "opted_out"
    ENROLLMENT_ENDED = "enrollment_ended"
    PAUSED = "paused"
    CAP = "cap"  # no slot within the step's bound keeps the schedule's caps
    STEP_REMOVED = "step_removed"  # a new schedule version no longer has this step (or channel)


class Infusion(Protocol):
    """What the rule needs of an infusion: when it starts and its status."""

    @property
    def starts_at(self) -> datetime: ...

    @property
    def status(self) -> str: ...


def skip_reason(
    *,
    enrollment_status: str,
    anchor: Infusion | None,
    requires_done: int | None,
    infusions: Mapping[int, Infusion],
    at: datetime,
    consented: bool,
    opted_out: bool,
) -> SkipReason | None:
    """Why a delivery due ``at`` must not go out, or None. First reason wins, in this order."""
    if enrollment_status != "active":
        return SkipReason.PAUSED if enrollment_status == "paused" else SkipReason.ENROLLMENT_ENDED
    if anchor is not None and anchor.status == InfusionStatus.CANCELLED:
        return SkipReason.INFUSION_CANCELLED
    if requires_done and not infusion_done(infusions.get(requires_done), at):
        return SkipReason.CONDITION_UNMET
    if opted_out:
        return SkipReason.OPTED_OUT
    if not consented:
        return SkipReason.NO_CONSENT
    return None


def infusion_done(infusion: Infusion | None, at: datetime) -> bool:
    """Done by ``at``: marked done, or still 'scheduled' and started by then (staff often forget
    to click done, and a patient should not miss a message for that). Cancelled: never."""
    if infusion is None or infusion.status == InfusionStatus.CANCELLED:
        return False
    return infusion.status == InfusionStatus.DONE or infusion.starts_at <= at


def send_verdict(
    reason: SkipReason | None,
    *,
    due_at: datetime,
    now: datetime,
    late_grace: timedelta,
    time_zone: str,
    window: SendWindow,
) -> SkipReason | datetime | None:
    """At the moment of sending: a skip reason, a later time (outside the window), or None (go)."""
    if reason is not None:
        return reason
    if now - due_at > late_grace:
        return SkipReason.TOO_LATE
    if not in_send_window(now, time_zone, window):
        return next_window_opening(now, time_zone, window)
    return None
