"""Checks on what staff type in, before anything is saved. Each error names its field."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Field

from drip.errors import EnrollmentError
from drip.models import ConsentRecord, Patient


@dataclass(frozen=True)
class PatientInput:
    first_name: str
    last_name: str
    email: str
    phone: str
    time_zone: str
    sms_consent: bool
    email_consent: bool
    consent_method: str = "written"

    def has_consent(self, channel: str) -> bool:
        """Consent given for ``channel`` ("sms" or "email")."""
        return self.sms_consent if channel == "sms" else self.email_consent


def clean_patient(p: PatientInput) -> PatientInput:
    """A copy with the phone in E.164 and whitespace trimmed; raises EnrollmentError(field)."""
    first_name = clean_name("first_name", p.first_name)
    if not first_name:
        raise EnrollmentError("first_name", "is required")
    last_name = clean_name("last_name", p.last_name)
    zone = p.time_zone.strip()
    if zone not in _zones():
        raise EnrollmentError(
            "time_zone", f"'{zone}' is not an IANA time zone such as America/New_York"
        )
    email = p.email.strip()
    _check_length("email", email)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise EnrollmentError("email", "is not a valid email address") from None
    phone = clean_phone(p.phone) if p.phone.strip() else ""
    if p.sms_consent and not phone:
        raise EnrollmentError("phone", "SMS consent needs a phone number")
    if p.email_consent and not email:
        raise EnrollmentError("email", "email consent needs an email address")
    if not (p.sms_consent or p.email_consent):
        raise EnrollmentError("consent", "the patient has not consented to email or SMS")
    if p.consent_method not in _CONSENT_METHODS:
        raise EnrollmentError(
            "consent_method", f"'{p.consent_method}' is not one of {', '.join(_CONSENT_METHODS)}"
        )
    return PatientInput(
        first_name,
        last_name,
        email,
        phone,
        zone,
        p.sms_consent,
        p.email_consent,
        p.consent_method,
    )


def clean_name(field: str, text: str) -> str:
    """``text`` trimmed; refused when it holds a control character (NUL included: PostgreSQL
    cannot store one) or is longer than the Patient column, so a name never reaches the database
    as a DataError or goes out as a 67-segment SMS."""
    name = text.strip()
    bad = next((c for c in name if unicodedata.category(c) in _CONTROL), None)
    if bad is not None:
        raise EnrollmentError(
            field, f"contains a control character (U+{ord(bad):04X}); type the name as text"
        )
    _check_length(field, name)
    return name


def _check_length(field: str, text: str) -> None:
    column = Patient._meta.get_field(field)
    limit = column.max_length if isinstance(column, Field) else None  # a relation has no length
    if limit is not None and len(text) > limit:
        raise EnrollmentError(field, f"is {len(text):,} characters; at most {limit} fit")


def clean_phone(text: str, region: str = "US") -> str:
    """E.164 form of a valid phone number; raises EnrollmentError("phone")."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise EnrollmentError("phone", "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise EnrollmentError("phone", "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_infusions(times: Sequence[datetime], time_zone: str, series_size: int) -> list[datetime]:
    """Aware instants, strictly increasing, 1..series_size of them. Naive = patient's local time."""
    if not times:
        raise EnrollmentError("infusions", "give at least the first infusion's date and time")
    if len(times) > series_size:
        raise EnrollmentError(
            "infusions", f"{len(times)} infusions given; this schedule has {series_size}"
        )
    aware = [local_instant(t, time_zone) for t in times]
    for number, (earlier, later) in enumerate(zip(aware, aware[1:], strict=False), start=2):
        if later <= earlier:
            raise EnrollmentError(
                "infusions", f"infusion {number} is not after infusion {number - 1}"
            )
    return aware


def local_instant(t: datetime, time_zone: str) -> datetime:
    """Aware ``t`` as is; naive ``t`` read as wall time in ``time_zone`` (DST: fold=0, so an
    ambiguous time is the first one and a time in the spring-forward gap moves forward)."""
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(time_zone), fold=0)


def check_fits(number: int, starts_at: datetime, others: Mapping[int, datetime]) -> None:
    """Infusion ``number`` at ``starts_at`` must come after infusion number-1 and before number+1."""
    before, after = others.get(number - 1), others.get(number + 1)
    if before is not None and starts_at <= before:
        raise EnrollmentError(
            "starts_at", f"infusion {number} would come before infusion {number - 1}"
        )
    if after is not None and starts_at >= after:
        raise EnrollmentError(
            "starts_at", f"infusion {number} would come after infusion {number + 1}"
        )


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


_ZONES: set[str] | None = None
# ConsentRecord.Method values staff may record at enrollment (the others are patient actions).
_CONSENT_METHODS: tuple[str, ...] = (
    ConsentRecord.Method.WRITTEN,
    ConsentRecord.Method.VERBAL,
    ConsentRecord.Method.WEB,
)
# Unicode categories a typed name never holds: controls (Cc: NUL, tab, newline, DEL, C1), line and
# paragraph separators, lone surrogates. Format characters (Cf) stay: Persian and Indic names use
# the zero-width non-joiner.
_CONTROL = {"Cc", "Zl", "Zp", "Cs"}
