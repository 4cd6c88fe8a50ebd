"""Publish a draft (or an old version again: a rollback) as a new immutable version, and move
the series on earlier versions to it.

Publishing and moving are separate steps: ``publish_draft`` / ``roll_back`` add the version (and,
when everyone moves, a ``VersionMove`` row) in the caller's transaction; ``move_batch`` then
moves the series a batch at a time (a Celery task calls it until it says done), so sending never
waits behind one long transaction. A batch is one transaction with its series locked, re-planned
together in a few queries: pending messages are re-timed, re-worded or skipped
``step_removed``; sent ones never change and are never sent again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from drip.catalog import drafts
from drip.catalog import versions as catalog
from drip.core.rendering import parse_message
from drip.core.schedule import parse_schedule
from drip.enrollment.service import replan_many
from drip.errors import DripError, Problem, ScheduleError
from drip.models import AuditEvent, Enrollment, ScheduleDraft, ScheduleVersion, VersionMove

EVERYONE, NEW_ONLY = "everyone", "new"
MOVING = (Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED)
BATCH_SIZE = 100  # series per transaction (and per task): their locks are held together
# After each batch a move rests as long as the batch took (the task queues the next batch that
# much later): it takes about half of what it could, and sending, on the same workers and
# database, keeps the rest (`python -m bench editor` measures both).
REST = 1.0
# A move whose batches stop coming for this long is resumed by the dispatcher's tick (a batch
# takes well under a second, its rest as long).
STALLED_AFTER = timedelta(minutes=2)


class NothingToPublish(DripError):
    """The draft says exactly what the newest version says."""


def publish_draft(
    draft: ScheduleDraft, *, revision: int, note: str, who_moves: str, actor: str, now: datetime
) -> tuple[ScheduleVersion, VersionMove | None]:
    """The draft as the next version (refused with ScheduleError while it has problems, with
    DraftConflict if it changed since ``revision``); the draft is gone afterwards."""
    problems = drafts.check(draft.spec, draft.messages)
    if problems:
        raise ScheduleError([Problem("draft", None, p.message) for p in problems])
    spec_text, _ = drafts.spec_to_yaml(draft.spec)
    used = {step.get("message") for step in draft.spec["steps"]}
    messages = {key: as_published(draft.messages[key]) for key in sorted(used)}
    with transaction.atomic():
        if not ScheduleDraft.objects.filter(pk=draft.pk, revision=revision).delete()[0]:
            raise drafts.DraftConflict(
                f"someone else saved the draft of {draft.name} since you opened it; "
                "nothing was published"
            )
        return _publish(draft.name, spec_text, messages, note, who_moves, actor, now)


def roll_back(
    name: str, number: int, *, note: str, who_moves: str, actor: str, now: datetime
) -> tuple[ScheduleVersion, VersionMove | None]:
    """Publish version ``number`` again, as the next version (history only ever grows)."""
    old = ScheduleVersion.objects.get(name=name, version=number)
    with transaction.atomic():
        return _publish(
            name, old.spec_text, old.messages, note, who_moves, actor, now, copied_from=number
        )


def _publish(
    name: str,
    spec_text: str,
    messages: Mapping[str, Any],
    note: str,
    who_moves: str,
    actor: str,
    now: datetime,
    copied_from: int | None = None,
) -> tuple[ScheduleVersion, VersionMove | None]:
    if who_moves not in (EVERYONE, NEW_ONLY):
        raise ValueError(f"who_moves must be {EVERYONE!r} or {NEW_ONLY!r}, not {who_moves!r}")
    latest = (
        ScheduleVersion.objects.select_for_update().filter(name=name).order_by("-version").first()
    )
    digest = catalog.checksum(spec_text, messages)
    if latest is not None and latest.checksum == digest:
        raise NothingToPublish(f"version {latest.version} of {name} already says exactly this")
    schedule = parse_schedule(spec_text, source=name)
    version = ScheduleVersion.objects.create(
        name=name,
        version=(latest.version + 1) if latest else 1,
        title=schedule.title,
        spec_text=spec_text,
        messages=dict(messages),
        checksum=digest,
        created_by=actor,
        note=note.strip(),
        copied_from=copied_from,
    )
    move = start_move(version, actor=actor, now=now) if who_moves == EVERYONE else None
    AuditEvent.objects.create(
        at=now,
        actor=actor,
        event=AuditEvent.Event.SCHEDULE_PUBLISHED,
        detail={"schedule": name, "version": version.version, "who_moves": who_moves,
                "copied_from": copied_from},
    )  # fmt: skip
    return version, move


def as_published(data: Mapping[str, Any]) -> dict[str, object]:
    """A draft message as a version stores it: as if read back from the files ``export`` writes
    (so a version published here and one imported from its export are the same)."""
    template = parse_message("m", email_md(data), str(data.get("sms_text", "")))
    return catalog.message_json(template)


def start_move(version: ScheduleVersion, *, actor: str, now: datetime) -> VersionMove:
    """The move of every series on an earlier version of the schedule to ``version`` (counted
    now; ``move_batch`` or ``move_all`` then carries it out)."""
    total = to_move(version).count()
    return VersionMove.objects.create(
        version=version, total=total, actor=actor, started_at=now, touched_at=now
    )


def stalled_moves(now: datetime) -> list[int]:
    """Moves not done whose batches stopped coming (a task lost with its worker, a broker down
    when the move was started): each claimed for one resumption (touched now, compare-and-set),
    so two dispatchers at once queue it once."""
    stalled = Q(touched_at__lt=now - STALLED_AFTER) | Q(touched_at__isnull=True)
    waiting = VersionMove.objects.exclude(status=VersionMove.Status.DONE).filter(stalled)
    return [
        pk
        for pk in waiting.values_list("pk", flat=True)
        if VersionMove.objects.filter(stalled, pk=pk).update(touched_at=now)
    ]


def to_move(version: ScheduleVersion) -> Any:
    """The series a publish moves: active or paused, on an earlier version of the schedule."""
    return Enrollment.objects.filter(
        schedule_version__name=version.name,
        schedule_version__version__lt=version.version,
        status__in=MOVING,
    )


# --- moving -----------------------------------------------------------------------------------


def move_batch(move_id: int, *, now: datetime, batch_size: int = BATCH_SIZE) -> bool:
    """Move the next ``batch_size`` series to the move's version, in one transaction with their
    locks held; True once none are left. Safe to run twice: a moved series is not picked."""
    move = VersionMove.objects.select_related("version").get(pk=move_id)
    VersionMove.objects.filter(pk=move_id, status=VersionMove.Status.PENDING).update(
        status=VersionMove.Status.RUNNING
    )
    ids = list(to_move(move.version).order_by("pk").values_list("pk", flat=True)[:batch_size])
    with transaction.atomic():
        counts = _move(ids, move, now)
        VersionMove.objects.filter(pk=move_id).update(
            touched_at=now, **{k: F(k) + v for k, v in counts.items()}
        )
    if len(ids) < batch_size:
        VersionMove.objects.filter(pk=move_id).update(
            status=VersionMove.Status.DONE, finished_at=now
        )
        return True
    return False


def _move(ids: list[int], move: VersionMove, now: datetime) -> dict[str, int]:
    """Move these series (in the caller's transaction): a fixed number of queries for all."""
    # Locked as every change to a series is (in id order, as the sender locks them), and read
    # with the patient and version the plan needs, in one query.
    locked = (
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("patient", "schedule_version")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    # Not moved already (a second run) or by a later publish, nor ended meanwhile.
    series = [
        e
        for e in locked
        if e.schedule_version.name == move.version.name
        and e.schedule_version.version < move.version.version
        and e.status in MOVING
    ]
    previous = {e.pk: e.schedule_version.version for e in series}
    Enrollment.objects.filter(pk__in=previous).update(
        schedule_version=move.version, version_moved_at=now
    )
    for enrollment in series:
        enrollment.schedule_version, enrollment.version_moved_at = move.version, now
    results = replan_many(series, now=now)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now,
            actor=move.actor,
            event=AuditEvent.Event.SCHEDULE_MOVED,
            patient_id=enrollment.patient_id,
            enrollment=enrollment,
            detail={
                "from_version": previous[enrollment.pk],
                "to_version": move.version.version,
                "retimed": result.retimed,
                "added": result.created,
                "skipped": result.skipped,
            },
        )  # fmt: skip
        for enrollment, result in zip(series, results, strict=True)
    )
    return {
        "moved": len(series),
        "retimed": sum(r.retimed for r in results),
        "created": sum(r.created for r in results),
        "skipped": sum(r.skipped for r in results),
    }


