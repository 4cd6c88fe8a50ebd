"""PURE. Render message templates with sandboxed Jinja2 over a fixed, documented context.

No Django, no DB, no network, no clock.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import cmarkgfm
import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from drip.core.segments import count_segments
from drip.errors import Problem, TemplateError

# The only names a template may use. Documented in README ("Template variables").
TEMPLATE_VARIABLES: dict[str, str] = {
    "first_name": "patient's first name",
    "clinic_name": "clinic name (setting); in an SMS, the clinic's SMS name",
    "clinic_sms_name": "the name texts show on a lock screen (setting; defaults to the clinic name)",
    "clinic_phone": "clinic phone, as people write it (setting)",
    "clinic_address": "clinic street address (setting)",
    "clinic_instructions": "arrival / preparation instructions chosen by the clinic (setting; may be empty)",
    "series_size": "number of infusions in the series",
    "infusion_number": "number of the infusion this message is about (the step's anchor; 1 for enrollment steps)",
    "infusion_when": 'e.g. "Tuesday, December 1 at 9:30 AM" in the patient\'s zone',
    "infusion_date": 'e.g. "Tuesday, December 1"',
    "infusion_time": 'e.g. "9:30 AM"',
    "unsubscribe_url": "one-click email unsubscribe link (email only; '' in SMS)",
    "crisis_text": "where to turn in a crisis: 988, 911 (setting; every email's footer carries it)",
}


@dataclass(frozen=True)
class MessageTemplate:
    """One message as written by the clinic: an email and an SMS."""

    key: str
    email_subject: str
    email_body: str  # Markdown + Jinja2
    sms_text: str  # plain text + Jinja2
    sources: tuple[str, ...] = ()  # passages of the article, quoted exactly
    email_body_first_line: int = 1  # line of email.md where the body starts (for error messages)
    source_files: dict[str, str] = field(default_factory=dict)  # part -> file name, for errors
    subject_line: int = 2  # line of email.md holding "subject:", for errors
    source_lines: tuple[int, ...] = ()  # line of each `source:` quote in email.md, for errors


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RenderedSms:
    text: str
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int


# --------------------------------------------------------------------------------------------
# Parsing message files

_FRONT_MATTER = "---"


def parse_message(
    key: str,
    email_md: str,
    sms_txt: str,
    *,
    email_file: str = "email.md",
    sms_file: str = "sms.txt",
) -> MessageTemplate:
    """Build a MessageTemplate from the text of ``email.md`` (front matter + body) and ``sms.txt``."""
    lines = email_md.splitlines()
    if not lines or lines[0].strip() != _FRONT_MATTER:
        raise TemplateError(
            [Problem(email_file, 1, "must start with '---' front matter (subject, source)")]
        )
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == _FRONT_MATTER), None)
    if end is None:
        raise TemplateError([Problem(email_file, 1, "front matter is not closed with '---'")])
    meta = _front_matter("\n".join(lines[1:end]), email_file)
    subject = meta.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise TemplateError([Problem(email_file, 2, "front matter needs a 'subject:'")])
    sources = meta.get("source") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise TemplateError([Problem(email_file, 2, "'source:' must be a list of quoted passages")])
    return MessageTemplate(
        key=key,
        email_subject=subject.strip(),
        email_body="\n".join(lines[end + 1 :]).strip("\n") + "\n",
        sms_text=sms_txt.strip(),
        sources=tuple(sources),
        email_body_first_line=end + 2 + _leading_blank_lines(lines[end + 1 :]),
        source_files={"subject": email_file, "email": email_file, "sms": sms_file},
        subject_line=_line_starting(lines[:end], "subject:") or 2,
        source_lines=tuple(_line_quoting(lines[:end], quote) for quote in sources),
    )


def _line_starting(lines: list[str], prefix: str) -> int | None:
    return next((i + 1 for i, line in enumerate(lines) if line.strip().startswith(prefix)), None)


def _line_quoting(lines: list[str], quote: str) -> int:
    """The front-matter line where a `source:` quote starts (its first words), else "source:"."""
    start = quote[:30]
    found = next((i + 1 for i, line in enumerate(lines) if start and start in line), None)
    return found or _line_starting(lines, "source:") or 2


def _leading_blank_lines(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if line.strip()), len(lines))


def _front_matter(text: str, file: str) -> dict[str, Any]:
    try:
        meta = yaml.safe_load(text) or {}
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 2 if error.problem_mark else 1
        raise TemplateError([Problem(file, line, f"front matter: {error.problem}")]) from None
    if not isinstance(meta, dict):
        raise TemplateError([Problem(file, 2, "front matter must be 'field: value' lines")])
    return meta


# --------------------------------------------------------------------------------------------
# Validation: before anything is saved, every syntax error and unknown name, with its line

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
)
_SMS_FORBIDDEN = frozenset({"unsubscribe_url"})


def validate_message(t: MessageTemplate) -> list[Problem]:
    """Every problem in the subject, email body and SMS, located by file and line."""
    files = t.source_files or {"subject": "email.md", "email": "email.md", "sms": "sms.txt"}
    problems = _validate_part(
        t.email_subject, files["subject"], 2, set(TEMPLATE_VARIABLES), "subject"
    )
    problems += _validate_part(
        t.email_body, files["email"], t.email_body_first_line, set(TEMPLATE_VARIABLES), "email body"
    )
    problems += _raw_html(t.email_body, files["email"], t.email_body_first_line)
    sms_names = set(TEMPLATE_VARIABLES) - _SMS_FORBIDDEN
    problems += _validate_part(t.sms_text, files["sms"], 1, sms_names, "SMS")
    return problems


def check_message(t: MessageTemplate) -> None:
    """Raise TemplateError if the message has any problem."""
    problems = validate_message(t)
    if problems:
        raise TemplateError(problems)


def _validate_part(
    source: str, file: str, first_line: int, allowed: set[str], what: str
) -> list[Problem]:
    if not source.strip():
        return [Problem(file, first_line, f"the {what} is empty")]
    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as error:
        return [
            Problem(
                file,
                first_line + (error.lineno or 1) - 1,
                f"template syntax error: {error.message}",
            )
        ]
    unknown = sorted(meta.find_undeclared_variables(ast) - allowed)
    return [
        Problem(
            file,
            first_line + _line_of(source, name) - 1,
            f"unknown variable '{name}' in the {what} (allowed: {', '.join(sorted(allowed))})",
        )
        for name in unknown
    ]


_TAG_LIKE = re.compile(r"<(?!https?:|mailto:)[A-Za-z!?/]")


def _raw_html(source: str, file: str, first_line: int) -> list[Problem]:
    """Raw HTML in an email body would be dropped from the email (Markdown is rendered safely),
    so it is refused before saving rather than silently lost."""
    problems = []
    for offset, line in enumerate(source.splitlines()):
        if _TAG_LIKE.search(line) and "raw HTML omitted" in _markdown_html(line):
            problems.append(
                Problem(
                    file, first_line + offset, "raw HTML is not allowed in an email; write Markdown"
                )
            )
    return problems


def _line_of(source: str, name: str) -> int:
    """Line where ``name`` is first used as a variable, from Jinja's own token stream."""
    for lineno, token_type, value in _ENV.lex(source):
        if token_type == "name" and value == name:
            return lineno
    return 1


