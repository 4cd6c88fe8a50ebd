"""Drafts: an admin's edit of a schedule, kept in the database until it is published.

A draft holds the schedule's fields and steps as the admin typed them (strings, like the YAML
file) and the messages it uses. It is checked by writing it out as schedule YAML and running
the very rules ``drip schedules validate`` runs (the parser and the guardrails); each problem is
traced back to its step and field, or to its message and part, for the pages to show in place.

Every save carries the revision the admin started from; a save from an older revision is refused
with ``DraftConflict`` (compare-and-set on ``revision``), never a silent overwrite.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from django.conf import settings
from django.db.models import F

from drip.catalog import clinic
from drip.catalog import files as library
from drip.core import guardrails
from drip.core.rendering import MessageTemplate, validate_message
from drip.core.schedule import STEP_FIELDS, Channel, parse_schedule
from drip.errors import DripError, Problem, ScheduleError
from drip.models import ScheduleDraft, ScheduleVersion

REQUIRED_STEP_FIELDS = ("key", "anchor", "offset", "channels", "message")
MESSAGE_PARTS = ("email_subject", "email_body", "sms_text")
_SCHEDULE_SOURCE = "schedule"
_MESSAGE_SOURCE = "message:"  # message:<key>:<part>

Spec = dict[str, Any]


class DraftConflict(DripError):
    """The draft was saved by someone else since this change was started from it."""


@dataclass(frozen=True)
class DraftProblem:
    """One problem, placed: at a step's field (``step`` is its index), at a message's part, or at
    the schedule as a whole (``field`` names the schedule field, or is "schedule")."""

    message: str
    step: int | None = None
    field: str = "schedule"
    message_key: str | None = None
    line: int | None = None  # within the part, for message problems


# --- the spec as typed <-> schedule YAML --------------------------------------------------------


def spec_from_yaml(text: str) -> Spec:
    """A schedule's YAML as the editor's strings (``"18:00"``, ``"true"``, ``["email"]``)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spec = _plain(root) if root is not None else {}
    if not isinstance(spec, dict):
        raise ScheduleError([Problem(_SCHEDULE_SOURCE, 1, "the schedule is not a mapping")])
    spec.setdefault("steps", [])
    spec["steps"] = [_full_step(step) for step in spec["steps"] if isinstance(step, dict)]
    return spec


def _plain(node: yaml.Node) -> Any:
    """Scalars stay the text they were written as (YAML 1.1 would read 18:00 as a number)."""
    if isinstance(node, yaml.MappingNode):
        return {str(k.value): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item) for item in node.value]
    return str(node.value)


def _full_step(step: Mapping[str, Any]) -> dict[str, Any]:
    full: dict[str, Any] = {name: step.get(name, "") for name in STEP_FIELDS}
    channels = full["channels"]
    full["channels"] = [str(c) for c in channels] if isinstance(channels, list) else []
    return full


def spec_to_yaml(spec: Spec) -> tuple[str, dict[int, tuple[int | None, str]]]:
    """Schedule YAML for the spec, and which (step index, field) each line holds. Every value is
    written quoted, so nothing typed can change the YAML's shape; required step fields are always
    written, so a blank one is reported at its own line."""
    lines: list[str] = []
    where: dict[int, tuple[int | None, str]] = {}

    def emit(text: str, step: int | None, field: str) -> None:
        lines.append(text)
        where[len(lines)] = (step, field)

    for field in ("name", "title", "infusions", "late_grace"):
        if str(spec.get(field, "")).strip() or field in ("name", "infusions"):
            emit(f"{field}: {quote(spec.get(field, ''))}", None, field)
    for field in ("send_window", "caps"):
        if spec.get(field):
            parts = ", ".join(f"{k}: {quote(v)}" for k, v in spec[field].items())
            emit(f"{field}: {{{parts}}}", None, field)
    emit("steps:", None, "steps")
    for index, step in enumerate(spec.get("steps", [])):
        for n, field in enumerate(STEP_FIELDS):
            value = step.get(field, "")
            if field not in REQUIRED_STEP_FIELDS and not value:
                continue
            written = (
                "[" + ", ".join(quote(c) for c in value) + "]"
                if field == "channels"
                else quote(value)
            )
            emit(f"{'  - ' if n == 0 else '    '}{field}: {written}", index, field)
    return "\n".join(lines) + "\n", where


def quote(value: object) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(str(value), ensure_ascii=False)


# --- messages ----------------------------------------------------------------------------------


def template_of(key: str, data: Mapping[str, Any]) -> MessageTemplate:
    """A draft message, ready to check and render; problems name ``message:<key>:<part>`` and
    lines count from the part's first line."""
    return MessageTemplate(
        key=key,
        email_subject=str(data.get("email_subject", "")),
        email_body=str(data.get("email_body", "")),
        sms_text=str(data.get("sms_text", "")),
        sources=tuple(data.get("sources", ())),
        email_body_first_line=1,
        source_files={
            "subject": f"{_MESSAGE_SOURCE}{key}:email_subject",
            "email": f"{_MESSAGE_SOURCE}{key}:email_body",
            "sms": f"{_MESSAGE_SOURCE}{key}:sms_text",
        },
        subject_line=1,
    )


