"""Test send (admins): one message of a draft, rendered for the sample patient, sent to the
admin's own email or phone through the live channels; marked as a test, audited, never a
Delivery row."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from drip.catalog import clinic, drafts
from drip.channels import build_channels
from drip.delivery.test_send import sample_context, send_test
from drip.enrollment.cleaning import clean_phone
from drip.errors import DeliveryError, EnrollmentError
from drip.models import AuditEvent, ScheduleDraft
from drip.staff.access import admin_required, staff_user

SAMPLE_NAMES = {"short": "Al", "long": "Maximiliana-Alexandra"}


class TestSendForm(forms.Form):
    """Where the test goes: the admin's own address or phone, typed (the email is prefilled)."""

    channel = forms.ChoiceField(choices=[("email", "Email"), ("sms", "Text message")])
    to = forms.CharField(label="Send to (your own email or mobile number)", max_length=254)
    sample = forms.ChoiceField(choices=[(k, k) for k in SAMPLE_NAMES], required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        to, channel = data.get("to", ""), data.get("channel")
        if channel == "email" and to:
            try:
                forms.EmailField().clean(to)
            except forms.ValidationError:
                self.add_error("to", "Enter an email address, like you@clinic.org")
        elif channel == "sms" and to:
            try:
                data["to"] = clean_phone(to)
            except EnrollmentError:
                self.add_error("to", "Enter a mobile number, like (312) 555-0142")
        return data


def initial_form(user: Any) -> TestSendForm:
    """The form on the message page: email to the admin's own address first."""
    return TestSendForm(initial={"channel": "email", "to": user.email, "sample": "short"})


@admin_required
@require_POST
def test_send(request: HttpRequest, name: str, key: str) -> HttpResponse:
    """Send the draft's saved message to the admin; the outcome shows on the message page."""
    row = get_object_or_404(ScheduleDraft, name=name)
    if key not in row.messages:
        raise Http404("no such message")
    form = TestSendForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{e}" for errors in form.errors.values() for e in errors)
        messages.error(request, f"Test not sent: {problems}")
        return redirect("staff:message-edit", name=name, key=key)
    _send(request, row, key, form.cleaned_data)
    return redirect("staff:message-edit", name=name, key=key)


def _send(request: HttpRequest, row: ScheduleDraft, key: str, data: dict[str, Any]) -> None:
    channel, sample = data["channel"], data.get("sample") or "short"
    template = drafts.template_of(key, row.messages[key])
    context = sample_context(SAMPLE_NAMES[sample], clinic.current())
    sms, email = build_channels()
    detail = {"schedule": row.name, "message": key, "channel": channel}  # never the address
    words = "text" if channel == "sms" else "email"
    try:
        send_test(template, channel, data["to"], context, sms=sms, email=email)
    except DeliveryError as error:
        AuditEvent.record(staff_user(request), "test_send_failed", at=timezone.now(),
                          detail={**detail, "code": error.code})  # fmt: skip
        messages.error(request, f"Test {words} of {key} not sent: the provider said {error.code}.")
        return
    AuditEvent.record(staff_user(request), "test_sent", at=timezone.now(), detail=detail)
    messages.success(request, f"Test {words} of {key} sent to {data['to']}, marked as a test.")
