"""Changing a series: preview first, then confirm; conflicts are refused in words."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from drip.enrollment import service
from drip.models import AuditEvent, Delivery, Enrollment, Infusion
from drip.staff import series
from tests.staff.conftest import stored_rows
from tests.staff.test_pages import text

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")


def infusion(enrollment: Enrollment, number: int) -> Infusion:
    return enrollment.infusions.get(number=number)


def between_2_and_3(enrollment: Enrollment) -> str:
    """A local time a day after infusion 2 (still before infusion 3), as the form sends it."""
    moved = infusion(enrollment, 2).starts_at.astimezone(NY) + timedelta(days=1)
    return f"{moved:%Y-%m-%dT%H:%M}"


def snapshot(enrollment: Enrollment) -> list[tuple[object, ...]]:
    return list(
        Delivery.objects.filter(enrollment=enrollment)
        .order_by("pk")
        .values_list("due_at", "status", "skip_reason")
    )


def test_previewing_a_move_lists_what_changes_and_saves_nothing(
    staff: Client, enrolled: Enrollment
) -> None:
    url = f"/series/{enrolled.pk}/infusions/2/move"
    state = series.state_token(enrolled)
    before, rows = snapshot(enrolled), stored_rows()
    response = staff.post(
        url, {"starts_at": between_2_and_3(enrolled), "state": state, "preview": "1"}
    )
    assert response.status_code == 200
    page = text(response)
    assert "What will change" in page and "Move infusion 2" in page
    assert snapshot(enrolled) == before and stored_rows() == rows
    assert infusion(enrolled, 2).starts_at.astimezone(NY).weekday() in (0, 1, 2, 3, 4)


def test_confirming_a_move_moves_the_infusion_and_says_so(
    staff: Client, enrolled: Enrollment
) -> None:
    url = f"/series/{enrolled.pk}/infusions/2/move"
    new = between_2_and_3(enrolled)
    state = series.state_token(enrolled)
    form = {"starts_at": new, "previewed": new, "state": state, "confirm": "1"}
    response = staff.post(url, form, follow=True)
    moved = infusion(enrolled, 2).starts_at.astimezone(NY)
    assert f"{moved:%Y-%m-%dT%H:%M}" == new
    assert re.search(r"Done: Infusion 2 moved to \w{3} \w{3} \d+, 10:00 AM E[SD]T", text(response))
    assert AuditEvent.objects.filter(event="infusion_moved", actor="sam").exists()


def test_a_move_past_the_next_infusion_is_an_error_at_the_field(
    staff: Client, enrolled: Enrollment
) -> None:
    after_3 = infusion(enrolled, 3).starts_at.astimezone(NY) + timedelta(hours=1)
    before = snapshot(enrolled)
    response = staff.post(
        f"/series/{enrolled.pk}/infusions/2/move",
        {"starts_at": f"{after_3:%Y-%m-%dT%H:%M}", "state": series.state_token(enrolled), "preview": "1"},
    )  # fmt: skip
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'id="id_starts_at_error">.*would come after infusion 3', html, re.S)
    assert snapshot(enrolled) == before


def test_two_people_moving_at_once_the_second_gets_a_conflict_not_an_overwrite(
    staff: Client, enrolled: Enrollment
) -> None:
    seen = series.state_token(enrolled)  # both opened the page
    first = infusion(enrolled, 2).starts_at.astimezone(NY) + timedelta(hours=2)
    service.move_infusion(enrolled, 2, first.replace(tzinfo=None), now=timezone.now(), actor="kim")
    response = staff.post(
        f"/series/{enrolled.pk}/infusions/2/move",
        {
            "starts_at": between_2_and_3(enrolled),
            "previewed": between_2_and_3(enrolled),
            "state": seen,
            "confirm": "1",
        },  # fmt: skip
        follow=True,
    )
    assert "Someone else changed this series" in text(response)
    assert infusion(enrolled, 2).starts_at == first  # kim's move stands


def started_an_hour_ago(enrollment: Enrollment, number: int = 1) -> None:
    """Infusion ``number`` began an hour ago (the patient is in the chair)."""
    Infusion.objects.filter(enrollment=enrollment, number=number).update(
        starts_at=timezone.now() - timedelta(hours=1)
    )
    service.replan(enrollment, now=timezone.now())


def test_mark_done_is_offered_once_an_infusion_has_started(
    staff: Client, enrolled: Enrollment
) -> None:
    assert "Mark done" not in text(staff.get(f"/patients/{enrolled.patient_id}"))
    started_an_hour_ago(enrolled)
    assert "Mark done" in text(staff.get(f"/patients/{enrolled.patient_id}"))


def test_marking_an_infusion_done_shows_the_change_then_does_it(
    staff: Client, enrolled: Enrollment
) -> None:
    started_an_hour_ago(enrolled)
    url = f"/series/{enrolled.pk}/infusions/1/done"
    page = staff.get(url)
    assert "Mark infusion 1 done?" in text(page)
    state = re.search(r'name="state" value="(\w+)"', page.content.decode()).group(1)  # type: ignore[union-attr]
    response = staff.post(url, {"state": state}, follow=True)
    assert infusion(enrolled, 1).status == "done"
    assert "Done: Infusion 1 marked done." in text(response)


def test_ending_the_series_after_a_done_infusion_is_previewed_then_done(
    staff: Client, enrolled: Enrollment
) -> None:
    started_an_hour_ago(enrolled)
    service.mark_infusion(enrolled, 1, "done", now=timezone.now(), actor="test")
    assert "End the series here" in text(staff.get(f"/patients/{enrolled.patient_id}"))
    url = f"/series/{enrolled.pk}/infusions/1/end-after"
    before = snapshot(enrolled)
    page = text(staff.get(url))
    assert "End the series after infusion 1?" in page and "What will change" in page
    assert snapshot(enrolled) == before
    response = staff.post(url, {"state": series.state_token(enrolled)}, follow=True)
    enrolled.refresh_from_db()
    assert enrolled.series_size == 1
    assert [i.status for i in enrolled.infusions.order_by("number")][1:] == ["cancelled"] * 5
    assert "The series now ends after infusion 1" in text(response)


def test_ending_the_series_previews_the_skipped_messages(
    staff: Client, enrolled: Enrollment
) -> None:
    before = snapshot(enrolled)
    page = text(staff.get(f"/series/{enrolled.pk}/end"))
    assert "End the series?" in page and "Skipped: the series has ended" in page
    assert snapshot(enrolled) == before
    staff.post(f"/series/{enrolled.pk}/end", {"state": series.state_token(enrolled)})
    enrolled.refresh_from_db()
    assert enrolled.status == "ended"


def test_pause_then_resume(staff: Client, enrolled: Enrollment) -> None:
    staff.post(f"/series/{enrolled.pk}/pause", {"state": series.state_token(enrolled)})
    enrolled.refresh_from_db()
    assert enrolled.status == "paused"
    assert not enrolled.deliveries.filter(status="scheduled").exists()
    staff.post(f"/series/{enrolled.pk}/resume", {"state": series.state_token(enrolled)})
    enrolled.refresh_from_db()
    assert enrolled.status == "active"


def test_a_change_that_cannot_be_done_says_why(staff: Client, enrolled: Enrollment) -> None:
    service.end(enrolled, now=timezone.now(), actor="kim")
    response = staff.get(f"/series/{enrolled.pk}/resume")
    assert response.status_code == 400
    assert "This cannot be done an enrollment that is ended cannot be resumed" in text(response)


def test_a_change_without_the_csrf_token_is_refused(staff_user, enrolled: Enrollment) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(f"/series/{enrolled.pk}/end", {"state": series.state_token(enrolled)})
    assert response.status_code == 403
    enrolled.refresh_from_db()
    assert enrolled.status == "active"


def test_an_opt_out_by_phone_skips_pending_texts_and_keeps_the_reason(
    staff: Client, enrolled: Enrollment
) -> None:
    response = staff.post(
        f"/patients/{enrolled.patient_id}/consent",
        {"channel": "sms", "wants": "out", "reason": "Gets too many texts"},
        follow=True,
    )
    assert not enrolled.deliveries.filter(channel="sms", status="scheduled").exists()
    assert enrolled.deliveries.filter(channel="sms", skip_reason="opted_out").exists()
    page = text(response)
    assert "Texts stopped, as the patient asked by phone." in page
    assert "Gets too many texts" in page  # in the audit at the bottom
    assert "Texts: stopped" in page


def test_an_opt_out_without_a_reason_is_an_error_and_saves_nothing(
    staff: Client, enrolled: Enrollment
) -> None:
    before = stored_rows()
    response = staff.post(
        f"/patients/{enrolled.patient_id}/consent", {"channel": "sms", "wants": "out"}
    )
    assert response.status_code == 400
    assert "Write down the reason the patient gave" in text(response)
    assert stored_rows() == before


def test_the_move_page_shows_the_current_time_in_the_patients_zone(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    page = text(staff.get(f"/series/{enrolled.pk}/infusions/2/move"))
    assert re.search(r"Currently: \w{3} \w{3} \d+, 10:00 AM E[SD]T", page)
    assert "Preview changes" in page


def test_a_date_changed_after_the_preview_is_previewed_again_not_moved(
    staff: Client, enrolled: Enrollment
) -> None:
    before = snapshot(enrolled)
    response = staff.post(
        f"/series/{enrolled.pk}/infusions/2/move",
        {"starts_at": between_2_and_3(enrolled), "previewed": "2026-01-01T10:00",
         "state": series.state_token(enrolled), "confirm": "1"},
    )  # fmt: skip
    assert "What will change" in text(response)
    assert snapshot(enrolled) == before


def test_adding_the_next_infusion_previews_its_messages_then_adds_it(
    staff: Client, enrolled: Enrollment
) -> None:
    Infusion.objects.filter(enrollment=enrolled, number__gte=5).delete()
    service.replan(enrolled, now=timezone.now())
    url = f"/series/{enrolled.pk}/infusions/add"
    assert "Add infusion 5" in text(staff.get(f"/patients/{enrolled.patient_id}"))
    when = infusion(enrolled, 4).starts_at.astimezone(NY) + timedelta(days=2)
    form = {"starts_at": f"{when:%Y-%m-%dT%H:%M}", "state": series.state_token(enrolled)}
    before = snapshot(enrolled)
    preview = text(staff.post(url, {**form, "preview": "1"}))
    assert "What will change" in preview
    assert snapshot(enrolled) == before
    done = staff.post(url, {**form, "previewed": form["starts_at"], "confirm": "1"}, follow=True)
    assert "Done: Infusion 5 added on" in text(done)
    assert infusion(enrolled, 5).starts_at.astimezone(NY).replace(tzinfo=None) == when.replace(
        tzinfo=None
    )


def test_adding_an_infusion_before_the_last_one_is_an_error_at_the_field(
    staff: Client, enrolled: Enrollment
) -> None:
    Infusion.objects.filter(enrollment=enrolled, number=6).delete()
    early = infusion(enrolled, 1).starts_at.astimezone(NY)
    response = staff.post(
        f"/series/{enrolled.pk}/infusions/add",
        {"starts_at": f"{early:%Y-%m-%dT%H:%M}", "state": series.state_token(enrolled), "preview": "1"},
    )  # fmt: skip
    assert response.status_code == 400
    assert re.search(
        r'id="id_starts_at_error">.*would come before infusion 5', response.content.decode(), re.S
    )


def test_a_failed_message_can_be_sent_again_but_a_sent_one_never(
    staff: Client, enrolled: Enrollment
) -> None:
    failed, sent = enrolled.deliveries.filter(channel="sms").order_by("due_at")[:2]
    Delivery.objects.filter(pk=failed.pk).update(status="failed", error_code="30003")
    Delivery.objects.filter(pk=sent.pk).update(status="sent")
    base = f"/patients/{enrolled.patient_id}/messages"
    assert "Send this message again" in text(staff.get(f"{base}/{failed.pk}"))
    assert "Send this message again" not in text(staff.get(f"{base}/{sent.pk}"))
    done = staff.post(f"{base}/{failed.pk}/resolve", {"action": "send-again"}, follow=True)
    assert "will go out again" in text(done)
    failed.refresh_from_db()
    assert failed.status == "scheduled" and failed.due_at <= timezone.now()
    refused = staff.post(f"{base}/{sent.pk}/resolve", {"action": "send-again"}, follow=True)
    assert "This message is sent now, so it was left as it is." in text(refused)
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert AuditEvent.objects.filter(event="message_sent_again", actor="sam").count() == 1


@pytest.mark.parametrize(
    "action, status", [("mark-sent", "sent"), ("resend", "scheduled")]
)  # fmt: skip
def test_an_unsettled_message_is_resolved_by_a_person(
    staff: Client, enrolled: Enrollment, action: str, status: str
) -> None:
    row = enrolled.deliveries.first()
    Delivery.objects.filter(pk=row.pk).update(status="sending")
    page = text(staff.get(f"/patients/{enrolled.patient_id}/messages/{row.pk}"))
    assert "never heard back" in page and "it may arrive twice" in page
    staff.post(f"/patients/{enrolled.patient_id}/messages/{row.pk}/resolve", {"action": action})
    row.refresh_from_db()
    assert row.status == status


def test_resolving_needs_a_post(staff: Client, enrolled: Enrollment) -> None:
    row = enrolled.deliveries.first()
    url = f"/patients/{enrolled.patient_id}/messages/{row.pk}/resolve"
    assert staff.get(url).status_code == 405


def contact_form(enrolled: Enrollment, **changes: str) -> dict[str, str]:
    from drip.staff.changes import _contact_token

    person = enrolled.patient
    person.refresh_from_db()
    values = {
        f: getattr(person, f) for f in ("first_name", "last_name", "phone", "email", "time_zone")
    }
    return {**values, "state": _contact_token(person), **changes}


def test_a_new_time_zone_re_times_pending_messages_to_the_new_local_time(
    staff: Client, enrolled: Enrollment
) -> None:
    row = enrolled.deliveries.get(step_key="what-to-expect", channel="sms")
    local_before = row.due_at.astimezone(NY).time()
    response = staff.post(
        f"/patients/{enrolled.patient_id}/edit",
        contact_form(enrolled, time_zone="America/Los_Angeles"),
        follow=True,
    )
    assert "Saved: time zone changed. Pending messages follow." in text(response)
    row.refresh_from_db()
    assert row.due_at.astimezone(ZoneInfo("America/Los_Angeles")).time() == local_before
    event = AuditEvent.objects.get(event="contact_changed")
    assert event.detail == {"fields": ["time_zone"]}  # names, never values


def test_removing_the_phone_of_a_patient_who_agreed_to_texts_is_refused(
    staff: Client, enrolled: Enrollment
) -> None:
    before = stored_rows()
    response = staff.post(f"/patients/{enrolled.patient_id}/edit", contact_form(enrolled, phone=""))
    assert response.status_code == 400
    assert re.search(
        r'id="id_phone_error">.*SMS consent needs a phone number', response.content.decode(), re.S
    )
    assert stored_rows() == before
    enrolled.patient.refresh_from_db()
    assert enrolled.patient.phone == "+12125550123"


def test_editing_details_someone_else_just_changed_is_a_conflict(
    staff: Client, enrolled: Enrollment
) -> None:
    stale = contact_form(enrolled, first_name="Alexandra")
    from drip.models import Patient

    Patient.objects.filter(pk=enrolled.patient_id).update(email="alex.r@example.com")
    response = staff.post(f"/patients/{enrolled.patient_id}/edit", stale, follow=True)
    assert "Someone else changed these details" in text(response)
    assert Patient.objects.get(pk=enrolled.patient_id).first_name == "Alex"
