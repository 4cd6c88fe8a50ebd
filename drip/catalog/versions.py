"""Versioned schedules and messages in the database.

A ScheduleVersion is immutable and self-contained: the schedule's YAML and the text of every
message it uses, as published. Enrollments point at a version, so editing a message later never
changes what an existing version says; the sender renders from the enrollment's version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import transaction

from drip.catalog import files as library
from drip.core.rendering import MessageTemplate
from drip.core.schedule import Schedule, parse_schedule
from drip.errors import EnrollmentError, ScheduleError, TemplateError
from drip.models import ScheduleVersion


def publish_from_disk(
    schedules_dir: Path | None = None, messages_dir: Path | None = None, *, actor: str = "system"
) -> list[ScheduleVersion]:
    """Validate everything on disk, then add a version for each schedule that changed.

    Refuses (saving nothing) when any file has a problem. Running it twice adds nothing.
    """
    schedules_dir = schedules_dir or settings.DRIP_SCHEDULES_DIR
    messages_dir = messages_dir or settings.DRIP_MESSAGES_DIR
    problems = library.validate_library(schedules_dir, messages_dir)
    if problems:
        kind = (
            TemplateError
            if all(p.source.endswith((".md", ".txt")) for p in problems)
            else ScheduleError
        )
        raise kind(problems)
    messages = library.load_messages(messages_dir)
    schedules = library.load_schedules(schedules_dir, messages)
    spec_texts = {p.stem: p.read_text(encoding="utf-8") for p in schedules_dir.glob("*.yaml")}
    texts_by_name = {s.name: spec_texts[Path(s.source).stem] for s in schedules.values()}
    with transaction.atomic():
        return [
            version
            for name, schedule in sorted(schedules.items())
            if (version := _publish(schedule, texts_by_name[name], messages, actor)) is not None
        ]


def _publish(
    schedule: Schedule, spec_text: str, messages: dict[str, MessageTemplate], actor: str
) -> ScheduleVersion | None:
    used = {step.message: message_json(messages[step.message]) for step in schedule.steps}
    digest = checksum(spec_text, used)
    latest = ScheduleVersion.objects.filter(name=schedule.name).order_by("-version").first()
    if latest is not None and latest.checksum == digest:
        return None
    return ScheduleVersion.objects.create(
        name=schedule.name,
        version=(latest.version + 1) if latest else 1,
        title=schedule.title,
        spec_text=spec_text,
        messages=used,
        checksum=digest,
        created_by=actor,
    )


def message_json(t: MessageTemplate) -> dict[str, object]:
    """A message as a version stores it."""
    return {
        "email_subject": t.email_subject,
        "email_body": t.email_body,
        "sms_text": t.sms_text,
        "sources": list(t.sources),
        "email_body_first_line": t.email_body_first_line,
    }


def checksum(spec_text: str, messages: Mapping[str, object]) -> str:
    """sha256 of the schedule's YAML and the canonical JSON of the messages it uses."""
    canonical = spec_text + "\n" + json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def latest_version(name: str) -> ScheduleVersion:
    """The newest published version of schedule ``name``; EnrollmentError("schedule") if none."""
    version = ScheduleVersion.objects.filter(name=name).order_by("-version").first()
    if version is None:
        raise EnrollmentError(
            "schedule", f"no published schedule named '{name}' (run: drip schedules publish)"
        )
    return version


@lru_cache(maxsize=256)
def version_by_id(version_id: int) -> ScheduleVersion:
    """A version row, cached per process: versions never change once published, and loading
    the messages JSON with every delivery was the sender's largest database cost."""
    return ScheduleVersion.objects.get(pk=version_id)


def schedule_of(version: ScheduleVersion) -> Schedule:
    """The parsed schedule of a version (cached per process: versions never change)."""
    return _parse(_Key(version.pk, version.checksum, version))


def template_of(version: ScheduleVersion, message_key: str) -> MessageTemplate:
    """One message of a version, ready to render (cached per process: versions never change)."""
    return _template(_Key(version.pk, version.checksum, version), message_key)


@dataclass(frozen=True)
class _Key:
    """Cache key: a version is identified by (id, checksum); the row rides along uncompared."""

    version_id: int
    digest: str
    row: ScheduleVersion = field(compare=False, hash=False)


@lru_cache(maxsize=256)
def _parse(key: _Key) -> Schedule:
    return parse_schedule(key.row.spec_text, source=f"{key.row.name} (version {key.row.version})")


@lru_cache(maxsize=4096)
def _template(key: _Key, message_key: str) -> MessageTemplate:
    data = key.row.messages[message_key]
    return MessageTemplate(
        key=message_key,
        email_subject=data["email_subject"],
        email_body=data["email_body"],
        sms_text=data["sms_text"],
        sources=tuple(data.get("sources", ())),
        email_body_first_line=data.get("email_body_first_line", 1),
    )
