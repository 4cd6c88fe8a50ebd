"""Template filters for the staff pages: times with the zone named, statuses in words."""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from django import template

from drip.models import Delivery
from drip.staff import access, series, words

register = template.Library()


@register.filter
def local_in(instant: datetime | None, zone: str) -> str:
    """{{ when|local_in:patient.time_zone }} -> "Tue Dec 8, 5:00 PM EST"."""
    return words.local_time(instant, zone) if instant else "—"


@register.filter
def status_words(d: Delivery) -> str:
    return words.delivery_status(d.status, d.skip_reason, d.error_code, d.error_text)


@register.filter
def step_title(step_key: str) -> str:
    return series.step_title(step_key)


@register.filter
def summary_line(message: str, label: str) -> str:
    """An error in the summary names its field unless the message already does."""
    subject = label.replace(" (if booked)", "")
    return message if message.lower().startswith(subject.lower()) else f"{subject}: {message}"


@register.filter
def phone(e164: str) -> str:
    """+13125550188 -> "(312) 555-0188" (national form for US numbers, international otherwise)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    style = phonenumbers.PhoneNumberFormat
    national = phonenumbers.region_code_for_number(number) == "US"
    return phonenumbers.format_number(number, style.NATIONAL if national else style.INTERNATIONAL)


@register.filter
def is_admin(user: object) -> bool:
    """{% if user|is_admin %}: the admin pages' links show only to admins."""
    return bool(getattr(user, "is_authenticated", False)) and access.is_admin(user)
