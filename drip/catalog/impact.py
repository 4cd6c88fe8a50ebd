"""What publishing a schedule would do to the patients in a series now, before it is done.

For every active or paused series of the schedule, the new version is planned with the real
planner over the series as it stands (its infusions, consent, what was already sent, the caps),
exactly as moving it would re-plan it, and compared with the messages it has pending now: which
move (and by how much), which are added, which are dropped, which keep their time but change
wording. Everything is read in a few queries and planned in memory (no savepoint per series), so
thousands of series are counted in seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db.models import Count

from drip.catalog import clinic
from drip.catalog import versions as catalog
from drip.core.planner import (
    InfusionSlot,
    InfusionStatus,
    PlannedDelivery,
    Sent,
    Series,
    plan,
)
from drip.core.schedule import Channel, Schedule
from drip.enrollment.service import history_of
from drip.models import Delivery, Enrollment, Infusion, ScheduleVersion

S = Delivery.Status
MOVING = (Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED)
_PART = {"email": ("email_subject", "email_body"), "sms": ("sms_text",)}


@dataclass(frozen=True)
class Change:
    """One message of one series, before and after. ``*_at`` is None when it does not go."""

    step_key: str
    channel: str
    kind: str  # moved | added | removed | reworded
    before_at: datetime | None
    after_at: datetime | None
    after_reason: str = ""  # why it will not go (skip reason), when removed


@dataclass
class SeriesImpact:
    enrollment_id: int
    patient_id: int
    patient_name: str
    time_zone: str
    changes: list[Change] = field(default_factory=list)


@dataclass
class Impact:
    """The numbers the publish page shows, and a sample of series with their changes."""

    series: int = 0  # active or paused series that would move
    affected: int = 0  # of which have at least one change
    moved: int = 0
    added: int = 0
    removed: int = 0
    reworded: int = 0
    earliest_shift: timedelta | None = None
    latest_shift: timedelta | None = None
    sample: list[SeriesImpact] = field(default_factory=list)

    def count(self, change: Change) -> None:
        setattr(self, change.kind, getattr(self, change.kind) + 1)
        if change.kind == "moved" and change.before_at and change.after_at:
            shift = change.after_at - change.before_at
            self.earliest_shift = min(shift, self.earliest_shift or shift)
            self.latest_shift = max(shift, self.latest_shift or shift)


def impact(
    name: str,
    schedule: Schedule,
    messages: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime,
    sample_size: int = 5,
) -> Impact:
    """What moving every active or paused series of ``name`` to (schedule, messages) changes."""
    schedule = clinic.bounded(schedule)  # as the series will be planned
    enrollments = list(
        Enrollment.objects.filter(schedule_version__name=name, status__in=MOVING)
        .select_related("patient")
        .order_by("pk")
    )
    versions = {v.pk: v for v in ScheduleVersion.objects.filter(name=name)}
    infusions, rows = _infusions(name), _rows(name)
    others = _other_series_history(enrollments)
    result = Impact(series=len(enrollments))
    for enrollment in enrollments:
        found = _series_impact(
            enrollment,
            schedule,
            infusions.get(enrollment.pk, ()),
            rows.get(enrollment.pk, []),
            others.get(enrollment.patient_id, []),
            now,
            _Wording(versions[enrollment.schedule_version_id].messages, messages),
        )
        if found.changes:
            result.affected += 1
            for change in found.changes:
                result.count(change)
            if len(result.sample) < sample_size:
                result.sample.append(found)
    return result


def _infusions(name: str) -> dict[int, list[InfusionSlot]]:
    found: dict[int, list[InfusionSlot]] = defaultdict(list)
    query = Infusion.objects.filter(
        enrollment__schedule_version__name=name, enrollment__status__in=MOVING
    ).values_list("enrollment_id", "number", "starts_at", "status")
    for enrollment_id, number, starts_at, status in query:
        found[enrollment_id].append(InfusionSlot(number, starts_at, InfusionStatus(status)))
    return found


class _Row(NamedTuple):
    """The fields of a delivery the impact reads (tuples: model instances cost more than the
    planning itself at 10,000 series)."""

    step_key: str
    channel: str
    message_key: str
    status: str
    due_at: datetime
    sent_at: datetime | None


def _rows(name: str) -> dict[int, list[_Row]]:
    found: dict[int, list[_Row]] = defaultdict(list)
    query = Delivery.objects.filter(
        enrollment__schedule_version__name=name, enrollment__status__in=MOVING
    ).values_list(
        "enrollment_id", "step_key", "channel", "message_key", "status", "due_at", "sent_at"
    )
    for enrollment_id, step_key, channel, message_key, status, due_at, sent_at in query:
        found[enrollment_id].append(_Row(step_key, channel, message_key, status, due_at, sent_at))
    return found


def _other_series_history(enrollments: list[Enrollment]) -> dict[int, list[Sent]]:
    """Messages of the patients' other series, which count against the caps (as in replan):
    found through the few patients who have more than one series."""
    ids = {e.pk for e in enrollments}
    repeat = (
        Enrollment.objects.values("patient_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("patient_id", flat=True)
    )
    found: dict[int, list[Sent]] = defaultdict(list)
    query = (
        Delivery.objects.filter(enrollment__patient_id__in=repeat)
        .exclude(status__in=(S.SKIPPED, S.FAILED))
        .values_list("enrollment_id", "enrollment__patient_id", "channel", "sent_at", "due_at")
    )
    for enrollment_id, patient_id, channel, sent_at, due_at in query:
        if enrollment_id not in ids:
            found[patient_id].append(Sent(Channel(channel), sent_at or due_at))
    return found


@dataclass(frozen=True)
class _Wording:
    old: Mapping[str, Mapping[str, Any]]
    new: Mapping[str, Mapping[str, Any]]

    def changed(self, old_key: str, new_key: str, channel: str) -> bool:
        before, after = self.old.get(old_key, {}), self.new.get(new_key, {})
        return any(before.get(part) != after.get(part) for part in _PART[channel])


def _series_impact(
    enrollment: Enrollment,
    schedule: Schedule,
    infusions: Iterable[InfusionSlot],
    rows: list[_Row],
    others: list[Sent],
    now: datetime,
    wording: _Wording,
) -> SeriesImpact:
    patient = enrollment.patient
    history = history_of(rows, others)
    series = Series(
        enrollment.enrolled_at,
        tuple(sorted(infusions, key=lambda s: s.number)),
        enrollment.series_size,
        enrollment.status,
    )
    planned = {
        (p.step_key, p.channel.value): p
        for p in plan(schedule, series, patient.prefs(), now, history)
    }
    pending = {(d.step_key, d.channel): d for d in rows if d.status in Delivery.PENDING}
    found = SeriesImpact(
        enrollment.pk, patient.pk, f"{patient.first_name} {patient.last_name}".strip(),
        patient.time_zone,
    )  # fmt: skip
    for key in sorted(set(planned) | set(pending)):
        change = _change(key, pending.get(key), planned.get(key), schedule, wording)
        if change is not None:
            found.changes.append(change)
    found.changes.sort(key=lambda c: c.after_at or c.before_at or now)
    return found


def _change(
    key: tuple[str, str],
    row: _Row | None,
    planned: PlannedDelivery | None,
    schedule: Schedule,
    wording: _Wording,
) -> Change | None:
    before = row.due_at if row is not None and row.status != S.SKIPPED else None
    after = planned.due_at if planned is not None and not planned.skipped else None
    if before is None and after is None:
        return None
    if before is None:
        return Change(*key, "added", None, after)
    if after is None:
        return Change(*key, "removed", before, None, _reason(key, planned, schedule))
    if before != after:
        return Change(*key, "moved", before, after)
    if (
        row is not None
        and planned is not None
        and wording.changed(row.message_key, planned.message, key[1])
    ):
        return Change(*key, "reworded", before, after)
    return None


def _reason(key: tuple[str, str], planned: PlannedDelivery | None, schedule: Schedule) -> str:
    if planned is not None and planned.skip_reason is not None:
        return planned.skip_reason.value
    step = schedule.steps_by_key.get(key[0])
    return "step_removed" if step is None or key[1] not in step.channels else "infusion_cancelled"


def of_version(version: ScheduleVersion, *, now: datetime) -> Impact:
    """The impact of publishing ``version``'s content again (a rollback)."""
    return impact(version.name, catalog.schedule_of(version), version.messages, now=now)
