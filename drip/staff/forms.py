"""Forms of the staff pages. They read what was typed into Python values; the enrollment
service decides whether it is valid (one validator) and its EnrollmentError lands on a field."""

from __future__ import annotations

import re
from typing import Any, cast
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, QueryDict
from django.utils.functional import Promise

from drip.catalog import clinic
from drip.errors import EnrollmentError

MAX_INFUSIONS = 6
CONSENT_METHODS = [
    ("verbal", "Verbally (in person or by phone)"),
    ("written", "Written form"),
    ("web", "Online form"),
]
LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class SignInForm(AuthenticationForm):
    """Username and password (Django's checks, with our words)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Check both and try again.",
    }


class CodeForm(forms.Form):
    code = forms.RegexField(
        label="Six-digit code from your authenticator app",
        regex=r"^\s*\d{6}\s*$",
        error_messages={
            "invalid": "Enter the six digits your app shows",
            "required": "Enter the code",
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class ContactFields(forms.Form):
    """A patient's name, contact and zone (enrolling, and editing them later); checked by the
    enrollment service's own cleaning, so not required here."""

    first_name = forms.CharField(label="First name", required=False, max_length=100)
    last_name = forms.CharField(label="Last name", required=False, max_length=100)
    phone = forms.CharField(label="Phone", required=False, max_length=30)
    email = forms.CharField(label="Email", required=False, max_length=254)
    time_zone = forms.CharField(
        label="Time zone",
        required=False,
        help_text="Type a city to search, e.g. Chicago",
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
    )


class EnrollForm(ContactFields):
    """Everything needed to enroll; field names match EnrollmentError.field where they can."""

    sms_consent = forms.BooleanField(label="Texts", required=False)
    email_consent = forms.BooleanField(label="Email", required=False)
    # Not required here: the enrollment service says what is missing (one validator).
    consent_method = forms.ChoiceField(
        label="How consent was given",
        choices=CONSENT_METHODS,
        widget=forms.RadioSelect,
        required=False,
    )
    schedule = forms.ChoiceField(label="Schedule", required=False)
    series_size = forms.IntegerField(
        label="Series size (infusions)",
        required=False,
        help_text="The schedule's usual number is filled in; change it if the doctor ordered more or fewer",
        error_messages={"invalid": "Enter a whole number of infusions, like 6"},
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, schedules: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["schedule"]).choices = schedules
        for n in range(1, MAX_INFUSIONS + 1):
            self.fields[f"infusion_{n}"] = forms.DateTimeField(
                label=f"Infusion {n}" + ("" if n == 1 else " (if booked)"),
                required=False,
                widget=LOCAL,
                input_formats=DATETIME_FORMATS,
                error_messages={"invalid": "Enter a date and a time, like 12/08/2026 10:00 AM"},
            )

    def infusions(self) -> list[Any]:
        """The booked infusions in order, stopping at the first blank one."""
        booked = []
        for n in range(1, MAX_INFUSIONS + 1):
            value = self.cleaned_data.get(f"infusion_{n}")
            if value is None:
                break
            booked.append(value.replace(tzinfo=None))  # wall time in the patient's zone
        return booked

    def infusion_fields(self) -> list[forms.BoundField]:
        return [self[f"infusion_{n}"] for n in range(1, MAX_INFUSIONS + 1)]

    def add_service_error(self, error: EnrollmentError) -> None:
        """Put the service's error on the field it names (infusion errors on that infusion)."""
        field = _field_for(error, self.fields)
        self.add_error(field, sentence(error, self.fields[field].label if field else ""))


def sentence(error: EnrollmentError, label: str | Promise | None) -> str:
    """The service's "field: is required" as a sentence: "First name is required"."""
    message = str(error).split(": ", 1)[-1]
    subject = str(label or "").replace(" (if booked)", "")  # a field's label: text, lazy or None
    if subject and message.startswith("is "):
        return f"{subject} {message}"
    return message[:1].upper() + message[1:]


def _field_for(error: EnrollmentError, fields: dict[str, Any]) -> str | None:
    if error.field in ("infusions", "starts_at"):
        numbers = re.findall(r"infusion (\d+)", str(error))
        return f"infusion_{numbers[0] if numbers else 1}"
    if error.field == "consent":
        return "sms_consent"
    return error.field if error.field in fields else None


def zone_names() -> list[str]:
    return sorted(available_timezones())


def clinic_zone() -> str:
    return str(clinic.current()["time_zone"])


class ContactForm(ContactFields):
    """A patient's contact details, with the page's state token."""

    state = forms.CharField(widget=forms.HiddenInput)

    def add_service_error(self, error: EnrollmentError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, sentence(error, self.fields[field].label if field else ""))


class MoveForm(forms.Form):
    starts_at = forms.DateTimeField(
        label="New date and time",
        widget=LOCAL,
        input_formats=DATETIME_FORMATS,
        error_messages={
            "required": "Enter the new date and time",
            "invalid": "Enter a date and a time, like 12/08/2026 10:00 AM",
        },
    )
    state = forms.CharField(widget=forms.HiddenInput)

    def add_service_error(self, error: EnrollmentError) -> None:
        field = "starts_at" if error.field in ("starts_at", "infusion", "infusions") else None
        self.add_error(field, sentence(error, ""))


class ConfirmForm(forms.Form):
    state = forms.CharField(widget=forms.HiddenInput)


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(
        label="Channel", choices=[("sms", "Texts"), ("email", "Email")], widget=forms.RadioSelect
    )
    wants = forms.ChoiceField(
        label="The patient asked to",
        choices=[("out", "Stop these messages (opt out)"), ("in", "Receive them again (opt in)")],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label="Reason, in the patient's words",
        max_length=300,
        error_messages={"required": "Write down the reason the patient gave"},
    )


def posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST, even an empty one (an empty POST is falsy but still a POST)."""
    return request.POST if request.method == "POST" else None
