"""Load the schedules and messages shipped on disk (``schedules/*.yaml``, ``messages/<key>/``).

An edge module: it reads files, then hands their text to the pure parsers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

from drip.core import guardrails
from drip.core.rendering import MessageTemplate, parse_message, validate_message
from drip.core.schedule import Channel, Schedule, parse_schedule
from drip.errors import Problem, ScheduleError, TemplateError

ARTICLE_FILE = "SOURCE_ARTICLE.txt"  # in the messages folder: what `source:` quotes must match
SENSITIVE_TERMS_FILE = Path(__file__).with_name("sensitive_terms.txt")


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


def validate_library(
    schedules_dir: Path,
    messages_dir: Path,
    *,
    clinic: Mapping[str, str] | None = None,
    rules: guardrails.Rules | None = None,
) -> list[Problem]:
    """Every problem across all schedule and message files, guardrails included; [] when all
    is well. ``clinic`` and ``rules`` default to the clinic's settings."""
    messages, problems = _read_messages(messages_dir)
    for template in messages.values():
        problems += validate_message(template)
    schedules, schedule_problems = _read_schedules(schedules_dir, messages)
    problems += schedule_problems
    if problems:
        return problems  # the guardrails render every message: only once they all parse
    article, article_problems = _read_article(messages_dir, messages)
    return (
        article_problems
        + guardrails.message_problems(
            messages,
            guardrails.steps_by_message(schedules.values()),
            clinic=settings.DRIP_CLINIC if clinic is None else clinic,
            article=article,
            sensitive_terms=read_sensitive_terms(),
            rules=rules or rules_from_settings(),
        )
        + [
            problem
            for schedule in schedules.values()
            for problem in guardrails.cap_problems(schedule)
        ]
    )


def library_warnings(
    schedules_dir: Path, messages_dir: Path, *, rules: guardrails.Rules | None = None
) -> list[Problem]:
    """What publishing allows but an editor should look at: emails above the reading grade, and
    steps whose texts the SMS caps drop in a standard series."""
    messages = load_messages(messages_dir)
    schedules = load_schedules(schedules_dir, messages)
    rules = rules or rules_from_settings()
    warnings = guardrails.message_warnings(
        messages, guardrails.steps_by_message(schedules.values()), rules
    )
    for schedule in schedules.values():
        warnings += guardrails.cap_drops(schedule)
    return warnings


def rules_from_settings() -> guardrails.Rules:
    """The clinic's limits, from drip/settings.py."""
    return guardrails.Rules(
        email_max_words=settings.DRIP_EMAIL_MAX_WORDS,
        reading_grade_max=settings.DRIP_READING_GRADE_MAX,
        sms_allow_ucs2=settings.DRIP_SMS_ALLOW_UCS2,
    )


def read_sensitive_terms() -> tuple[str, ...]:
    """Words no text or subject may show on a lock screen (drip/catalog/sensitive_terms.txt)."""
    return guardrails.parse_terms(SENSITIVE_TERMS_FILE.read_text(encoding="utf-8"))


def _read_article(
    messages_dir: Path, messages: Mapping[str, MessageTemplate]
) -> tuple[str | None, list[Problem]]:
    path = messages_dir / ARTICLE_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8"), []
    if any(t.sources for t in messages.values()):
        return None, [
            Problem(
                _display(path),
                None,
                "source article not found; `source:` quotes are checked against it",
            )
        ]
    return None, []


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
    if not schedules_dir.is_dir():
        return schedules, [Problem(str(schedules_dir), None, "schedules folder not found")]
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
