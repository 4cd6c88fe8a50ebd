"""The enrollment service: enroll, move or cancel infusions, pause, resume, end, opt out.

Every function takes ``now`` and ``actor``, runs in one transaction, writes an AuditEvent
(ids and event names only) and re-plans the enrollment's pending deliveries. Rows that were
sent (or are being sent) never change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from drip.catalog import clinic
from drip.catalog import versions as catalog
from drip.core.planner import (
    InfusionSlot,
    InfusionStatus,
    PlannedDelivery,
    Sent,
    Series,
    SkipReason,
    plan,
)
from drip.core.schedule import Channel, Step
from drip.enrollment.cleaning import (
    PatientInput,
    check_fits,
    clean_infusions,
    clean_patient,
    local_instant,
)
from drip.enrollment.timeline import TimelineEntry, timeline
from drip.errors import EnrollmentError, ScheduleError
from drip.models import (
    Actor,
    AuditEvent,
    ConsentRecord,
    ConsentText,
    Delivery,
    Enrollment,
    Infusion,
    Patient,
    actor_name,
)

__all__ = [
    "PatientInput",
    "enroll",
    "move_infusion",
    "mark_infusion",
    "add_infusion",
    "pause",
    "resume",
    "end",
    "end_series_after",
    "set_series_size",
    "record_opt_out",
    "record_opt_in",
    "replan",
    "replan_many",
    "history_of",
    "replan_series",
    "timeline",
    "TimelineEntry",
    "ReplanResult",
    "lock_series",
]

S, E = Delivery.Status, Enrollment.Status
_WITH_PATIENT_AND_VERSION = Enrollment.objects.select_related("patient", "schedule_version")
# The column that holds a channel's opt-out (an update by name, in one statement).
_OPTED_OUT_FIELD = {Channel.SMS: "sms_opted_out_at", Channel.EMAIL: "email_opted_out_at"}
# target status: the statuses it may be reached from
_TRANSITIONS = {E.PAUSED: {E.ACTIVE}, E.ACTIVE: {E.PAUSED}, E.ENDED: {E.ACTIVE, E.PAUSED}}


@dataclass(frozen=True)
class ReplanResult:
    """How many delivery rows one replan created, re-timed (or revived), skipped, left alone."""

    created: int
    retimed: int
    skipped: int
    unchanged: int


def enroll(
    patient: PatientInput,
    infusions: Sequence[datetime],
    *,
    schedule: str = "ketamine-six-infusion",
    now: datetime,
    actor: Actor,
) -> Enrollment:
    """Create the patient, their consent records, the enrollment and its infusions; plan it all.

    Everything is checked first; on any EnrollmentError nothing is saved.
    """
    clean = clean_patient(patient)
    version = catalog.latest_version(schedule)
    try:
        size = catalog.schedule_of(version).infusions
    except ScheduleError as error:
        raise EnrollmentError(
            "schedule", f"version {version.version} of '{schedule}' does not validate: {error}"
        ) from None
    times = clean_infusions(infusions, clean.time_zone, size)
    try:
        with transaction.atomic():
            row, returning = _patient_for(clean, now, actor)
            enrollment = Enrollment.objects.create(
                patient=row, schedule_version=version, enrolled_at=now, series_size=size
            )
            Infusion.objects.bulk_create(
                Infusion(enrollment=enrollment, number=i + 1, starts_at=t)
                for i, t in enumerate(times)
            )
            _audit(
                enrollment,
                AuditEvent.Event.ENROLLED,
                now,
                actor,
                infusions=len(times),
                schedule_version=version.pk,
            )
            _plan_new_series(enrollment, now, returning=returning)
    except IntegrityError:
        # Another enrollment took this phone or email between our check and our insert (the
        # unique constraints on Patient caught it): name the patient who has it now.
        _refuse_if_taken(clean)
        raise
    return enrollment


def _patient_for(clean: PatientInput, now: datetime, actor: Actor) -> tuple[Patient, bool]:
    """A new patient, or the one who already has this phone or email if no series of theirs is
    active or paused (locked, and updated to what staff entered; opt-outs stay), with whether they
    are returning. Otherwise EnrollmentError naming the field and that patient."""
    holders = _holders(clean, lock=True)
    if not holders:
        patient = Patient(**{k: v for k, v in vars(clean).items() if k != "consent_method"})
        _save_patient(patient, clean, now, actor, was={})
        return patient, False
    _refuse_if_taken(clean, holders)
    patient = holders[0]
    was = {c: patient.has_consent(c) for c in Channel}
    for name, value in vars(clean).items():
        if name != "consent_method":
            setattr(patient, name, value)
    _save_patient(patient, clean, now, actor, was=was)
    return patient, True


def _holders(clean: PatientInput, *, lock: bool = False) -> list[Patient]:
    """Patients who already have this phone or email (email compared in any case), oldest first."""
    match = Q(pk__in=[])
    # "<> ''" beside each match lets PostgreSQL use the partial unique indexes (which leave out
    # empty values): without it, each enrollment read every patient (19 ms at 100,000).
    if clean.phone:
        match |= Q(phone=clean.phone) & ~Q(phone="")
    if clean.email:
        match |= Q(email_lower=clean.email.lower()) & ~Q(email="")
    found = Patient.objects.alias(email_lower=Lower("email")).filter(match).order_by("pk")
    return list(found.select_for_update() if lock else found)


def _refuse_if_taken(clean: PatientInput, holders: list[Patient] | None = None) -> None:
    """EnrollmentError when the phone or email is on a patient in an active or paused series, or
    the phone and email are on two different patients."""
    holders = _holders(clean) if holders is None else holders
    for patient in holders:
        field = "phone" if clean.phone and patient.phone == clean.phone else "email"
        current = patient.enrollments.filter(status__in=(E.ACTIVE, E.PAUSED)).first()
        if current is not None:
            raise EnrollmentError(
                field,
                f"is already on patient #{patient.pk}, enrolled in enrollment #{current.pk} "
                f"({current.status}); one person is one patient",
                patient_id=patient.pk,
            )
    if len(holders) > 1:
        raise EnrollmentError(
            "email",
            f"is on patient #{holders[1].pk} but the phone is on patient #{holders[0].pk}; "
            "one person is one patient, so correct the contact details first",
            patient_id=holders[1].pk,
        )


def _save_patient(
    patient: Patient, clean: PatientInput, now: datetime, actor: Actor, *, was: dict[Channel, bool]
) -> None:
    """Save, and record consent granted on each consented channel and withdrawn where a
    returning patient's consent was given before and is not now."""
    patient.save()
    wording = current_consent_texts()
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            patient=patient,
            channel=channel,
            granted=granted,
            method=clean.consent_method,
            recorded_by=actor_name(actor),
            recorded_at=now,
            consent_text=wording.get(channel.value),
        )
        for channel in Channel
        if (granted := clean.has_consent(channel)) or was.get(channel)
    )