# --- checking: the rules of `drip schedules validate` ------------------------------------------


def check(spec: Spec, messages: Mapping[str, Mapping[str, Any]]) -> list[DraftProblem]:
    """Every problem with the draft, each placed at its step and field or message and part."""
    text, where = spec_to_yaml(spec)
    templates = {key: template_of(key, data) for key, data in messages.items()}
    problems: list[Problem] = []
    for template in templates.values():
        problems += validate_message(template)
    known = {key: library.channels_of(t) for key, t in templates.items()}
    try:
        schedule = parse_schedule(text, source=_SCHEDULE_SOURCE, messages=known)
    except ScheduleError as error:
        problems += error.problems
        schedule = None
    if not problems and schedule is not None:
        used = {step.message for step in schedule.steps}
        problems += guardrails.message_problems(
            {k: t for k, t in templates.items() if k in used},
            guardrails.steps_by_message([schedule]),
            clinic=clinic.current(),
            article=read_article(),
            sensitive_terms=library.read_sensitive_terms(),
            rules=library.rules_from_settings(),
        )
        problems += guardrails.cap_problems(schedule)
    return [_placed(p, where, spec) for p in problems]


def _placed(
    problem: Problem, where: Mapping[int, tuple[int | None, str]], spec: Spec
) -> DraftProblem:
    if problem.source.startswith(_MESSAGE_SOURCE):
        _, key, part = problem.source.split(":", 2)
        return DraftProblem(problem.message, None, part, key, problem.line)
    step, field = where.get(problem.line or 0, (None, "schedule"))
    if step is None and problem.step:  # a problem reported at the step, not at one field
        step = _step_index(spec, problem.step)
        field = "key" if step is not None else field
    return DraftProblem(problem.message, step, field)


def _step_index(spec: Spec, key: str) -> int | None:
    keys = [s.get("key") for s in spec.get("steps", [])]
    return keys.index(key) if key in keys else None


def read_article() -> str | None:
    """The clinic's source article, which every `source:` quote must match word for word."""
    path = settings.DRIP_MESSAGES_DIR / library.ARTICLE_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else None


def channels_of_message(data: Mapping[str, Any]) -> frozenset[Channel]:
    return library.channels_of(template_of("m", data))


# --- the draft row ----------------------------------------------------------------------------


def start(name: str, *, actor: str, now: datetime) -> ScheduleDraft:
    """The schedule's draft: the one already open, or a new one from its newest version."""
    existing = ScheduleDraft.objects.filter(name=name).first()
    if existing is not None:
        return existing
    base = ScheduleVersion.objects.filter(name=name).order_by("-version").first()
    spec = spec_from_yaml(base.spec_text) if base else {"name": name, "infusions": "6"}
    return ScheduleDraft.objects.create(
        name=name,
        base_version=base,
        spec=spec if base else {**spec, "steps": []},
        messages=dict(base.messages) if base else {},
        created_by=actor,
        updated_by=actor,
        updated_at=now,
    )


def save(
    draft: ScheduleDraft,
    *,
    revision: int,
    actor: str,
    now: datetime,
    spec: Spec | None = None,
    messages: Mapping[str, Any] | None = None,
) -> ScheduleDraft:
    """Store a new spec and/or messages if the draft is still at ``revision``; else DraftConflict.
    The caller owns the transaction."""
    changes: dict[str, Any] = {"updated_by": actor, "updated_at": now}
    if spec is not None:
        changes["spec"] = spec
    if messages is not None:
        changes["messages"] = dict(messages)
    saved = ScheduleDraft.objects.filter(pk=draft.pk, revision=revision).update(
        revision=F("revision") + 1, **changes
    )
    if not saved:
        raise DraftConflict(
            f"someone else saved the draft of {draft.name} since you opened it (revision "
            f"{revision}); nothing was changed"
        )
    draft.refresh_from_db()
    return draft


def with_step(spec: Spec, index: int | None, step: Mapping[str, Any]) -> Spec:
    """The spec with step ``index`` replaced (None: added at the end)."""
    steps = [dict(s) for s in spec.get("steps", [])]
    if index is None:
        steps.append(_full_step(step))
    else:
        steps[index] = _full_step(step)
    return {**spec, "steps": steps}


def without_step(spec: Spec, index: int) -> Spec:
    steps = [dict(s) for i, s in enumerate(spec.get("steps", [])) if i != index]
    return {**spec, "steps": steps}


def with_step_moved(spec: Spec, index: int, by: int) -> Spec:
    """Step ``index`` moved up (by=-1) or down (by=1); the ends stay put."""
    steps = [dict(s) for s in spec.get("steps", [])]
    target = index + by
    if 0 <= index < len(steps) and 0 <= target < len(steps):
        steps[index], steps[target] = steps[target], steps[index]
    return {**spec, "steps": steps}


def step_problems(problems: list[DraftProblem], index: int) -> dict[str, list[str]]:
    """The problems at one step, by field."""
    found: dict[str, list[str]] = {}
    for problem in problems:
        if problem.step == index:
            found.setdefault(problem.field, []).append(problem.message)
    return found
