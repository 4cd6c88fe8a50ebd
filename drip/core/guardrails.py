"""PURE. The rules a library of schedules and messages must meet before it is published.

``drip schedules validate`` and ``publish`` run these, and so does the test suite over the shipped
library, so an admin's edit meets the same rules as the product's own messages:

- every SMS renders to one segment with a long sample context (GSM-7 unless UCS-2 is allowed);
- no SMS and no email subject shows a sensitive term once rendered (a lock screen shows both),
  the clinic's SMS name included;
- every email body is at most ``email_max_words`` words;
- every ``source:`` quote is word for word in the source article;
- no message promises a cure;
- the SMS caps hold for the standard series patterns (``cap_problems``);
- reading grade at most ``reading_grade_max``: a warning with the grade (``message_warnings``).

Each problem names its file, line and the steps that send the message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from drip.core.planner import InfusionSlot, PatientPrefs, Series, SkipReason, plan
from drip.core.readability import fk_grade, prose, words
from drip.core.rendering import MessageTemplate, build_context, render_email, render_sms
from drip.core.schedule import Channel, Schedule
from drip.core.segments import encoding_of
from drip.errors import Problem


@dataclass(frozen=True)
class Rules:
    """The limits a clinic sets (drip/settings.py passes them in)."""

    email_max_words: int = 250
    reading_grade_max: float = 8.0
    sms_allow_ucs2: bool = False


def sample_context(clinic: Mapping[str, str]) -> dict[str, object]:
    """A long but realistic context (long weekday and month, two-digit numbers): the SMS limit
    must hold for the patients with long names and dates, not only for the short ones."""
    return build_context(
        first_name="Alexandra",
        clinic=clinic,
        series_size=12,
        infusion_number=12,
        infusion_local_start=datetime(2026, 9, 30, 10, 30),  # "Wednesday, September 30 at 10:30 AM"
        unsubscribe_url="https://clinic.example/u/sample",
    )


def parse_terms(text: str) -> tuple[str, ...]:
    """The terms of a sensitive-terms file: one a line; blank lines and ``#`` comments skipped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(line.lower() for line in lines if line)


def steps_by_message(schedules: Iterable[Schedule]) -> dict[str, list[str]]:
    """Message key -> the keys of the steps that send it, in schedule order."""
    found: dict[str, list[str]] = {}
    for schedule in schedules:
        for step in schedule.steps:
            found.setdefault(step.message, []).append(step.key)
    return found


def message_problems(
    messages: Mapping[str, MessageTemplate],
    steps: Mapping[str, list[str]],
    *,
    clinic: Mapping[str, str],
    article: str | None,
    sensitive_terms: Iterable[str],
    rules: Rules,
) -> list[Problem]:
    """Every rule a message breaks (errors: publishing is refused), in key order."""
    context = sample_context(clinic)
    terms = _terms_pattern(sensitive_terms)
    problems: list[Problem] = []
    for key, t in sorted(messages.items()):
        step = ", ".join(steps.get(key, [])) or None
        found = _sms_problems(t, context, terms, rules) + _email_problems(t, context, terms, rules)
        found += _source_problems(t, article) + _cure_problems(t)
        problems += [Problem(p.source, p.line, p.message, step) for p in found]
    return problems


def message_warnings(
    messages: Mapping[str, MessageTemplate], steps: Mapping[str, list[str]], rules: Rules
) -> list[Problem]:
    """Emails that read above the grade limit, each with its grade (publishing goes ahead)."""
    warnings = []
    for key, t in sorted(messages.items()):
        grade = fk_grade(prose(t.email_body))
        if grade > rules.reading_grade_max:
            warnings.append(
                Problem(
                    _file(t, "email"),
                    t.email_body_first_line,
                    f"reads at grade {grade:.1f} (aim for {rules.reading_grade_max:g} or below: "
                    "shorter sentences, plainer words)",
                    ", ".join(steps.get(key, [])) or None,
                )
            )
    return warnings


# --- one message ------------------------------------------------------------------------------


def _sms_problems(
    t: MessageTemplate, context: Mapping[str, object], terms: re.Pattern[str], rules: Rules
) -> list[Problem]:
    sms = render_sms(t, {**context, "unsubscribe_url": ""})
    where = _file(t, "sms")
    problems = []
    if sms.encoding != "GSM-7" and not rules.sms_allow_ucs2:
        odd = sorted({c for c in sms.text if encoding_of(c) == "UCS-2"})
        problems.append(
            Problem(where, 1, f"the SMS needs UCS-2 (characters {''.join(odd)!r}); use GSM-7")
        )
    if sms.segments > 1:
        problems.append(
            Problem(
                where,
                1,
                f"the SMS takes {sms.segments} segments ({sms.encoding}, {len(sms.text)} "
                "characters with a long sample name and date); it must fit in one",
            )
        )
    problems += _term_problems(sms.text, t.sms_text, where, "SMS", terms, context)
    return problems