def current_consent_texts() -> dict[str, ConsentText]:
    """The consent wording now shown for each channel (its highest version), in one query."""
    found: dict[str, ConsentText] = {}
    for text in ConsentText.objects.order_by("-version"):
        found.setdefault(text.channel, text)
    return found


def move_infusion(
    enrollment: Enrollment, number: int, starts_at: datetime, *, now: datetime, actor: Actor
) -> None:
    """Move infusion ``number``; its pending messages are re-timed, sent ones stay as they were."""
    with transaction.atomic():
        _lock(enrollment)  # moves of one series take turns: neighbours are read under the lock
        infusion = _infusion(enrollment, number)
        aware = local_instant(starts_at, enrollment.patient.time_zone)
        check_fits(
            number,
            aware,
            {i.number: i.starts_at for i in enrollment.infusions.exclude(number=number)},
        )
        before = infusion.starts_at
        infusion.starts_at = aware
        infusion.save(update_fields=["starts_at"])
        _audit(
            enrollment,
            AuditEvent.Event.INFUSION_MOVED,
            now,
            actor,
            infusion=number,
            before=before.isoformat(),
            after=aware.isoformat(),
        )
        replan(enrollment, now=now)


def mark_infusion(
    enrollment: Enrollment, number: int, status: str, *, now: datetime, actor: Actor
) -> None:
    """Mark infusion ``number`` done or cancelled (cancelling skips its messages)."""
    if status not in (Infusion.Status.DONE, Infusion.Status.CANCELLED, Infusion.Status.SCHEDULED):
        raise EnrollmentError("status", f"'{status}' is not one of done, cancelled, scheduled")
    with transaction.atomic():
        _lock(enrollment)
        infusion = _infusion(enrollment, number)
        if status == Infusion.Status.DONE and infusion.starts_at > now:
            raise EnrollmentError(
                "status",
                f"infusion {number} has not started yet; it cannot be done before it starts",
            )
        before = infusion.status
        infusion.status = status
        infusion.save(update_fields=["status"])
        event = AuditEvent.Event(f"infusion_{status}")
        _audit(enrollment, event, now, actor, infusion=number, before=before, after=status)
        replan(enrollment, now=now)


