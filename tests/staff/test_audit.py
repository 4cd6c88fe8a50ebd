"""The audit: records name the staff member who acted, outlive the patient, and one page lists
them all for admins (staff get 403)."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import ProtectedError
from django.test import Client

from drip.models import AuditEvent, Delivery, Enrollment, Patient
from drip.staff import series
from tests.staff.conftest import make_staff
from tests.staff.test_changes import between_2_and_3
from tests.staff.test_pages import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("ada", groups=("admin",)))
    return client


def move_infusion_2(staff: Client, enrolled: Enrollment) -> str:
    new = between_2_and_3(enrolled)
    form = {"starts_at": new, "previewed": new, "state": series.state_token(enrolled)}
    staff.post(f"/series/{enrolled.pk}/infusions/2/move", {**form, "confirm": "1"})
    return new


def test_a_staff_member_cannot_open_the_audit_page(staff: Client) -> None:
    assert staff.get("/audit").status_code == 403


def test_a_stranger_is_sent_to_sign_in(db: None) -> None:
    response = Client().get("/audit")
    assert response.status_code == 302 and response["Location"].startswith("/sign-in")


def test_a_staff_action_names_the_user_with_before_and_after(
    staff: Client, staff_user: User, enrolled: Enrollment, admin: Client
) -> None:
    move_infusion_2(staff, enrolled)
    event = AuditEvent.objects.get(event="infusion_moved")
    assert event.user == staff_user and event.actor == "sam"
    assert event.detail["before"] != event.detail["after"]
    page = text(admin.get("/audit"))
    assert "Sam Lee (sam) Moved an infusion Alex Rivera" in page
    assert page.count(" AM E") >= 3  # when, before and after, in the patient's zone, named


def test_an_account_that_acted_cannot_be_deleted(
    staff: Client, staff_user: User, enrolled: Enrollment
) -> None:
    move_infusion_2(staff, enrolled)
    with pytest.raises(ProtectedError):
        staff_user.delete()


def test_a_deleted_patients_audit_rows_remain_with_their_ids(
    staff: Client, enrolled: Enrollment, admin: Client
) -> None:
    move_infusion_2(staff, enrolled)
    patient_id, enrollment_id = enrolled.patient_id, enrolled.pk
    Enrollment.objects.filter(pk=enrollment_id).delete()  # a patient's series goes first
    Patient.objects.filter(pk=patient_id).delete()
    assert not Delivery.objects.exists()
    kept = AuditEvent.objects.filter(patient_id=patient_id)
    assert {e.event for e in kept} == {"enrolled", "infusion_moved"}
    assert {e.enrollment_id for e in kept} == {enrollment_id}
    page = text(admin.get("/audit", {"patient": patient_id}))
    assert f"#{patient_id} (record deleted)" in page and "2 records" in page


def test_the_audit_filters_by_user_event_and_patient(
    staff: Client, enrolled: Enrollment, admin: Client
) -> None:
    move_infusion_2(staff, enrolled)
    assert "1 record" in text(admin.get("/audit", {"user": "sam"}))
    assert "1 record" in text(admin.get("/audit", {"user": "test", "event": "enrolled"}))
    assert "Nothing recorded that matches" in text(admin.get("/audit", {"user": "ada"}))
    assert "2 records" in text(admin.get("/audit", {"patient": enrolled.patient_id}))


def test_the_audit_pages_by_50_with_a_bounded_number_of_queries(
    enrolled: Enrollment, admin: Client, clock: datetime, django_assert_max_num_queries
) -> None:
    ada = User.objects.get(username="ada")
    for n in range(120):
        AuditEvent.record(
            ada, "paused", at=clock - timedelta(minutes=n + 1), patient_id=enrolled.patient_id
        )
    # 12 with 120 records (the same with 12): session, user, password step, code device, groups,
    # actors, count, page, patients, session save (3).
    # + the crisis band and the inbox count, + the clinic settings (its time zone, once)
    with django_assert_max_num_queries(15):
        first = text(admin.get("/audit"))
    assert (
        "Page 1 of 3 · 121 records" in first and first.count("Paused the series") == 49
    )  # and the enrollment
    assert "Page 3 of 3" in text(admin.get("/audit", {"page": 3}))


def test_an_event_that_is_not_a_choice_is_refused(enrolled: Enrollment, clock: datetime) -> None:
    with pytest.raises(ValueError, match="made_up"):
        AuditEvent.record("cli", "made_up", at=clock)


def test_an_account_cannot_take_a_system_actors_name(db: None) -> None:
    with pytest.raises(CommandError, match="'patient' names a system actor"):
        call_command("staff", "add", "patient", stdout=StringIO())
