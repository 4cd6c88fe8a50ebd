"""Load the schedules and messages shipped on disk (``schedules/*.yaml``, ``messages/<key>/``).

An edge module: it reads files, then hands their text to the pure parsers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from drip.core.rendering import MessageTemplate, parse_message, validate_message
from drip.core.schedule import Channel, Schedule, parse_schedule
from drip.errors import Problem, ScheduleError, TemplateError


def load_messages(messages_dir: Path) -> dict[str, MessageTemplate]:
    """Every ``<key>/`` folder holding ``email.md`` and ``sms.txt``; raises on the first bad one."""
    messages, problems = _read_messages(messages_dir)
    if problems:
        raise TemplateError(problems)
    return messages


def load_schedules(
    schedules_dir: Path, messages: Mapping[str, MessageTemplate]
) -> dict[str, Schedule]:
    """Every ``*.yaml`` in the folder, validated against the known messages."""
    schedules, problems = _read_schedules(schedules_dir, messages)
    if problems:
        raise ScheduleError(problems)
    return schedules


def validate_library(schedules_dir: Path, messages_dir: Path) -> list[Problem]:
    """Every problem across all schedule and message files; [] when all is well."""
    messages, problems = _read_messages(messages_dir)
    for template in messages.values():
        problems += validate_message(template)
    problems += _read_schedules(schedules_dir, messages)[1]
    return problems


def channels_of(template: MessageTemplate) -> frozenset[Channel]:
    present = set()
    if template.email_body.strip():
        present.add(Channel.EMAIL)
    if template.sms_text.strip():
        present.add(Channel.SMS)
    return frozenset(present)


def _read_messages(messages_dir: Path) -> tuple[dict[str, MessageTemplate], list[Problem]]:
    messages: dict[str, MessageTemplate] = {}
    problems: list[Problem] = []
    if not messages_dir.is_dir():
        return messages, [Problem(str(messages_dir), None, "messages folder not found")]
    for folder in sorted(p for p in messages_dir.iterdir() if p.is_dir()):
        try:
            messages[folder.name] = _read_message(folder)
        except TemplateError as error:
            problems += error.problems
    return messages, problems


def _read_message(folder: Path) -> MessageTemplate:
    email_path, sms_path = folder / "email.md", folder / "sms.txt"
    missing = [p for p in (email_path, sms_path) if not p.is_file()]
    if missing:
        raise TemplateError([Problem(_display(p), None, "file is missing") for p in missing])
    return parse_message(
        folder.name,
        email_path.read_text(encoding="utf-8"),
        sms_path.read_text(encoding="utf-8"),
        email_file=_display(email_path),
        sms_file=_display(sms_path),
    )


def _read_schedules(
    schedules_dir: Path, messages: Mapping[str, MessageTemplate]
) -> tuple[dict[str, Schedule], list[Problem]]:
    known = {key: channels_of(t) for key, t in messages.items()}
    schedules: dict[str, Schedule] = {}
    problems: list[Problem] = []
    for path in sorted(schedules_dir.glob("*.yaml")):
        try:
            schedule = parse_schedule(
                path.read_text(encoding="utf-8"), source=_display(path), messages=known
            )
        except ScheduleError as error:
            problems += error.problems
            continue
        if schedule.name in schedules:
            problems.append(
                Problem(_display(path), None, f"schedule name '{schedule.name}' is used twice")
            )
        schedules[schedule.name] = schedule
    return schedules, problems


def _display(path: Path) -> str:
    """Paths in messages read from the repo root when they are inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
