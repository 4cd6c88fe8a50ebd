"""Clinic settings: admins change them (validated at each field, versioned, audited); staff get
403; what is saved is what messages, replies and the unsubscribe page say from then on."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drip.catalog import clinic
from drip.delivery.dispatch import claim_due
from drip.delivery.sender import send_deliveries
from drip.inbound.service import crisis_text
from drip.models import AuditEvent, ClinicSettings, Delivery, Enrollment
from tests.staff.conftest import make_staff
from tests.staff.test_pages import text

pytestmark = pytest.mark.django_db
URL = "/settings"


@pytest.fixture
def admin(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("ada", groups=("admin",)))
    return client


def form(**changes: object) -> dict[str, Any]:
    """The settings as the page posts them, starting from what is in force."""
    row = clinic.newest()
    facts = {**clinic.current(), "version": row.version if row else 0}
    # The sample phone (555) 010-0199 is no real number: the page asks for the clinic's own.
    return {
        **facts,
        "clinic_phone": facts["clinic_phone"].replace("(555) 010", "(312) 555"),
        **changes,
    }


def test_the_page_starts_from_the_environment_and_a_save_makes_version_1(admin: Client) -> None:
    page = text(admin.get(URL))
    assert "Not saved yet: these are the values the server started with" in page
    assert "Texts are sent from" in page
    response = admin.post(URL, form(clinic_name="Lakeside Infusion Center"), follow=True)
    assert response.redirect_chain, text(response)
    assert "Clinic settings saved as version 1." in text(response)
    assert "Version 1, saved by ada" in text(response)
    assert clinic.current()["clinic_name"] == "Lakeside Infusion Center"
    event = AuditEvent.objects.get(event="clinic_settings_saved")
    changed = ["clinic_name", "clinic_phone"]
    assert event.actor == "ada" and event.detail == {"version": 1, "changed": changed}


def test_newest_version_wins_and_a_stale_form_is_refused(admin: Client) -> None:
    admin.post(URL, form(clinic_phone="(312) 555-0142"))
    old = form()
    admin.post(URL, form(clinic_phone="(312) 555-0199"))
    response = admin.post(URL, {**old, "clinic_phone": "(312) 555-0100"}, follow=True)
    assert "Someone saved the settings meanwhile" in text(response)
    assert list(ClinicSettings.objects.values_list("version", flat=True)) == [2, 1]
    assert clinic.current()["clinic_phone"] == "(312) 555-0199"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"window_start": "07:30"}, "window_start", "opens at 08:00 at the earliest"),
        ({"window_end": "21:30"}, "window_end", "closes at 21:00 at the latest"),
        ({"window_start": "10:00", "window_end": "11:30"}, "window_end", "at least 2 hours"),
        ({"sms_per_day": "0"}, "sms_per_day", "greater than or equal to 1"),
        ({"sms_per_day": "2", "sms_per_7_days": "1"}, "sms_per_7_days", "at least texts a day"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Choose a time zone from the list"),
        ({"clinic_phone": "12"}, "clinic_phone", "Enter the clinic's phone"),
        ({"from_email": "care at clinic"}, "from_email", "Enter an email address"),
        ({"crisis_text": ""}, "crisis_text", "This field is required"),
    ],
)
def test_bad_values_are_shown_at_their_field_and_nothing_is_saved(
    admin: Client, changes: dict[str, str], field: str, words: str
) -> None:
    response = admin.post(URL, form(**changes))
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page and f'href="#id_{field}"' in page
    error = html.unescape(page[page.index(f'id="id_{field}_error"') :][:300])
    assert words in error
    assert not ClinicSettings.objects.exists() and not AuditEvent.objects.exists()


def test_staff_get_403_anonymous_go_to_sign_in_and_csrf_is_needed(
    admin: Client, staff: Client
) -> None:
    assert staff.get(URL).status_code == 403 and staff.post(URL, form()).status_code == 403
    assert "Settings" not in text(staff.get("/"))
    assert '<a href="/settings"' in admin.get("/").content.decode()
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and "/sign-in" in anonymous["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="ada"))
    assert strict.post(URL, form()).status_code == 403
    assert not ClinicSettings.objects.exists()


def test_messages_and_replies_say_what_was_saved(
    admin: Client, enrolled: Enrollment, smtp_email: Any, twilio_sms: Any, smtp_server: Any
) -> None:
    admin.post(URL, form(
        clinic_name="Lakeside Infusion Center", clinic_sms_name="Lakeside",
        clinic_phone="(312) 555-0142", crisis_text="Call 988 any time.",
        from_email="Lakeside <care@lakeside.test>",
    ))  # fmt: skip
    clinic.forget()  # as a new task would
    assert "(312) 555-0142" in crisis_text() and "Lakeside" in crisis_text()
    first = Delivery.objects.filter(channel="email").order_by("due_at").first()
    assert first is not None
    ids = claim_due(first.due_at, limit=100)
    send_deliveries(ids, now=first.due_at, sms=twilio_sms, email=smtp_email, concurrency=1)
    mail = next(m for m in smtp_server.received if m.to == enrolled.patient.email)
    assert mail.message["From"] == "Lakeside <care@lakeside.test>"
    assert "Call 988 any time." in mail.parts["text/plain"]
