"""Template filters for the schedule editor: where a problem is, in words."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()

PARTS = {"email_subject": "email subject", "email_body": "email body", "sms_text": "text message"}


@register.filter
def part_words(field: str) -> str:
    """ "email_body" -> "email body"; step fields stay as they are named on the form."""
    return PARTS.get(field, field)


STEP_FIELDS = {"at": "time of day", "requires": "condition", "latest": "may move up to"}


@register.filter
def step_field_words(field: str) -> str:
    """A step field as the step form labels it: "latest" -> "may move up to"."""
    return STEP_FIELDS.get(field, field)


@register.filter
def shift_words(delta: timedelta | None) -> str:
    """-1 day -> "1 day earlier"; 2h30m -> "2 hours 30 minutes later"."""
    if delta is None:
        return ""
    seconds = int(delta.total_seconds())
    days, rest = divmod(abs(seconds), 86400)
    units = ((days, "day"), (rest // 3600, "hour"), (rest % 3600 // 60, "minute"))
    words = " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in units if n)
    return f"{words or '0 minutes'} {'earlier' if seconds < 0 else 'later'}"