def add_infusion(
    enrollment: Enrollment, starts_at: datetime, *, now: datetime, actor: Actor
) -> Infusion:
    """Add the next infusion of the series (for dates booked after enrollment)."""
    with transaction.atomic():
        _lock(enrollment)  # two additions at once would both take the same next number
        size = _series_size(enrollment)
        existing = list(enrollment.infusions.order_by("number"))
        if len(existing) >= size:
            raise EnrollmentError("infusions", f"the series already has all {size} infusions")
        aware = local_instant(starts_at, enrollment.patient.time_zone)
        check_fits(len(existing) + 1, aware, {i.number: i.starts_at for i in existing})
        infusion = Infusion.objects.create(
            enrollment=enrollment, number=len(existing) + 1, starts_at=aware
        )
        _audit(enrollment, AuditEvent.Event.INFUSION_ADDED, now, actor, infusion=infusion.number)
        replan(enrollment, now=now)
    return infusion


def set_series_size(enrollment: Enrollment, size: int, *, now: datetime, actor: Actor) -> None:
    """Staff change how many infusions the series has (1 to 20, at least the ones booked)."""
    with transaction.atomic():
        booked = enrollment.infusions.count()
        if not max(1, booked) <= size <= 20:
            raise EnrollmentError(
                "series_size", f"must be from {max(1, booked)} (infusions booked) to 20, not {size}"
            )
        before = enrollment.series_size
        enrollment.series_size = size
        enrollment.save(update_fields=["series_size"])
        _audit(enrollment, AuditEvent.Event.SERIES_SIZE_SET, now, actor, before=before, after=size)
        replan(enrollment, now=now)


def end_series_after(enrollment: Enrollment, number: int, *, now: datetime, actor: Actor) -> None:
    """Staff end the series early ("series ends after infusion 4"): infusion ``number`` becomes
    the last, later ones are cancelled, and end-of-series messages are timed from it."""
    with transaction.atomic():
        last = _infusion(enrollment, number)
        if last.status == Infusion.Status.CANCELLED:
            raise EnrollmentError("infusion", f"infusion {number} was cancelled: end after another")
        if last.starts_at > now and last.status != Infusion.Status.DONE:
            raise EnrollmentError("infusion", f"infusion {number} has not taken place yet")
        enrollment.infusions.filter(number__gt=number).update(status=Infusion.Status.CANCELLED)
        enrollment.series_size = number
        enrollment.save(update_fields=["series_size"])
        _audit(enrollment, AuditEvent.Event.SERIES_ENDED_EARLY, now, actor, infusion=number)
        replan(enrollment, now=now)


def pause(enrollment: Enrollment, *, now: datetime, actor: Actor) -> None:
    """Stop sending for now: every pending message is skipped ``paused``."""
    _set_status(enrollment, E.PAUSED, AuditEvent.Event.PAUSED, now, actor)


def resume(enrollment: Enrollment, *, now: datetime, actor: Actor) -> None:
    """Resume: future messages come back; ones that passed while paused are skipped too_late."""
    _set_status(enrollment, E.ACTIVE, AuditEvent.Event.RESUMED, now, actor)


def end(enrollment: Enrollment, *, now: datetime, actor: Actor) -> None:
    """End the series for good: every pending message is skipped ``enrollment_ended``."""
    _set_status(enrollment, E.ENDED, AuditEvent.Event.ENDED, now, actor)


def _set_status(
    enrollment: Enrollment, status: Enrollment.Status, event: str, now: datetime, actor: Actor
) -> None:
    with transaction.atomic():
        current = Enrollment.objects.select_for_update().get(pk=enrollment.pk).status
        if current == status:
            return  # already there: idempotent, no second audit event
        if current not in _TRANSITIONS[status]:
            raise EnrollmentError("status", f"an enrollment that is {current} cannot be {event}")
        enrollment.status = status
        enrollment.ended_at = now if status == E.ENDED else None
        enrollment.save(update_fields=["status", "ended_at"])
        _audit(enrollment, event, now, actor, before=current, after=status)
        replan(enrollment, now=now)


