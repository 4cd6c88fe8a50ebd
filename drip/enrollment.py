"""The enrollment service: enroll, move or cancel infusions, pause, resume, end, opt out.

Every function takes ``now`` and ``actor``, runs in one transaction, writes an AuditEvent
(ids and event names only) and re-plans the enrollment's pending deliveries. Rows that were
sent (or are being sent) never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction

from drip import catalog
from drip.enrollment_input import PatientInput, clean_infusions, clean_patient
from drip.errors import EnrollmentError, ScheduleError
from drip.models import AuditEvent, ConsentRecord, Delivery, Enrollment, Infusion, Patient
from drip.planner import (
    InfusionSlot,
    InfusionStatus,
    PatientPrefs,
    PlannedDelivery,
    Series,
    SkipReason,
    plan,
)
from drip.schedule import Channel

__all__ = ["PatientInput", "enroll", "move_infusion", "mark_infusion", "add_infusion", "pause",
           "resume", "end", "record_opt_out", "record_opt_in", "replan", "timeline"]

_ENDED = {Enrollment.Status.ENDED: SkipReason.ENROLLMENT_ENDED,
          Enrollment.Status.COMPLETED: SkipReason.ENROLLMENT_ENDED,
          Enrollment.Status.PAUSED: SkipReason.PAUSED}


@dataclass(frozen=True)
class ReplanResult:
    created: int
    retimed: int
    skipped: int
    unchanged: int


def enroll(
    patient: PatientInput, infusions: Sequence[datetime], *, schedule: str = "ketamine-six-infusion",
    now: datetime, actor: str,
) -> Enrollment:
    """Create the patient, their consent records, the enrollment and its infusions; plan it all.

    Everything is checked first; on any EnrollmentError nothing is saved.
    """
    clean = clean_patient(patient)
    version = catalog.latest_version(schedule)
    try:
        size = catalog.schedule_of(version).infusions
    except ScheduleError as error:
        raise EnrollmentError("schedule", f"version {version.version} of '{schedule}' does not validate: {error}") from None
    times = clean_infusions(infusions, clean.time_zone, size)
    with transaction.atomic():
        row = Patient.objects.create(
            first_name=clean.first_name, last_name=clean.last_name, email=clean.email,
            phone=clean.phone, time_zone=clean.time_zone,
            sms_consent=clean.sms_consent, email_consent=clean.email_consent,
        )
        for channel, granted in ((Channel.SMS, clean.sms_consent), (Channel.EMAIL, clean.email_consent)):
            if granted:
                ConsentRecord.objects.create(patient=row, channel=channel, granted=True,
                                             method=clean.consent_method, recorded_by=actor, recorded_at=now)
        enrollment = Enrollment.objects.create(patient=row, schedule_version=version, enrolled_at=now)
        Infusion.objects.bulk_create(
            Infusion(enrollment=enrollment, number=i + 1, starts_at=t) for i, t in enumerate(times)
        )
        _audit(enrollment, "enrolled", now, actor, infusions=len(times), schedule_version=version.pk)
        replan(enrollment, now=now)
    return enrollment


def move_infusion(enrollment: Enrollment, number: int, starts_at: datetime, *, now: datetime, actor: str) -> None:
    """Move infusion ``number``; its pending messages are re-timed, sent ones stay as they were."""
    with transaction.atomic():
        infusion = _infusion(enrollment, number)
        aware = clean_infusions([starts_at], enrollment.patient.time_zone, 1)[0]
        neighbours = {i.number: i.starts_at for i in enrollment.infusions.exclude(number=number)}
        if number - 1 in neighbours and aware <= neighbours[number - 1]:
            raise EnrollmentError("starts_at", f"infusion {number} would come before infusion {number - 1}")
        if number + 1 in neighbours and aware >= neighbours[number + 1]:
            raise EnrollmentError("starts_at", f"infusion {number} would come after infusion {number + 1}")
        infusion.starts_at = aware
        infusion.save(update_fields=["starts_at"])
        _audit(enrollment, "infusion_moved", now, actor, infusion=number)
        replan(enrollment, now=now)


def mark_infusion(enrollment: Enrollment, number: int, status: str, *, now: datetime, actor: str) -> None:
    """Mark infusion ``number`` done or cancelled (cancelling skips its messages)."""
    if status not in (Infusion.Status.DONE, Infusion.Status.CANCELLED, Infusion.Status.SCHEDULED):
        raise EnrollmentError("status", f"'{status}' is not one of done, cancelled, scheduled")
    with transaction.atomic():
        infusion = _infusion(enrollment, number)
        infusion.status = status
        infusion.save(update_fields=["status"])
        _audit(enrollment, f"infusion_{status}", now, actor, infusion=number)
        replan(enrollment, now=now)


def add_infusion(enrollment: Enrollment, starts_at: datetime, *, now: datetime, actor: str) -> Infusion:
    """Add the next infusion of the series (for dates booked after enrollment)."""
    with transaction.atomic():
        size = catalog.schedule_of(enrollment.schedule_version).infusions
        existing = list(enrollment.infusions.order_by("number"))
        if len(existing) >= size:
            raise EnrollmentError("infusions", f"the series already has all {size} infusions")
        aware = clean_infusions([starts_at], enrollment.patient.time_zone, 1)[0]
        if existing and aware <= existing[-1].starts_at:
            raise EnrollmentError("starts_at", f"infusion {len(existing) + 1} must come after infusion {len(existing)}")
        infusion = Infusion.objects.create(enrollment=enrollment, number=len(existing) + 1, starts_at=aware)
        _audit(enrollment, "infusion_added", now, actor, infusion=infusion.number)
        replan(enrollment, now=now)
    return infusion


def pause(enrollment: Enrollment, *, now: datetime, actor: str) -> None:
    _set_status(enrollment, Enrollment.Status.PAUSED, "paused", now, actor)


def resume(enrollment: Enrollment, *, now: datetime, actor: str) -> None:
    """Resume: future messages come back; ones that passed while paused are skipped too_late."""
    _set_status(enrollment, Enrollment.Status.ACTIVE, "resumed", now, actor)


def end(enrollment: Enrollment, *, now: datetime, actor: str) -> None:
    _set_status(enrollment, Enrollment.Status.ENDED, "ended", now, actor)


def _set_status(enrollment: Enrollment, status: str, event: str, now: datetime, actor: str) -> None:
    with transaction.atomic():
        enrollment.status = status
        enrollment.ended_at = now if status == Enrollment.Status.ENDED else None
        enrollment.save(update_fields=["status", "ended_at"])
        _audit(enrollment, event, now, actor)
        replan(enrollment, now=now)


def record_opt_out(patient: Patient, channel: str, *, now: datetime, method: str, actor: str) -> None:
    """The patient (STOP, unsubscribe link) or provider (21610) opted out: skip pending on that channel."""
    _set_opt_out(patient, channel, now, now=now, method=method, actor=actor)


def record_opt_in(patient: Patient, channel: str, *, now: datetime, method: str, actor: str) -> None:
    """The patient opted back in (START): future messages on that channel come back."""
    _set_opt_out(patient, channel, None, now=now, method=method, actor=actor)


def _set_opt_out(patient: Patient, channel: str, value: datetime | None, *, now: datetime, method: str, actor: str) -> None:
    field = f"{channel}_opted_out_at"
    with transaction.atomic():
        updated = Patient.objects.filter(pk=patient.pk, **{f"{field}__isnull": value is not None}).update(**{field: value})
        setattr(patient, field, value)
        if not updated:
            return  # already in that state: idempotent, no second record
        ConsentRecord.objects.create(patient=patient, channel=channel, granted=value is None,
                                     method=method, recorded_by=actor, recorded_at=now)
        for enrollment in patient.enrollments.exclude(status=Enrollment.Status.ENDED):
            _audit(enrollment, "opted_out" if value else "opted_in", now, actor, channel=channel)
            replan(enrollment, now=now)


def replan(enrollment: Enrollment, *, now: datetime) -> ReplanResult:
    """Bring the enrollment's pending deliveries in line with its current state (in the caller's
    transaction). Planning twice creates nothing new; sent rows are never touched."""
    enrollment.refresh_from_db()
    planned = _plan(enrollment, now)
    existing = {(d.step_key, d.channel): d for d in enrollment.deliveries.all()}
    created, retimed, skipped, unchanged = [], 0, 0, 0
    for p in planned:
        row = existing.get((p.step_key, p.channel.value))
        if row is None:
            created.append(_new_row(enrollment, p))
            continue
        fields = _row_fields(p)
        if row.status not in Delivery.PENDING or all(getattr(row, k) == v for k, v in fields.items()):
            unchanged += 1
            continue
        # Compare-and-set: a row a worker has just claimed for sending is left alone.
        if Delivery.objects.filter(pk=row.pk, status__in=Delivery.PENDING).update(queued_at=None, **fields):
            skipped += p.skip_reason is not None
            retimed += p.skip_reason is None
    Delivery.objects.bulk_create(created)
    return ReplanResult(len(created), retimed, skipped, unchanged)


def _plan(enrollment: Enrollment, now: datetime) -> list[PlannedDelivery]:
    patient = enrollment.patient
    schedule = catalog.schedule_of(enrollment.schedule_version)
    slots = tuple(
        InfusionSlot(i.number, i.starts_at, InfusionStatus(i.status)) for i in enrollment.infusions.all()
    )
    prefs = PatientPrefs(patient.time_zone, frozenset(c for c in Channel if _may_send(patient, c)))
    planned = plan(schedule, Series(enrollment.enrolled_at, slots), prefs, now)
    return [_adjust(p, patient, enrollment.status) for p in planned]


def _may_send(patient: Patient, channel: Channel) -> bool:
    consent = getattr(patient, f"{channel.value}_consent")
    return bool(consent) and getattr(patient, f"{channel.value}_opted_out_at") is None


def _adjust(p: PlannedDelivery, patient: Patient, status: str) -> PlannedDelivery:
    from dataclasses import replace

    if status in _ENDED:
        return replace(p, skip_reason=_ENDED[status])
    if p.skip_reason is SkipReason.NO_CONSENT and getattr(patient, f"{p.channel.value}_opted_out_at"):
        return replace(p, skip_reason=SkipReason.OPTED_OUT)
    return p


def _row_fields(p: PlannedDelivery) -> dict[str, object]:
    return {
        "due_at": p.due_at,
        "status": Delivery.Status.SKIPPED if p.skip_reason else Delivery.Status.SCHEDULED,
        "skip_reason": p.skip_reason.value if p.skip_reason else "",
        "anchor_infusion": p.anchor_infusion,
        "message_key": p.message,
    }


def _new_row(enrollment: Enrollment, p: PlannedDelivery) -> Delivery:
    return Delivery(enrollment=enrollment, step_key=p.step_key, channel=p.channel.value, **_row_fields(p))


def _infusion(enrollment: Enrollment, number: int) -> Infusion:
    try:
        return enrollment.infusions.select_for_update().get(number=number)
    except Infusion.DoesNotExist:
        raise EnrollmentError("infusion", f"this series has no infusion {number}") from None


def _audit(enrollment: Enrollment, event: str, now: datetime, actor: str, **detail: object) -> None:
    AuditEvent.objects.create(at=now, actor=actor, event=event, patient_id=enrollment.patient_id,
                              enrollment=enrollment, detail=detail)


@dataclass(frozen=True)
class TimelineEntry:
    local_due: datetime
    step_key: str
    channel: str
    status: str
    why: str  # skip reason or error code and text

    def __str__(self) -> str:
        why = f"  ({self.why})" if self.why else ""
        return f"{self.local_due:%a %Y-%m-%d %H:%M %Z}  {self.channel:<5}  {self.step_key:<26} {self.status}{why}"


def timeline(enrollment: Enrollment) -> list[TimelineEntry]:
    """What was sent, what is next, what failed and why; in the patient's time zone."""
    zone = ZoneInfo(enrollment.patient.time_zone)
    rows = enrollment.deliveries.order_by("due_at", "step_key", "channel")
    return [
        TimelineEntry(
            d.due_at.astimezone(zone), d.step_key, d.channel, d.status,
            d.skip_reason or " ".join(x for x in (d.error_code, d.error_text) if x),
        )
        for d in rows
    ]
