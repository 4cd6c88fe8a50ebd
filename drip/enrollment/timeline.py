"""A patient's timeline: every delivery of an enrollment, in the patient's time zone.

What was sent, what is next, what was skipped or failed and why. Read-only; used by the
``drip timeline`` command and the staff pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from drip.models import Delivery, Enrollment


@dataclass(frozen=True)
class TimelineEntry:
    local_due: datetime  # aware, in the patient's zone
    step_key: str
    channel: str
    status: str
    why: str  # skip reason, or error code and text; "" when there is nothing to explain
    delivery: Delivery | None = field(default=None, compare=False, repr=False)  # the row itself

    def __str__(self) -> str:
        why = f"  ({self.why})" if self.why else ""
        return f"{self.local_due:%a %Y-%m-%d %H:%M %Z}  {self.channel:<5}  {self.step_key:<26} {self.status}{why}"


def timeline(enrollment: Enrollment) -> list[TimelineEntry]:
    """Every delivery of ``enrollment`` ordered by due time, then step, then channel."""
    zone = ZoneInfo(enrollment.patient.time_zone)
    rows = enrollment.deliveries.order_by("due_at", "step_key", "channel").defer(
        *Delivery.SENT_COPY
    )
    return [
        TimelineEntry(
            d.due_at.astimezone(zone),
            d.step_key,
            d.channel,
            d.status,
            d.skip_reason or " ".join(x for x in (d.error_code, d.error_text) if x),
            d,
        )
        for d in rows
    ]