def record_opt_out(
    patient: Patient, channel: str, *, now: datetime, method: str, actor: Actor
) -> None:
    """The patient (STOP, unsubscribe link) or provider (21610) opted out: skip pending on that channel."""
    _set_opt_out(patient, channel, now, now=now, method=method, actor=actor)


def record_opt_in(
    patient: Patient, channel: str, *, now: datetime, method: str, actor: Actor
) -> None:
    """The patient opted back in (START): future messages on that channel come back."""
    _set_opt_out(patient, channel, None, now=now, method=method, actor=actor)


def _set_opt_out(
    patient: Patient,
    channel: str,
    value: datetime | None,
    *,
    now: datetime,
    method: str,
    actor: Actor,
) -> None:
    if channel not in {c.value for c in Channel}:
        raise EnrollmentError("channel", f"'{channel}' is not one of email, sms")
    if method not in ConsentRecord.Method.values:
        raise EnrollmentError(
            "method", f"'{method}' is not one of {', '.join(ConsentRecord.Method.values)}"
        )
    field = _OPTED_OUT_FIELD[Channel(channel)]
    with transaction.atomic():
        updated = Patient.objects.filter(
            pk=patient.pk, **{f"{field}__isnull": value is not None}
        ).update(**{field: value})
        patient.refresh_from_db(fields=[field])
        if not updated:
            return  # already in that state: idempotent, no second record
        ConsentRecord.objects.create(
            patient=patient,
            channel=channel,
            granted=value is None,
            method=method,
            recorded_by=actor_name(actor),
            recorded_at=now,
        )
        enrollments = list(patient.enrollments.exclude(status__in=(E.ENDED, E.COMPLETED)))
        AuditEvent.record(
            actor,
            AuditEvent.Event.OPTED_OUT if value else AuditEvent.Event.OPTED_IN,
            at=now,
            patient=patient,
            detail={
                "channel": channel,
                "method": method,
                "enrollments": [e.pk for e in enrollments],
            },
        )
        for enrollment in enrollments:
            replan(enrollment, now=now)


def replan(enrollment: Enrollment, *, now: datetime) -> ReplanResult:
    """Bring the enrollment's pending deliveries in line with its current state (in the caller's
    transaction). Planning twice creates nothing new; sent rows are never touched."""
    # One query for the series, its patient and its version (the plan reads all three).
    enrollment.refresh_from_db(from_queryset=_WITH_PATIENT_AND_VERSION)
    return replan_many([enrollment], now=now)[0]


def replan_many(enrollments: Sequence[Enrollment], *, now: datetime) -> list[ReplanResult]:
    """:func:`replan` for several series at once, in the same few queries however many there are
    (a publish moves thousands). The caller holds their locks, in its transaction, and loaded each
    with its patient and version (``_WITH_PATIENT_AND_VERSION``); no two share a patient."""
    series = list(enrollments)
    ids = [e.pk for e in series]
    # Read into dicts, not prefetched onto the caller's objects (they would go stale at once).
    rows: dict[int, list[Delivery]] = {pk: [] for pk in ids}
    for row in Delivery.objects.filter(enrollment_id__in=ids).defer(*Delivery.SENT_COPY):
        rows[row.enrollment_id].append(row)
    infusions: dict[int, list[Infusion]] = {pk: [] for pk in ids}
    for infusion in Infusion.objects.filter(enrollment_id__in=ids):
        infusions[infusion.enrollment_id].append(infusion)
    elsewhere = _sent_elsewhere(series)
    created: list[Delivery] = []
    changes: list[tuple[Delivery, dict[str, object]]] = []
    counts: list[Counter[str]] = []
    for enrollment in series:
        existing = {(d.step_key, d.channel): d for d in rows[enrollment.pk]}
        history = history_of(existing.values(), elsewhere.get(enrollment.patient_id, ()))
        plans = _plan(enrollment, infusions[enrollment.pk], now, history)
        planned = {(p.step_key, p.channel.value): _row_fields(p) for p in plans}
        steps = catalog.schedule_of(enrollment.schedule_version).steps_by_key
        for key, row in existing.items():
            if key not in planned and row.status in Delivery.PENDING:
                planned[key] = {"status": S.SKIPPED, "skip_reason": _unplanned_reason(key, steps)}
        new = [
            Delivery(enrollment=enrollment, step_key=step, channel=channel, **fields)
            for (step, channel), fields in planned.items()
            if (step, channel) not in existing
        ]
        created += new
        count = Counter({"created": len(new)})
        for key, fields in planned.items():
            if key in existing:
                change = _change(existing[key], fields)
                if change is None:
                    count["unchanged"] += 1
                else:
                    changes.append(change)
        counts.append(count)
    Delivery.objects.bulk_create(created)
    changed = _write_changes(changes)
    by_series = {e.pk: count for e, count in zip(series, counts, strict=True)}
    for row, fields in changes:
        outcome = "unchanged"
        if row.pk in changed:
            outcome = "skipped" if fields["status"] == S.SKIPPED else "retimed"
        by_series[row.enrollment_id][outcome] += 1
    return [ReplanResult(c["created"], c["retimed"], c["skipped"], c["unchanged"]) for c in counts]


