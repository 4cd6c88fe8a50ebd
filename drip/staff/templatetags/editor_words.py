"""Template filters for the schedule editor: where a problem is, in words."""

from __future__ import annotations

from django import template

register = template.Library()

PARTS = {"email_subject": "email subject", "email_body": "email body", "sms_text": "text message"}


@register.filter
def part_words(field: str) -> str:
    """ "email_body" -> "email body"; step fields stay as they are named on the form."""
    return PARTS.get(field, field)
