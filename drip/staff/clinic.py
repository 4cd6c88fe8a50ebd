"""Clinic settings (admins): the clinic's facts the messages show, its default time zone, send
window, caps, crisis text and From address; each save is a new version (newest wins), audited."""

from __future__ import annotations

from datetime import datetime, time
from email.utils import parseaddr
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from drip.catalog import clinic
from drip.enrollment.cleaning import clean_phone
from drip.errors import EnrollmentError
from drip.staff.access import admin_required, staff_user

EARLIEST, LATEST = time(8, 0), time(21, 0)
TEXT = forms.Textarea(attrs={"rows": 3})


class ClinicForm(forms.Form):
    clinic_name = forms.CharField(label="Clinic name", max_length=100)
    clinic_sms_name = forms.CharField(
        label="Name in texts", max_length=40,
        help_text="Shown on a lock screen: leave out what the clinic treats if its name says so",
    )  # fmt: skip
    clinic_phone = forms.CharField(label="Phone", max_length=30)
    clinic_address = forms.CharField(label="Address", max_length=200, required=False)
    clinic_instructions = forms.CharField(
        label="Instructions", max_length=1000, required=False, widget=TEXT
    )
    time_zone = forms.CharField(
        label="Default time zone", help_text="Preselected at enrollment; the Today page's zone",
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
    )  # fmt: skip
    window_start = forms.TimeField(label="Send window opens", help_text="08:00 at the earliest")
    window_end = forms.TimeField(label="Send window closes", help_text="21:00 at the latest")
    sms_per_day = forms.IntegerField(label="Texts a day, at most", min_value=1, max_value=5)
    sms_per_7_days = forms.IntegerField(label="Texts in 7 days, at most", min_value=1, max_value=21)
    email_per_day = forms.IntegerField(label="Emails a day, at most", min_value=1, max_value=5)
    crisis_text = forms.CharField(
        label="Crisis text", max_length=600, widget=TEXT,
        help_text="In every email's footer: where to turn in a crisis",
    )  # fmt: skip
    from_email = forms.CharField(label="From address", max_length=200)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def clean_clinic_phone(self) -> str:
        try:
            clean_phone(self.cleaned_data["clinic_phone"])
        except EnrollmentError:
            raise forms.ValidationError("Enter the clinic's phone, like (312) 555-0142") from None
        return str(self.cleaned_data["clinic_phone"]).strip()

    def clean_time_zone(self) -> str:
        zone = str(self.cleaned_data["time_zone"]).strip()
        if zone not in available_timezones():
            raise forms.ValidationError("Choose a time zone from the list, like America/Chicago")
        return zone

    def clean_from_email(self) -> str:
        text = str(self.cleaned_data["from_email"]).strip()
        try:
            validate_email(parseaddr(text)[1])
        except forms.ValidationError:
            raise forms.ValidationError(
                "Enter an email address, like care@clinic.org or Clinic <care@clinic.org>"
            ) from None
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("window_start"), data.get("window_end")
        if start and end:
            self._check_window(start, end)
        per_day, per_week = data.get("sms_per_day"), data.get("sms_per_7_days")
        if per_day and per_week and per_week < per_day:
            self.add_error("sms_per_7_days", "Texts in 7 days must be at least texts a day")
        return data

    def _check_window(self, start: time, end: time) -> None:
        if start < EARLIEST:
            self.add_error("window_start", "The send window opens at 08:00 at the earliest")
        if end > LATEST:
            self.add_error("window_end", "The send window closes at 21:00 at the latest")
        day = datetime(2000, 1, 1)
        if (datetime.combine(day, end) - datetime.combine(day, start)).total_seconds() < 7200:
            self.add_error("window_end", "The send window must be at least 2 hours long")

    def facts(self) -> dict[str, Any]:
        """The cleaned values as current() returns them (times as "HH:MM")."""
        data = dict(self.cleaned_data)
        for key in ("window_start", "window_end"):
            data[key] = data[key].strftime("%H:%M")
        return {k: data[k] for k in clinic.FACTS}


@admin_required
def clinic_settings(request: HttpRequest) -> HttpResponse:
    """The settings form; saving makes a new version, and the page says what was saved."""
    row = clinic.newest()
    shown = row.version if row else 0
    form = ClinicForm(
        request.POST if request.method == "POST" else None,
        initial={**clinic.current(), "version": shown},
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = clinic.save(form.facts(), on_version=form.cleaned_data["version"],
                                actor=staff_user(request), now=timezone.now())  # fmt: skip
        except clinic.StaleSettings:
            messages.error(request, "Someone saved the settings meanwhile: the page shows theirs.")
            return redirect("staff:clinic")
        messages.success(request, f"Clinic settings saved as version {saved.version}.")
        return redirect("staff:clinic")
    sender = settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER
    context = {"form": form, "row": row, "zones": sorted(available_timezones()), "sender": sender}
    return render(request, "staff/clinic.html", context)