def _email_problems(
    t: MessageTemplate, context: Mapping[str, object], terms: re.Pattern[str], rules: Rules
) -> list[Problem]:
    mail = render_email(t, context)
    body = mail.text.rsplit("\n--\n", 1)[0]
    count = len(words(body))
    problems = _term_problems(
        mail.subject, t.email_subject, _file(t, "subject"), "subject", terms, context
    )
    problems = [Problem(p.source, t.subject_line, p.message) for p in problems]
    if count > rules.email_max_words:
        problems.append(
            Problem(
                _file(t, "email"),
                t.email_body_first_line,
                f"the email is {count} words; at most {rules.email_max_words}",
            )
        )
    return problems


def _term_problems(
    rendered: str,
    source: str,
    where: str,
    what: str,
    terms: re.Pattern[str],
    context: Mapping[str, object],
) -> list[Problem]:
    """A sensitive term in what a lock screen shows, located in the template or in the setting."""
    problems = []
    for term in sorted({m.group(0).lower() for m in terms.finditer(rendered)}):
        origin = _term_origin(term, source, context, what)
        problems.append(
            Problem(
                where,
                _line_of_text(source, term),
                f"the {what} shows '{term}' on a lock screen{origin}; say it in the email body",
            )
        )
    return problems


def _term_origin(term: str, source: str, context: Mapping[str, object], what: str) -> str:
    name_key = "clinic_sms_name" if what == "SMS" else "clinic_name"
    name = str(context.get(name_key, ""))
    if term in name.lower() and term not in source.lower():
        setting = "DRIP_CLINIC_SMS_NAME" if what == "SMS" else "DRIP_CLINIC_NAME"
        return f" (from the clinic's name '{name}': set {setting} to a name without it)"
    return ""


def _source_problems(t: MessageTemplate, article: str | None) -> list[Problem]:
    if article is None:
        return []  # the library reports the missing article once
    lines = t.source_lines or (2,) * len(t.sources)
    return [
        Problem(
            _file(t, "email"), line, f"source: quote is not word for word in the article: {quote!r}"
        )
        for quote, line in zip(t.sources, lines, strict=False)
        if quote not in article
    ]


_CURE = re.compile(r"\b(will|can|guarantee[sd]?) (cure|heal)|\bcured\b|\bguarantee", re.I)


def _cure_problems(t: MessageTemplate) -> list[Problem]:
    parts = (
        ("subject", t.email_subject, t.subject_line),
        ("email", t.email_body, t.email_body_first_line),
        ("sms", t.sms_text, 1),
    )
    return [
        Problem(
            _file(t, part),
            first + _line_of_text(text, match.group(0)) - 1,
            f"'{match.group(0)}': no message may promise a cure or a result",
        )
        for part, text, first in parts
        if (match := _CURE.search(text))
    ]


def _terms_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """A term matches at the start of a word: "depress" finds "Depression" and "depressed"."""
    alternatives = "|".join(re.escape(term) for term in sorted(set(terms), key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z])(?:{alternatives or '(?!)'})[A-Za-z]*", re.I)