def _plan_new_series(enrollment: Enrollment, now: datetime, *, returning: bool) -> None:
    """Plan a series just created (no rows yet): what :func:`replan` does, without reading back
    what was just written. A returning patient's earlier series count against the caps."""
    elsewhere = _sent_elsewhere([enrollment]).get(enrollment.patient_id, ()) if returning else ()
    history = history_of((), elsewhere)
    Delivery.objects.bulk_create(
        Delivery(
            enrollment=enrollment, step_key=p.step_key, channel=p.channel.value, **_row_fields(p)
        )
        for p in _plan(enrollment, enrollment.infusions.all(), now, history)
    )


def _unplanned_reason(key: tuple[str, str], steps: Mapping[str, Step]) -> str:
    """Why a pending row the plan no longer has is skipped: its step (or the step's channel) is
    gone from the series' schedule version, or its anchor is (every infusion cancelled)."""
    step = steps.get(key[0])
    if step is None or key[1] not in step.channels:
        return SkipReason.STEP_REMOVED.value
    return SkipReason.INFUSION_CANCELLED.value


def replan_series(enrollment_ids: Iterable[int], *, now: datetime) -> None:
    """Re-plan each of these enrollments in its own transaction, under its lock (the sender, for
    rows that came back unsent from a series that changed while they were being sent)."""
    for enrollment in Enrollment.objects.filter(pk__in=list(enrollment_ids)).order_by("pk"):
        with transaction.atomic():
            _lock(enrollment)
            replan(enrollment, now=now)


def _change(row: Delivery, fields: dict[str, object]) -> tuple[Delivery, dict[str, object]] | None:
    """What re-planning writes to a row (every planned field), or None: nothing to write (it is
    not pending any more, or the plan says what it says)."""
    if row.attempts and fields["status"] == S.SCHEDULED:
        # Waiting to retry after a transient error: replanning must not skip the backoff.
        planned_at = cast(datetime, fields["due_at"])  # a scheduled row's plan has a time
        fields = {**fields, "due_at": max(planned_at, row.due_at)}
    # A queued row is a scheduled row the dispatcher has handed on: the same plan.
    status = S.SCHEDULED if row.status == S.QUEUED else row.status
    same = status == fields["status"] and all(
        getattr(row, k) == v for k, v in fields.items() if k != "status"
    )
    if row.status not in Delivery.PENDING or same:
        return None
    return row, {name: fields.get(name, getattr(row, name)) for name in _PLANNED}


# The fields a plan sets on a row (see _row_fields).
_PLANNED = ("due_at", "status", "skip_reason", "anchor_infusion", "message_key")
# PostgreSQL: every change in one statement, the values as one array per column.
_CHANGE_POSTGRES = """
UPDATE drip_delivery AS d SET due_at = v.due_at, status = v.status, skip_reason = v.skip_reason,
    anchor_infusion = v.anchor_infusion, message_key = v.message_key, queued_at = NULL
FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::varchar[], %s::smallint[],
            %s::varchar[]) AS v(id, due_at, status, skip_reason, anchor_infusion, message_key)
WHERE d.id = v.id AND d.status = ANY(%s)
RETURNING d.id
"""