# --------------------------------------------------------------------------------------------
# Context and rendering


def format_date(local: datetime) -> str:
    """ "Tuesday, December 1"."""
    return f"{local:%A}, {local:%B} {local.day}"


def format_time(local: datetime) -> str:
    """ "9:30 AM" (12-hour clock, no leading zero)."""
    hour = local.hour % 12 or 12
    return f"{hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def format_when(local: datetime) -> str:
    """ "Tuesday, December 1 at 9:30 AM"."""
    return f"{format_date(local)} at {format_time(local)}"


def build_context(
    *,
    first_name: str,
    clinic: Mapping[str, str],
    series_size: int,
    infusion_number: int | None,
    infusion_local_start: datetime | None,
    unsubscribe_url: str = "",
) -> dict[str, object]:
    """Exactly the documented template variables (TEMPLATE_VARIABLES), nothing else."""
    when = infusion_local_start
    return {
        "first_name": first_name,
        "clinic_name": clinic.get("clinic_name", ""),
        "clinic_sms_name": clinic.get("clinic_sms_name") or clinic.get("clinic_name", ""),
        "clinic_phone": clinic.get("clinic_phone", ""),
        "clinic_address": clinic.get("clinic_address", ""),
        "clinic_instructions": clinic.get("clinic_instructions", ""),
        "series_size": series_size,
        "infusion_number": infusion_number if infusion_number is not None else "",
        "infusion_when": format_when(when) if when else "",
        "infusion_date": format_date(when) if when else "",
        "infusion_time": format_time(when) if when else "",
        "unsubscribe_url": unsubscribe_url,
        "crisis_text": clinic.get("crisis_text", ""),
    }


