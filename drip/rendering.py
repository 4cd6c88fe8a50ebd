"""PURE. Render message templates with sandboxed Jinja2 over a fixed, documented context.

No Django, no DB, no network, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The only names a template may use. Documented in README ("Template variables").
TEMPLATE_VARIABLES: dict[str, str] = {
    "first_name": "patient's first name",
    "clinic_name": "clinic name (setting)",
    "clinic_phone": "clinic phone, as people write it (setting)",
    "clinic_address": "clinic street address (setting)",
    "clinic_instructions": "arrival / preparation instructions chosen by the clinic (setting; may be empty)",
    "series_size": "number of infusions in the series",
    "infusion_number": "number of the infusion this message is about (the step's anchor; 1 for enrollment steps)",
    "infusion_when": 'e.g. "Tuesday, December 1 at 9:30 AM" in the patient\'s zone',
    "infusion_date": 'e.g. "Tuesday, December 1"',
    "infusion_time": 'e.g. "9:30 AM"',
    "unsubscribe_url": "one-click email unsubscribe link (email only; '' in SMS)",
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