def _write_changes(changes: Sequence[tuple[Delivery, dict[str, object]]]) -> set[int]:
    """Write each change as a compare-and-set (a row a worker has just claimed for sending is
    left alone); returns the ids of the rows that changed."""
    if not changes:
        return set()
    if connection.vendor != "postgresql":
        return {
            row.pk
            for row, fields in changes
            if Delivery.objects.filter(pk=row.pk, status__in=Delivery.PENDING).update(
                queued_at=None, **fields
            )
        }
    columns = [[fields[name] for _, fields in changes] for name in _PLANNED]
    with connection.cursor() as cursor:
        cursor.execute(
            _CHANGE_POSTGRES, [[row.pk for row, _ in changes], *columns, list(Delivery.PENDING)]
        )
        return {found for (found,) in cursor.fetchall()}


def _plan(
    enrollment: Enrollment, infusions: Iterable[Infusion], now: datetime, history: list[Sent]
) -> list[PlannedDelivery]:
    schedule = clinic.bounded(catalog.schedule_of(enrollment.schedule_version))
    slots = tuple(InfusionSlot(i.number, i.starts_at, InfusionStatus(i.status)) for i in infusions)
    series = Series(enrollment.enrolled_at, slots, enrollment.series_size, enrollment.status)
    return plan(schedule, series, enrollment.patient.prefs(), now, history)


class SeriesRow(Protocol):
    """A delivery row as the caps read it (a Delivery, or the impact's lighter tuple)."""

    @property
    def channel(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def step_key(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def sent_at(self) -> datetime | None: ...


def history_of(rows: Iterable[SeriesRow], elsewhere: Iterable[Sent]) -> list[Sent]:
    """What counts against the caps besides this plan: this series' rows that went out (or
    failed: never planned again) and every message of the patient's other series."""
    history = [
        Sent(
            Channel(d.channel),
            (d.sent_at or d.due_at) if d.status in Delivery.WENT_OUT else None,
            d.step_key,
        )
        for d in rows
        if d.status not in Delivery.PENDING
    ]
    return history + list(elsewhere)


def _sent_elsewhere(series: Sequence[Enrollment]) -> dict[int, list[Sent]]:
    """Each patient's messages in their other series (by patient id; those without any left
    out), in two queries for all of them."""
    # Through the patients' other enrollments (indexed) rather than a join over every delivery.
    others = dict(
        Enrollment.objects.filter(patient_id__in={e.patient_id for e in series})
        .exclude(pk__in=[e.pk for e in series])
        .values_list("pk", "patient_id")
    )
    found: dict[int, list[Sent]] = {}
    if not others:
        return found
    rows = Delivery.objects.filter(enrollment_id__in=list(others)).exclude(
        status__in=(S.SKIPPED, S.FAILED)
    )
    for enrollment_id, channel, sent_at, due_at in rows.values_list(
        "enrollment_id", "channel", "sent_at", "due_at"
    ):
        found.setdefault(others[enrollment_id], []).append(
            Sent(Channel(channel), sent_at or due_at)
        )
    return found


def _series_size(enrollment: Enrollment) -> int:
    return enrollment.series_size or catalog.schedule_of(enrollment.schedule_version).infusions


def _row_fields(p: PlannedDelivery) -> dict[str, object]:
    return {
        "due_at": p.due_at,
        "status": S.SKIPPED if p.skip_reason else S.SCHEDULED,
        "skip_reason": p.skip_reason.value if p.skip_reason else "",
        "anchor_infusion": p.anchor_infusion,
        "message_key": p.message,
    }


def _lock(enrollment: Enrollment) -> None:
    """Lock the enrollment row for this transaction. Every change to a series (moves, marks,
    additions, status) and the sender's claim take this lock, so they see each other's work."""
    lock_series(enrollment.pk)


def lock_series(enrollment_id: int) -> None:
    """Lock one series (its enrollment row) for the caller's transaction (see ``_lock``)."""
    list(Enrollment.objects.select_for_update().filter(pk=enrollment_id).values_list("pk"))


def _infusion(enrollment: Enrollment, number: int) -> Infusion:
    try:
        return enrollment.infusions.select_for_update().get(number=number)
    except Infusion.DoesNotExist:
        raise EnrollmentError("infusion", f"this series has no infusion {number}") from None


def _audit(
    enrollment: Enrollment, event: str, now: datetime, actor: Actor, **detail: object
) -> None:
    AuditEvent.record(
        actor,
        event,
        at=now,
        patient_id=enrollment.patient_id,
        enrollment=enrollment,
        detail=detail,
    )