def move_all(
    move_id: int, *, now: datetime, batch_size: int = BATCH_SIZE, rest: float = REST
) -> VersionMove:
    """Every batch of a move, one after another, resting ``rest`` times each batch's duration
    between them (as the task does)."""
    while True:
        started = time.monotonic()
        if move_batch(move_id, now=now, batch_size=batch_size):
            return VersionMove.objects.get(pk=move_id)
        time.sleep(rest * (time.monotonic() - started))  # pacing, beside sending


# --- files ------------------------------------------------------------------------------------


def email_md(data: Mapping[str, Any]) -> str:
    """A message's ``email.md``: front matter (subject, sources) and the Markdown body."""
    lines = ["---", f"subject: {drafts.quote(data.get('email_subject', ''))}"]
    sources = list(data.get("sources") or ())
    if sources:
        lines += ["source:"] + [f"  - {drafts.quote(s)}" for s in sources]
    body = str(data.get("email_body", "")).strip("\n")
    return "\n".join(lines + ["---", "", body]) + "\n"


def export(version: ScheduleVersion, folder: Path, *, article: str | None = None) -> list[Path]:
    """Write ``version`` as files ``drip schedules validate`` reads: ``folder/schedules/<name>.yaml``
    and ``folder/messages/<key>/{email.md,sms.txt}`` (and the source article, when given)."""
    schedules, messages = folder / "schedules", folder / "messages"
    schedules.mkdir(parents=True, exist_ok=True)
    written = [schedules / f"{version.name}.yaml"]
    written[0].write_text(version.spec_text, encoding="utf-8")
    for key, data in sorted(version.messages.items()):
        (messages / key).mkdir(parents=True, exist_ok=True)
        (messages / key / "email.md").write_text(email_md(data), encoding="utf-8")
        (messages / key / "sms.txt").write_text(str(data["sms_text"]) + "\n", encoding="utf-8")
        written += [messages / key / "email.md", messages / key / "sms.txt"]
    if article is not None:
        (messages / "SOURCE_ARTICLE.txt").write_text(article, encoding="utf-8")
        written.append(messages / "SOURCE_ARTICLE.txt")
    return written