def _line_of_text(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle`` (case-insensitive), else 1."""
    for number, line in enumerate(text.splitlines(), 1):
        if needle.lower() in line.lower():
            return number
    return 1


def _file(t: MessageTemplate, part: str) -> str:
    default = "sms.txt" if part == "sms" else "email.md"
    return t.source_files.get(part) or f"messages/{t.key}/{default}"


# --- SMS caps over the standard series patterns -------------------------------------------------

_ZONE = "America/New_York"
_FIRST_INFUSION = datetime(2026, 10, 5, 10, 0, tzinfo=ZoneInfo(_ZONE))  # a Monday; DST ends Nov 1
# Hours before infusion 1's time of day at which a patient is enrolled: the same morning, and the
# evening before (18:30, after a 17:00 reminder, within its grace period).
_ENROLLED_HOURS_BEFORE = (2.0, 15.5)
MAX_LEAD_DAYS = 14


def pattern_days(pattern: str, size: int) -> list[int]:
    """Day offsets from the first infusion (a Monday) of a series of ``size`` infusions."""
    week_days = {"Mon/Wed/Fri": (0, 2, 4), "Tue/Thu": (1, 3)}
    if pattern in week_days:
        days = week_days[pattern]
        return [7 * (i // len(days)) + days[i % len(days)] for i in range(size)]
    step = {"every other day": 2, "daily": 1}[pattern]
    return [step * i for i in range(size)]


STANDARD_PATTERNS = ("Mon/Wed/Fri", "Tue/Thu", "every other day", "daily")


def cap_problems(schedule: Schedule) -> list[Problem]:
    """Errors: the first break of each of the schedule's SMS caps for each standard series
    (enrolled 0 to 14 days ahead, in the morning or the evening before), counted from the
    planner's output in the patient's local days, welcome included. The planner keeps the caps,
    so this is a second look at the planner itself, run on every publish."""
    found: dict[tuple[str, str], Problem] = {}
    for pattern, lead, texts, _ in _standard_plans(schedule):
        for kind, steps, message in _cap_breaks(texts, schedule):
            found.setdefault(
                (pattern, kind),
                Problem(
                    schedule.source,
                    _step_line(schedule, steps[0]),
                    f"{message}; {pattern} series, enrolled {_lead(lead)} ahead",
                    ", ".join(steps),
                ),
            )
    return list(found.values())


def cap_drops(schedule: Schedule) -> list[Problem]:
    """Warnings: steps whose texts the caps drop (skipped 'cap') in a standard series, the first
    pattern for each step: the admin learns that a message will not reach every patient."""
    found: dict[str, Problem] = {}
    for pattern, lead, _, dropped in _standard_plans(schedule):
        for step in dropped:
            found.setdefault(
                step,
                Problem(
                    schedule.source,
                    _step_line(schedule, step),
                    f"its text is dropped to keep the SMS caps in a {pattern} series enrolled "
                    f"{_lead(lead)} ahead (give it room with 'latest:' or a higher priority)",
                    step,
                ),
            )
    return list(found.values())


def _lead(lead: timedelta) -> str:
    return f"{lead.days} d {lead.seconds / 3600:g} h"


def _standard_plans(
    schedule: Schedule,
) -> Iterable[tuple[str, timedelta, list[tuple[date, str]], list[str]]]:
    """(pattern, lead, texts planned as (local day, step), steps dropped by caps) per series."""
    for pattern in STANDARD_PATTERNS:
        for lead_days in range(MAX_LEAD_DAYS + 1):
            for hours in _ENROLLED_HOURS_BEFORE:
                lead = timedelta(days=lead_days, hours=hours)
                yield (pattern, lead, *_planned_texts(schedule, pattern, lead))


def _planned_texts(
    schedule: Schedule, pattern: str, lead: timedelta
) -> tuple[list[tuple[date, str]], list[str]]:
    days = pattern_days(pattern, schedule.infusions)
    first = _FIRST_INFUSION + timedelta(days=1 if pattern == "Tue/Thu" else 0)
    slots = tuple(
        InfusionSlot(number=i + 1, starts_at=first + timedelta(days=d - days[0]))
        for i, d in enumerate(days)
    )
    series = Series(enrolled_at=first - lead, infusions=slots)
    prefs = PatientPrefs(_ZONE, frozenset(Channel))
    zone = ZoneInfo(_ZONE)
    rows = [
        r for r in plan(schedule, series, prefs, series.enrolled_at) if r.channel is Channel.SMS
    ]
    texts = sorted(
        (r.due_at.astimezone(zone).date(), r.step_key) for r in rows if r.skip_reason is None
    )
    dropped = [r.step_key for r in rows if r.skip_reason is SkipReason.CAP]
    return texts, dropped


def _cap_breaks(
    texts: list[tuple[date, str]], schedule: Schedule
) -> list[tuple[str, tuple[str, ...], str]]:
    """(kind, steps, message) for each local day and each 7-day window over a cap."""
    caps, breaks = schedule.caps, []
    per_day = Counter(day for day, _ in texts)
    for day, count in sorted(per_day.items()):
        if count > caps.sms_per_day:
            steps = tuple(step for d, step in texts if d == day)
            message = f"{count} texts on one day ({day:%a %b %d}); at most {caps.sms_per_day}"
            breaks.append(("day", steps, message))
        week = tuple(step for d, step in texts if day <= d < day + timedelta(days=7))
        if len(week) > caps.sms_per_7_days:
            message = (
                f"{len(week)} texts in the 7 days from {day:%a %b %d}; "
                f"at most {caps.sms_per_7_days}"
            )
            breaks.append(("week", week, message))
    return breaks


def _step_line(schedule: Schedule, key: str) -> int | None:
    return next((step.line for step in schedule.steps if step.key == key), None)
