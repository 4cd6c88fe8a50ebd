"""A real patient's template variables (drip.core.rendering.build_context), by one set of
rules for every place that shows or sends them: the sender, the staff message page and the
editor's real-patient preview.

The rules: the patient's first name; the clinic's facts now (drip.catalog.clinic.current());
the series' own size, else its schedule's; the infusion a delivery is about is its step's
anchor (1 for enrollment steps), one a preview is about is the next booked one; its time in the
patient's zone; the signed unsubscribe link in an email, none in a text, the sample's in a
preview (a preview must not hand out a working one).

The inputs are protocols so each caller passes what it already holds: the sender its raw
``Row`` (it is the delivery and the series) and the infusions it read for the group, no query
per row; the staff pages their models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from drip.catalog import clinic
from drip.catalog import versions as catalog
from drip.core.may_send import InfusionStatus
from drip.core.rendering import build_context
from drip.delivery import links
from drip.delivery.test_send import SAMPLE_UNSUBSCRIBE_URL

# A patient previewed before any series: the sample patient's series size.
_NO_SERIES_SIZE = 6


class Addressee(Protocol):
    """A Patient, or the sender's Recipient."""

    @property
    def id(self) -> int: ...
    @property
    def first_name(self) -> str: ...
    @property
    def time_zone(self) -> str: ...


class Series(Protocol):
    """An Enrollment, or the sender's Row."""

    @property
    def schedule_version_id(self) -> int: ...
    @property
    def series_size(self) -> int | None: ...  # None: the schedule's


class Booked(Protocol):
    """An Infusion, or the sender's InfusionState."""

    @property
    def number(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...


class Step(Protocol):
    """A Delivery, or the sender's Row: the message of one step on one channel."""

    @property
    def channel(self) -> str: ...
    @property
    def anchor_infusion(self) -> int | None: ...  # None: an enrollment step


@dataclass(frozen=True)
class Preview:
    """Not a delivery: a message shown for the patient at ``now``, sent to no one."""

    now: datetime


def context_for(
    patient: Addressee,
    *,
    series: Series | None,
    infusions: Mapping[int, Booked],
    message: Step | Preview,
) -> dict[str, object]:
    """The template variables of ``message`` for ``patient`` in ``series`` (whose infusions,
    by number, are ``infusions``; ``series`` None only for a preview of a patient without one).
    Reads the clinic's facts (cached for the request or task) and, for a preview of a series
    without its own size, the schedule version (cached per process)."""
    if isinstance(message, Preview):
        infusion = next_infusion(infusions, message.now)
        number = infusion.number if infusion else None
        unsubscribe = SAMPLE_UNSUBSCRIBE_URL
    else:
        number = message.anchor_infusion or 1
        infusion = infusions.get(number)
        unsubscribe = links.unsubscribe_url(patient.id) if message.channel == "email" else ""
    return build_context(
        first_name=patient.first_name,
        clinic=clinic.current(),
        series_size=_size(series),
        infusion_number=number,
        infusion_local_start=infusion.starts_at.astimezone(ZoneInfo(patient.time_zone))
        if infusion
        else None,
        unsubscribe_url=unsubscribe,
    )


def next_infusion(infusions: Mapping[int, Booked], now: datetime) -> Booked | None:
    """The first booked (not cancelled) infusion starting at or after ``now``; the last booked
    one once all are past; None if none is booked."""
    booked = [i for _, i in sorted(infusions.items()) if i.status != InfusionStatus.CANCELLED]
    upcoming = (i for i in booked if i.starts_at >= now)
    return next(upcoming, booked[-1] if booked else None)


def _size(series: Series | None) -> int:
    if series is None:
        return _NO_SERIES_SIZE
    if series.series_size:
        return series.series_size
    return catalog.schedule_of(catalog.version_by_id(series.schedule_version_id)).infusions
