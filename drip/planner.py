"""PURE. ``plan(schedule, series, patient, now)`` -> one ``PlannedDelivery`` per (step, channel).

No Django, no DB, no clock: ``now`` is an argument. All datetimes in and out are timezone-aware;
``due_at`` is UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from drip.schedule import Channel, Schedule


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