def _escape_markdown(value: object) -> object:
    """Values filled into an email body are text, not Markdown: "[x](y)" in a name stays literal."""
    if isinstance(value, str):
        return _MD_SPECIAL.sub(r"\\\g<0>", value)
    return value


_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()<>#+!|~]")
_MD_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, finalize=_escape_markdown
)


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _compile_markdown(source: str) -> Template:
    return _MD_ENV.from_string(source)


def render_sms(t: MessageTemplate, context: Mapping[str, object]) -> RenderedSms:
    """The text as sent: ``clinic_name`` is the clinic's SMS name, since a text shows on a
    lock screen (a clinic called "... Ketamine Center" texts under a name without the drug)."""
    sms_name = context.get("clinic_sms_name") or context.get("clinic_name", "")
    text = _compile(t.sms_text).render({**context, "clinic_name": sms_name}).strip()
    info = count_segments(text)
    return RenderedSms(text=text, encoding=info.encoding, segments=info.segments)


def render_email(t: MessageTemplate, context: Mapping[str, object]) -> RenderedEmail:
    """Subject, plain text and HTML; both parts end with the clinic's footer and crisis route."""
    subject = " ".join(_compile(t.email_subject).render(context).split())
    text = _compile(t.email_body).render(context).strip()
    html_body = _markdown_html(_compile_markdown(t.email_body).render(context))
    return RenderedEmail(
        subject=subject,
        text=text + "\n" + _text_footer(context),
        html=_layout(subject, html_body, context),
    )


def _markdown_html(markdown: str) -> str:
    """CommonMark to HTML with cmark-gfm (C; ~25x faster than a pure-Python parser, measured).

    Its default is safe: raw HTML is omitted and javascript: links are dropped, never run. That
    is the email's autoescaping: Jinja fills in Markdown with every special character of a value
    escaped, and Markdown escapes on its way to HTML. Templates may not contain raw HTML at all
    (``validate_message``).
    """
    return str(cmarkgfm.markdown_to_html(markdown, options=cmarkgfm.Options.CMARK_OPT_DEFAULT))


def _text_footer(context: Mapping[str, object]) -> str:
    lines = ["", "--", f"{context['clinic_name']} · {context['clinic_phone']}"]
    if context.get("crisis_text"):
        lines.append(str(context["crisis_text"]))
    if context.get("unsubscribe_url"):
        lines.append(f"Unsubscribe from these emails: {context['unsubscribe_url']}")
    return "\n".join(lines) + "\n"


def _crisis_html(context: Mapping[str, object]) -> str:
    """The crisis route under the clinic's line, small but readable (the same gray, 13px)."""
    text = context.get("crisis_text")
    if not text:
        return ""
    return f'<p style="margin-top:8px;font-size:13px;color:#555">{html.escape(str(text))}</p>'


def _layout(subject: str, body: str, context: Mapping[str, object]) -> str:
    e = html.escape
    unsubscribe = context.get("unsubscribe_url")
    unsubscribe_link = (
        f' · <a href="{e(str(unsubscribe))}" style="color:#555">Unsubscribe</a>'
        if unsubscribe
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>"
        '<body style="margin:0;padding:24px;background:#f6f6f4">'
        '<div style="max-width:560px;margin:0 auto;background:#fff;padding:24px 28px;border-radius:8px;'
        'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.55;color:#222">'
        f"{body}"
        '<p style="margin-top:32px;font-size:13px;color:#555">'
        f"{e(str(context['clinic_name']))} · {e(str(context['clinic_phone']))}{unsubscribe_link}</p>"
        f"{_crisis_html(context)}"
        "</div></body></html>"
    )
