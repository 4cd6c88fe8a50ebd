"""The pages that read and the Enroll page: what staff see, in words and in the patient's zone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from drip.models import Delivery, Enrollment, Patient
from tests.staff.conftest import stored_rows
from tests.support.factories import enroll_patient, mwf_infusions

pytestmark = pytest.mark.django_db


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page as words (tags dropped, spaces squeezed), for asserting what a person reads."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# --- Patients ------------------------------------------------------------------------------


def more_patients(clock: datetime, count: int) -> None:
    start = (clock + timedelta(days=3)).replace(tzinfo=None, hour=10, minute=0)
    for n in range(count):
        enroll_patient(
            clock, mwf_infusions(start, 2), publish=False, first_name=f"Pat{n:02d}",
            last_name="Jones", phone=f"+1212555{n:04d}", email=f"pat{n}@example.com",
        )  # fmt: skip


def test_patients_are_found_by_name_phone_or_email(staff: Client, enrolled: Enrollment) -> None:
    for query in (
        "alex",
        "Rivera",
        "212 555 0123",
        "+1 (212) 555-0123",
        "alex@example",
        "Alex Rivera",
    ):
        page = text(staff.get("/patients", {"q": query}))
        assert "Alex Rivera" in page, query
    assert "No patients match" in text(staff.get("/patients", {"q": "nobody"}))


def test_search_as_you_type_answers_with_the_table_only(
    staff: Client, enrolled: Enrollment
) -> None:
    response = staff.get("/patients", {"q": "alex"}, HTTP_HX_REQUEST="true")
    assert "Alex Rivera" in text(response)
    assert "<nav" not in response.content.decode().split("<table")[0]  # no page chrome


def test_patients_are_filtered_by_status_and_by_infusion_this_week(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    more_patients(clock, 1)
    Enrollment.objects.filter(patient__first_name="Pat00").update(status="paused")
    assert "Pat00" in text(staff.get("/patients", {"show": "paused"}))
    assert "Alex" not in text(staff.get("/patients", {"show": "paused"}))
    assert "Alex" in text(staff.get("/patients", {"show": "active"}))
    assert "Alex" not in text(staff.get("/patients", {"show": "ended"}))


def test_patients_list_pages_by_25_with_a_bounded_number_of_queries(
    staff: Client, enrolled: Enrollment, clock: datetime, django_assert_max_num_queries
) -> None:
    more_patients(clock, 30)
    # 5 for the person (session, user, password step, code device, groups), 3 saving the session.
    with django_assert_max_num_queries(13):  # 11 + band and inbox count
        first = text(staff.get("/patients"))
    assert "Page 1 of 2 · 31 patients" in first
    assert first.count("Jones") == 25  # by last name: the 30 Joneses come before Rivera
    assert "Alex Rivera" in text(staff.get("/patients", {"page": 2}))


def test_patients_list_shows_next_infusion_in_the_patients_zone_and_progress(
    staff: Client, enrolled: Enrollment
) -> None:
    page = text(staff.get("/patients"))
    assert re.search(r"\w{3} \w{3} \d+, 10:00 AM E[SD]T", page)
    assert "0 of 6" in page and "Active" in page


def test_with_no_patients_the_list_leads_to_enroll(staff: Client) -> None:
    response = staff.get("/patients")
    assert "No patients yet." in text(response)
    assert 'href="/enroll"' in response.content.decode()


# --- One patient -------------------------------------------------------------------------


def test_patient_page_shows_contact_consent_and_the_timeline_in_their_zone(
    staff: Client, enrolled: Enrollment
) -> None:
    page = text(staff.get(f"/patients/{enrolled.patient_id}"))
    assert "(212) 555-0123" in page and "alex@example.com" in page and "America/New_York" in page
    assert re.search(r"Texts: yes, on a written form, recorded by test on \w{3} \d+, \d{4}", page)
    assert re.search(r"Infusion 1 · Scheduled", page)
    assert re.search(r"Infusion 2 \w{3} \w{3} \d+, 10:00 AM E[SD]T", page) or "Infusion 2" in page
    assert "What to expect" in page and "Text" in page and "Email" in page
    assert "Now ·" in page
    assert "Enrolled the patient" in page  # the audit, at the bottom


def test_timeline_says_why_in_words_with_the_code_for_support(
    staff: Client, enrolled: Enrollment
) -> None:
    deliveries = enrolled.deliveries.filter(channel="sms").order_by("due_at")
    failed, skipped = deliveries[0], deliveries[1]
    Delivery.objects.filter(pk=failed.pk).update(
        status="failed", error_code="21614", error_text="x"
    )
    Delivery.objects.filter(pk=skipped.pk).update(status="skipped", skip_reason="too_late")
    page = text(staff.get(f"/patients/{enrolled.patient_id}"))
    assert "Failed: the number cannot receive texts (21614)" in page
    assert "Skipped: too late: its time had passed" in page


def test_patient_page_queries_do_not_grow_with_the_series(
    staff: Client, enrolled: Enrollment, django_assert_max_num_queries
) -> None:
    with django_assert_max_num_queries(22):  # 17 + band, inbox count, texts
        assert staff.get(f"/patients/{enrolled.patient_id}").status_code == 200


def test_a_text_is_shown_as_the_patient_reads_it_with_its_segments(
    staff: Client, enrolled: Enrollment
) -> None:
    sms = enrolled.deliveries.get(step_key="welcome", channel="sms")
    page = text(staff.get(f"/patients/{enrolled.patient_id}/messages/{sms.pk}"))
    assert "Sample Infusion Clinic: hi Alex" in page
    assert "1 text" in page and "characters" in page


def test_an_email_is_shown_rendered(staff: Client, enrolled: Enrollment) -> None:
    email = enrolled.deliveries.get(step_key="what-to-expect", channel="email")
    response = staff.get(f"/patients/{enrolled.patient_id}/messages/{email.pk}")
    assert "Subject: Infusion 1" in text(response)
    assert "<iframe" in response.content.decode() and "sandbox" in response.content.decode()


def test_a_message_of_another_patient_is_not_found(staff: Client, enrolled: Enrollment) -> None:
    sms = enrolled.deliveries.first()
    assert staff.get(f"/patients/{enrolled.patient_id + 1}/messages/{sms.pk}").status_code == 404


# --- Today -----------------------------------------------------------------------------------


def test_today_lists_what_needs_a_person_and_the_next_24_hours(
    staff: Client, enrolled: Enrollment, clock: datetime, django_assert_max_num_queries
) -> None:
    rows = list(enrolled.deliveries.order_by("due_at"))
    Delivery.objects.filter(pk=rows[0].pk).update(status="failed", error_code="30006")
    Delivery.objects.filter(pk=rows[1].pk).update(status="sending")
    Delivery.objects.filter(pk=rows[1].pk).update(updated_at=clock - timedelta(hours=1))
    Delivery.objects.filter(pk=rows[2].pk).update(due_at=clock + timedelta(hours=3))
    Patient.objects.update(email_opted_out_at=clock - timedelta(days=1))
    # 21: band and inbox count, the week's counts one query each, the next 24 hours two, clinic.
    with django_assert_max_num_queries(21):
        page = text(staff.get("/"))
    assert "Needs you" in page
    assert "Failed: the number is a landline or its carrier cannot take texts (30006)" in page
    assert "Open patient" in page and "Check and resolve" in page
    assert re.search(
        r"Opted out in the last week Alex Rivera ?: email stopped \w{3} \w{3} \d+", page
    )
    assert "Next 24 hours" in page and "Alex Rivera" in page


def test_today_when_all_is_well(staff: Client) -> None:
    page = text(staff.get("/"))
    assert "Nothing needs you right now." in page
    assert "No messages go out in the next 24 hours." in page


# --- Enroll ----------------------------------------------------------------------------------


def enroll_form(**overrides: str) -> dict[str, str]:
    first = timezone.now() + timedelta(days=8)
    values = {
        "first_name": "Robin", "last_name": "Chen", "phone": "(312) 555-0188",
        "email": "robin@example.com", "time_zone": "America/Chicago", "sms_consent": "on",
        "email_consent": "on", "consent_method": "verbal", "schedule": "ketamine-six-infusion",
        "infusion_1": f"{first:%Y-%m-%d}T09:30", "infusion_2": f"{first + timedelta(days=2):%Y-%m-%d}T09:30",
    }  # fmt: skip
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture
def published(db: None) -> None:
    from tests.support.factories import publish_test_schedule

    publish_test_schedule()


def test_enroll_page_labels_every_field_and_shows_the_consent_wording(
    staff: Client, published: None
) -> None:
    response = staff.get("/enroll")
    html = response.content.decode()
    for label in (
        "First name",
        "Last name",
        "Phone",
        "Email",
        "Time zone",
        "Infusion 1",
        "Schedule",
    ):
        assert f">{label}</label>" in html or f">{label}</legend>" in html, label
    assert "Msg &amp; data rates may apply" in html and "Reply STOP to stop" in html
    assert 'value="America/New_York"' in html  # the clinic's zone preselected
    assert "Enroll and plan messages" in html


def test_enrolling_saves_the_patient_and_shows_the_planned_timeline(
    staff: Client, published: None
) -> None:
    response = staff.post("/enroll", enroll_form(), follow=True)
    patient = Patient.objects.get()
    assert patient.phone == "+13125550188" and patient.time_zone == "America/Chicago"
    assert patient.consents.get(channel="sms").recorded_by == "sam"
    assert patient.consents.get(channel="sms").method == "verbal"
    assert patient.enrollments.get().infusions.count() == 2
    page = text(response)
    assert re.search(r"Enrolled\. \d+ messages planned\. The first, the welcome", page)
    assert "Infusion 2" in page and "CST" in page


def test_the_empty_form_shows_errors_and_saves_nothing(staff: Client, published: None) -> None:
    before = stored_rows()
    response = staff.post("/enroll", {})
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html and 'class="error-summary"' in html
    assert 'aria-invalid="true"' in html
    page = text(response)
    assert "First name is required" in page
    assert "Infusion 1: Give at least the first infusion" in page  # both parts checked at once
    assert stored_rows() == before


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"first_name": ""}, "first_name", "is required"),
        ({"phone": "555"}, "phone", "is not a valid phone number"),
        ({"email": "robin@"}, "email", "is not a valid email address"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "is not an IANA time zone"),
        ({"sms_consent": None, "email_consent": None}, "sms_consent", "has not consented"),
        ({"infusion_1": ""}, "infusion_1", "Give at least the first infusion"),
        ({"infusion_2": "2020-01-01T10:00"}, "infusion_2", "Infusion 2 is not after infusion 1"),
        ({"infusion_1": "next tuesday"}, "infusion_1", "Enter a date and a time"),
    ],
)
def test_each_bad_input_lands_beside_its_field_and_saves_nothing(
    staff: Client, published: None, overrides: dict[str, str], field: str, words: str
) -> None:
    before = stored_rows()
    form = enroll_form(**overrides)
    response = staff.post("/enroll", form)
    assert response.status_code == 400
    html = response.content.decode()
    beside = re.search(rf'id="id_{field}_error">(.*?)</p>', html, re.S)
    assert beside and words in beside.group(1), html[:3000]
    assert f'href="#id_{field}"' in html  # the summary links to the field
    assert stored_rows() == before
    if form.get("first_name"):
        assert f'value="{form["first_name"]}"' in html  # what was typed is kept


def test_a_person_already_on_file_is_linked_instead_of_added_twice(
    staff: Client, enrolled: Enrollment
) -> None:
    before = stored_rows()
    response = staff.post("/enroll", enroll_form(phone="212-555-0123", email="new@example.com"))
    assert "Alex Rivera is already on file" in text(response)
    assert f'href="/patients/{enrolled.patient_id}"' in response.content.decode()
    assert stored_rows() == before


def test_enroll_refuses_a_post_without_the_csrf_token(staff_user, published: None) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    before = stored_rows()
    assert client.post("/enroll", enroll_form()).status_code == 403
    assert stored_rows() == before


def test_enroll_says_so_when_no_schedule_is_published(staff: Client) -> None:
    assert "No schedule is published yet" in text(staff.get("/enroll"))


def test_a_shorter_series_is_enrolled_with_its_size(staff: Client, published: None) -> None:
    response = staff.post("/enroll", enroll_form(series_size="4"), follow=True)
    assert Enrollment.objects.get().series_size == 4
    assert "0 of 4 infusions done" in text(response)


def test_a_series_size_the_service_refuses_lands_on_its_field_and_saves_nothing(
    staff: Client, published: None
) -> None:
    before = stored_rows()
    response = staff.post("/enroll", enroll_form(series_size="1"))  # two infusions are booked
    assert response.status_code == 400
    beside = re.search(r'id="id_series_size_error">(.*?)</p>', response.content.decode(), re.S)
    assert beside and "infusions booked" in beside.group(1)
    assert stored_rows() == before
