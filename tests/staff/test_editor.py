"""The schedule editor's pages: who may see and change what, each page's words, the draft's
errors at their step and field, the live preview, publish with impact, history and rollback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from celery.signals import task_prerun
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from drip.catalog import drafts, publish
from drip.catalog import versions as catalog
from drip.catalog.clinic import current as current_clinic
from drip.catalog.clinic import save as save_clinic
from drip.celery import _fresh_enough_connections, app
from drip.core.rendering import format_when
from drip.models import Delivery, Enrollment, Patient, ScheduleDraft, ScheduleVersion, VersionMove
from drip.tasks import dispatch_due
from tests.staff.conftest import make_staff
from tests.staff.test_pages import text
from tests.support.factories import enroll_patient, mwf_infusions

pytestmark = pytest.mark.django_db
NAME = "ketamine-six-infusion"


@pytest.fixture(autouse=True)
def moves_run_at_once() -> Iterator[None]:
    """The move task runs in the request (a worker runs it in production), without the worker's
    connection refresh before each task (it would close the test's own connection)."""
    app.conf.task_always_eager = True
    task_prerun.disconnect(_fresh_enough_connections)
    yield
    task_prerun.connect(_fresh_enough_connections)
    app.conf.task_always_eager = False


@pytest.fixture
def shipped() -> ScheduleVersion:
    return catalog.publish_from_disk(actor="cli")[0]


@pytest.fixture
def admin(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("ada", groups=("admin",)))
    return client


@pytest.fixture
def series(shipped: ScheduleVersion) -> Enrollment:
    now = timezone.now()
    start = (now + timedelta(days=7)).astimezone(timezone.get_fixed_timezone(-300))
    first = start.replace(tzinfo=None, hour=10, minute=0, second=0, microsecond=0)
    return enroll_patient(now, mwf_infusions(first), publish=False)


def open_draft(admin: Client) -> ScheduleDraft:
    admin.post(f"/schedules/{NAME}/draft/start")
    return ScheduleDraft.objects.get()


def step_post(draft: ScheduleDraft, index: int, **changes: object) -> dict[str, object]:
    step = draft.spec["steps"][index]
    data = {k: v for k, v in step.items() if v and k != "essential"}
    if step.get("essential") == "true":
        data["essential"] = "on"
    return {**data, "revision": draft.revision, **changes}


PAGES = [
    "/schedules",
    f"/schedules/{NAME}",
    f"/schedules/{NAME}/history",
    f"/schedules/{NAME}/versions/1",
]
ADMIN_PAGES = [
    f"/schedules/{NAME}/draft",
    f"/schedules/{NAME}/draft/steps/0",
    f"/schedules/{NAME}/draft/steps/new",
    f"/schedules/{NAME}/draft/messages/welcome",
    f"/schedules/{NAME}/draft/publish",
    f"/schedules/{NAME}/versions/1/roll-back",
]


def test_anonymous_people_are_sent_to_sign_in(shipped: ScheduleVersion) -> None:
    for url in PAGES + ADMIN_PAGES:
        response = Client().get(url)
        assert response.status_code == 302 and "/sign-in" in response["Location"], url


def test_staff_may_look_but_not_change(staff: Client, admin: Client, series: Enrollment) -> None:
    open_draft(admin)
    for url in PAGES:
        assert staff.get(url).status_code == 200, url
    for url in ADMIN_PAGES:
        assert staff.get(url).status_code == 403, url
    assert staff.post(f"/schedules/{NAME}/draft/start").status_code == 403
    assert "Edit in a draft" not in text(staff.get(f"/schedules/{NAME}"))


def test_every_change_needs_the_csrf_token(admin: Client, shipped: ScheduleVersion) -> None:
    user = User.objects.get(username="ada")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"/schedules/{NAME}/draft/start").status_code == 403
    assert not ScheduleDraft.objects.exists()


def test_the_list_and_schedule_page_say_what_is_published(
    admin: Client, series: Enrollment
) -> None:
    page = text(admin.get("/schedules"))
    assert "IV ketamine, six-infusion series ketamine-six-infusion Version 1 1 cli" in page
    page = text(admin.get(f"/schedules/{NAME}"))
    assert "2 days before infusion 1 at 18:00 Email what-to-expect" in page
    assert "Edit in a draft" in page


def test_an_invalid_offset_is_shown_at_its_field_and_nothing_is_saved(
    admin: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    response = admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-2x"))
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'id="id_offset_error".*malformed offset', page)
    assert 'value="-2x"' in page  # what was typed is kept
    draft.refresh_from_db()
    assert draft.spec["steps"][1]["offset"] == "-2d" and draft.revision == 1
    response = admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-3d"))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.spec["steps"][1]["offset"] == "-3d" and draft.revision == 2


def test_a_save_from_an_old_page_is_a_conflict(admin: Client, shipped: ScheduleVersion) -> None:
    draft = open_draft(admin)
    admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-3d"))
    response = admin.post(
        f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-4d"), follow=True
    )
    assert "someone else saved the draft" in text(response)
    draft.refresh_from_db()
    assert draft.spec["steps"][1]["offset"] == "-3d"


def test_steps_are_removed_and_reordered(admin: Client, shipped: ScheduleVersion) -> None:
    draft = open_draft(admin)
    keys = [s["key"] for s in draft.spec["steps"]]
    admin.post(f"/schedules/{NAME}/draft", {"action": "down", "index": 0, "revision": 1})
    admin.post(f"/schedules/{NAME}/draft", {"action": "remove", "index": 2, "revision": 2})
    draft.refresh_from_db()
    assert [s["key"] for s in draft.spec["steps"]] == [keys[1], keys[0]] + keys[3:]


def test_the_preview_counts_the_text_as_typed(admin: Client, shipped: ScheduleVersion) -> None:
    open_draft(admin)
    url = f"/schedules/{NAME}/draft/messages/welcome/preview"
    short = text(admin.post(url, {"sms_text": "Hi {{ first_name }}", "email_body": "Hi"}))
    assert "5 of 160 characters · 1 text · standard characters" in short
    long = text(admin.post(url, {"sms_text": "x" * 161, "email_body": "Hi"}))
    assert "161 of 160 characters · 2 texts" in long
    emoji = text(admin.post(url, {"sms_text": "Hi 🙂", "email_body": "Hi"}))
    assert "Unicode" in emoji and "of 70 characters" in emoji
    raw = text(admin.post(url, {"sms_text": "Hi", "email_body": "a\n\n<div>b</div>"}))
    assert "email body line 3: raw HTML is not allowed" in raw
    assert ScheduleDraft.objects.get().revision == 1  # a preview saves nothing


def test_publish_shows_diff_and_impact_then_moves_everyone(
    admin: Client, series: Enrollment, django_capture_on_commit_callbacks
) -> None:
    draft = open_draft(admin)
    admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-3d"))
    page = text(admin.get(f"/schedules/{NAME}/draft/publish"))
    assert "Patients in a series 1 Messages re-timed 1" in page
    assert "Publish version 2" in page and "Alex Rivera: 1 change" in page
    before = series.deliveries.get(step_key="what-to-expect").due_at
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            f"/schedules/{NAME}/draft/publish",
            {"note": "a day earlier", "who_moves": "everyone", "revision": 2},
        )
    response = admin.get(f"/schedules/{NAME}/moves/{VersionMove.objects.get().pk}")
    assert "Done: 1 of 1 patient moved to version 2" in text(response)
    after = series.deliveries.get(step_key="what-to-expect").due_at
    assert after - before == timedelta(days=-1)
    history = text(admin.get(f"/schedules/{NAME}/history"))
    assert "Version 2 published ada" in history and "a day earlier" in history


def test_roll_back_shows_the_impact_then_publishes_the_old_version_again(
    admin: Client, series: Enrollment, django_capture_on_commit_callbacks
) -> None:
    draft = open_draft(admin)
    admin.post(f"/schedules/{NAME}/draft", {"action": "remove", "index": 5, "revision": 1})
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            f"/schedules/{NAME}/draft/publish",
            {"note": "x", "who_moves": "everyone", "revision": 2},
        )
    assert draft.spec["steps"][5]["key"] == "look-at-your-life"
    assert series.deliveries.get(step_key="look-at-your-life").skip_reason == "step_removed"
    page = text(admin.get(f"/schedules/{NAME}/versions/1/roll-back"))
    assert "Added 1" in page and "Publish version 1 again as version 3" in page
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(
            f"/schedules/{NAME}/versions/1/roll-back", {"note": "undo", "who_moves": "everyone"}
        )
    row = series.deliveries.get(step_key="look-at-your-life")
    assert (row.status, ScheduleVersion.objects.get(version=3).copied_from) == (
        Delivery.Status.SCHEDULED, 1,
    )  # fmt: skip


def test_every_admin_page_opens(admin: Client, series: Enrollment) -> None:
    open_draft(admin)
    for url in PAGES + ADMIN_PAGES + [f"/schedules/{NAME}/draft/messages/what-to-expect"]:
        assert admin.get(url).status_code == 200, url


def test_the_draft_table_shows_every_step_field_in_words(
    admin: Client, shipped: ScheduleVersion
) -> None:
    open_draft(admin)
    page = text(admin.get(f"/schedules/{NAME}/draft"))
    assert "welcome Priority: high Stays at its own time" in page
    assert "May move up to 3 hours before infusion 1" in page
    assert (
        "Only if infusion 1 done May move up to 3 days after infusion 1 Essential: caught up when joining late"
        in page
    )
    published = text(admin.get(f"/schedules/{NAME}"))
    assert "May move up to 3 hours before infusion 1" in published


def test_latest_priority_and_essential_are_edited_with_errors_at_their_fields(
    admin: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    url = f"/schedules/{NAME}/draft/steps/1"  # what-to-expect: -2d before infusion 1
    for latest, error in (("soon", "malformed latest"), ("-3d", "is before the step")):
        response = admin.post(url, step_post(draft, 1, latest=latest))
        assert response.status_code == 400
        assert re.search(rf'id="id_latest_error".*{error}', response.content.decode())
    draft.refresh_from_db()
    assert draft.spec["steps"][1]["latest"] == "-3h" and draft.revision == 1
    changed = step_post(draft, 1, latest="-1d", priority="low", essential="on")
    assert admin.post(url, changed).status_code == 302
    draft.refresh_from_db()
    step = draft.spec["steps"][1]
    assert (step["latest"], step["priority"], step["essential"]) == ("-1d", "low", "true")
    page = text(admin.get(f"/schedules/{NAME}/draft"))
    assert "Priority: low May move up to 1 day before infusion 1 Essential" in page
    unchecked = {k: v for k, v in step_post(draft, 1, priority="").items() if k != "essential"}
    assert admin.post(url, unchecked).status_code == 302
    draft.refresh_from_db()
    assert (draft.spec["steps"][1]["priority"], draft.spec["steps"][1]["essential"]) == ("", "")


def test_a_step_problem_in_the_draft_table_links_to_its_field(
    admin: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    spec = {**draft.spec, "steps": [dict(s) for s in draft.spec["steps"]]}
    spec["steps"][1]["latest"] = "-5d"
    ScheduleDraft.objects.filter(pk=draft.pk).update(spec=spec)
    page = admin.get(f"/schedules/{NAME}/draft").content.decode()
    assert re.search(
        rf'href="/schedules/{NAME}/draft/steps/1#id_latest">may move up to</a>: '
        r"latest &#x27;-5d&#x27; is before",
        page,
    )


@pytest.fixture
def new_york(settings: object) -> None:
    settings.DRIP_CLINIC_TIME_ZONE = "America/New_York"  # type: ignore[attr-defined]


def marks(page: str) -> dict[str, int]:
    return {k: len(re.findall(rf'<g class="{k}[" ]', page)) for k in ("infusion", "email", "sms")}


def test_the_schedule_page_pictures_a_sample_series_planned_by_the_planner(
    staff: Client, shipped: ScheduleVersion, new_york: None
) -> None:
    response = staff.get(f"/schedules/{NAME}")
    page = text(response)
    assert "A sample series: 6 infusions on Mon/Wed/Fri at 10:00 AM, enrolled on Thu Jan 7." in page
    assert "11 emails and 11 texts." in page
    assert marks(response.content.decode()) == {"infusion": 6, "email": 11, "sms": 11}
    every_mark = page.split("Every mark in words")[1]
    assert (
        every_mark.index("Sat Jan 9, 6:00 PM EST · Email · what-to-expect")
        < every_mark.index("Sun Jan 10, 5:00 PM EST · Text · reminder-1 (infusion-reminder)")
        < every_mark.index("Mon Jan 11, 10:00 AM EST · Infusion 1")
    )
    assert "Fri Jan 22, 10:00 AM EST · Infusion 6" in every_mark
    tuesdays = staff.get(f"/schedules/{NAME}?days=tt")
    page = text(tuesdays)
    assert "6 infusions on Tue/Thu" in page and "Tue Jan 12, 10:00 AM EST · Infusion 1" in page
    assert "Thu Jan 28, 10:00 AM EST · Infusion 6" in page
    assert re.search(r'aria-current="true"[^>]*>Tue/Thu<', tuesdays.content.decode())


def test_the_draft_picture_follows_the_draft(
    admin: Client, shipped: ScheduleVersion, new_york: None
) -> None:
    draft = open_draft(admin)
    admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-3d"))
    page = text(admin.get(f"/schedules/{NAME}/draft"))
    assert "Fri Jan 8, 6:00 PM EST · Email · what-to-expect" in page
    draft.refresh_from_db()
    admin.post(
        f"/schedules/{NAME}/draft/steps/1",
        step_post(draft, 1, channels=["email", "sms"], message="welcome"),
    )  # a text as well: a 4th in the 7 days from Thu Jan 7 with Tue/Thu infusions
    page = admin.get(f"/schedules/{NAME}/draft?days=tt")
    assert (
        "Sat Jan 9, 6:00 PM EST · Text · what-to-expect (welcome) · not sent: the most messages "
        "a day or week (caps) was reached"
    ) in text(page)
    assert marks(page.content.decode())["sms"] == 12
    assert page.content.decode().count('<g class="sms skipped">') == 1
    spec = {**draft.spec, "steps": [dict(s) for s in draft.spec["steps"]]}
    spec["steps"][1]["offset"] = "-2x"
    ScheduleDraft.objects.filter(pk=draft.pk).update(spec=spec)
    page = text(admin.get(f"/schedules/{NAME}/draft"))
    assert "The picture of a sample series comes back when the problems above are fixed" in page


def test_the_message_preview_for_a_real_patient_uses_their_details_and_saves_nothing(
    admin: Client, staff: Client, series: Enrollment, settings: object
) -> None:
    draft = open_draft(admin)
    person = series.patient
    found = admin.get(f"/schedules/{NAME}/draft/messages/welcome/patients", {"q": "rivera"})
    assert f'value="patient-{person.pk}"' in found.content.decode()
    assert "Alex Rivera" in text(found)
    assert "No patient matches “nobody”" in text(
        admin.get(f"/schedules/{NAME}/draft/messages/welcome/patients", {"q": "nobody"})
    )
    first = series.infusions.get(number=1).starts_at.astimezone(ZoneInfo(person.time_zone))
    typed = {
        "sms_text": "Hi {{ first_name }}: infusion {{ infusion_number }} of {{ series_size }}, "
        "{{ infusion_when }}. {{ clinic_name }}",
        "email_body": "Hi",
        "sample": f"patient-{person.pk}",
    }
    deliveries = list(Delivery.objects.values_list("pk", "status", "due_at"))
    for client in (admin, staff):  # staff may look: nothing is saved or sent
        page = text(client.post(f"/schedules/{NAME}/draft/messages/welcome/preview", typed))
        assert (
            f"Shown for Alex Rivera, a real patient (Infusion 1, {first:%a %b} {first.day}, 10:00 AM"
            in page
        )
        clinic = current_clinic()["clinic_name"]
        assert f"Hi Alex: infusion 1 of 6, {format_when(first)}. {clinic}" in page
    sample = text(
        admin.post(f"/schedules/{NAME}/draft/messages/welcome/preview", typed | {"sample": "short"})
    )
    assert "Hi Al: infusion 2 of 6" in sample and "real patient" not in sample
    missing = admin.post(
        f"/schedules/{NAME}/draft/messages/welcome/preview", typed | {"sample": "patient-999999"}
    )
    assert missing.status_code == 404
    saved = {"email_subject": "x", "email_body": "x", "sms_text": "x", "revision": draft.revision}
    assert staff.post(f"/schedules/{NAME}/draft/messages/welcome", saved).status_code == 403
    draft.refresh_from_db()
    assert draft.revision == 1 and draft.messages == ScheduleVersion.objects.get().messages
    assert list(Delivery.objects.values_list("pk", "status", "due_at")) == deliveries


def settings_post(draft: ScheduleDraft, **changes: object) -> dict[str, object]:
    spec = draft.spec
    window, caps = spec.get("send_window") or {}, spec.get("caps") or {}
    data = {"title": spec["title"], "infusions": spec["infusions"], "revision": draft.revision}
    data |= {"late_grace": spec.get("late_grace", ""), "send_window_start": window.get("start")}
    data |= {"send_window_end": window.get("end"), "caps_sms_per_day": caps.get("sms_per_day", "")}
    return {**data, **changes}


def test_schedule_settings_are_checked_field_by_field_then_saved(
    admin: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    url = f"/schedules/{NAME}/draft/settings"
    assert "Change schedule settings" in text(admin.get(f"/schedules/{NAME}/draft"))
    bad = settings_post(
        draft, send_window_start="07:00", late_grace="soon", caps_sms_per_day="9", infusions="0"
    )
    response = admin.post(url, bad)
    assert response.status_code == 400
    page = response.content.decode()
    for field, error in (
        ("send_window_start", "send window 07:00-20:00 must lie within 08:00-21:00"),
        ("late_grace", "must be a duration like 2h"),
        ("caps_sms_per_day", "caps sms per day must be a whole number from 1 to 7"),
        ("infusions", "must be a whole number from 1 to 20"),
    ):
        assert re.search(rf'id="id_{field}_error".*{error}', page), field
    assert 'value="07:00"' in page  # what was typed is kept
    narrower = admin.post(url, settings_post(draft, send_window_end="17:00"))
    assert "would make step 3 (reminder-1) wrong: &#x27;at&#x27; 17:00 is outside" in (
        narrower.content.decode()
    )
    draft.refresh_from_db()
    assert draft.revision == 1 and draft.spec["send_window"]["end"] == "20:00"
    changed = settings_post(
        draft, title="Six infusions", send_window_start="10:00", caps_email_per_day="2"
    )
    assert admin.post(url, changed).status_code == 302
    draft.refresh_from_db()
    assert draft.spec["title"] == "Six infusions" and draft.spec["send_window"]["start"] == "10:00"
    assert draft.spec["caps"]["email_per_day"] == "2"
    page = text(admin.get(f"/schedules/{NAME}/draft"))
    assert "Six infusions · 6 infusions · messages from 10:00 until 20:00" in page
    assert "1 text a day, 3 in 7 days, 2 email a day" in page


def test_a_new_message_is_checked_part_by_part_then_added_to_the_draft(
    admin: Client, staff: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    url = f"/schedules/{NAME}/draft/messages/new"
    assert staff.get(url).status_code == 403
    assert "Add a message" in text(admin.get(f"/schedules/{NAME}/draft"))
    bad = {
        "key": "welcome",
        "email_subject": "Drink water",
        "email_body": "Hi {{ first_name }}\n\n<b>water</b>",
        "sms_text": "Hi {{ nickname }}",
        "revision": draft.revision,
    }
    response = admin.post(url, bad)
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'id="id_key_error".*already has a message welcome', page)
    bad["key"] = "hydration-tips"
    page = admin.post(url, bad).content.decode()
    assert re.search(r'id="id_email_body_error".*raw HTML is not allowed.*\(line 3\)', page)
    assert re.search(r'id="id_sms_text_error".*nickname', page)
    draft.refresh_from_db()
    assert "hydration-tips" not in draft.messages and draft.revision == 1
    good = bad | {"email_body": "Hi {{ first_name }}, drink water.", "sms_text": "Drink water."}
    response = admin.post(url, good)
    assert response["Location"] == f"/schedules/{NAME}/draft/messages/hydration-tips"
    draft.refresh_from_db()
    assert draft.messages["hydration-tips"]["sms_text"] == "Drink water."
    assert "Message hydration-tips added to the draft" in text(admin.get(response["Location"]))


def test_a_step_written_high_or_true_in_capitals_keeps_its_meaning_when_edited(
    admin: Client, shipped: ScheduleVersion
) -> None:
    draft = open_draft(admin)
    spec = {**draft.spec, "steps": [dict(s) for s in draft.spec["steps"]]}
    spec["steps"][2] |= {"priority": "High", "essential": "True"}  # the parser accepts both
    ScheduleDraft.objects.filter(pk=draft.pk).update(spec=spec)
    page = admin.get(f"/schedules/{NAME}/draft/steps/2").content.decode()
    assert re.search(r'<option value="high" selected>', page)
    assert re.search(r'<input type="checkbox" name="essential"[^>]*checked', page)


def test_a_real_patient_without_a_series_or_past_all_infusions_is_still_previewed(
    admin: Client, series: Enrollment
) -> None:
    open_draft(admin)
    url = f"/schedules/{NAME}/draft/messages/welcome/preview"
    typed = {"sms_text": "Hi {{ first_name }} ({{ infusion_number }})", "email_body": "Hi"}
    robin = Patient.objects.create(
        first_name="Robin", last_name="Chen", time_zone="America/Chicago"
    )
    page = text(admin.post(url, typed | {"sample": f"patient-{robin.pk}"}))
    assert "Shown for Robin Chen, a real patient (no infusion booked)" in page
    assert "Hi Robin ()" in page
    series.infusions.update(starts_at=timezone.now() - timedelta(days=30))
    page = text(admin.post(url, typed | {"sample": f"patient-{series.patient_id}"}))
    assert "(Infusion 6," in page and "Hi Alex (6)" in page


def test_the_sample_series_follows_the_clinic_settings_zone_and_window(
    staff: Client, shipped: ScheduleVersion, new_york: None
) -> None:
    facts = current_clinic() | {"time_zone": "America/Chicago", "window_start": "10:30"}
    save_clinic(facts, on_version=0, actor="test", now=timezone.now())
    page = text(staff.get(f"/schedules/{NAME}"))
    assert "Mon Jan 11, 10:00 AM CST · Infusion 1" in page
    assert "Thu Jan 7, 11:00 AM CST · Email · welcome" in page
    assert (
        "Tue Jan 12, 10:30 AM CST · Email · a-tool-not-a-magic-wand" in page
    )  # 10:00 is too early


def test_a_move_whose_start_the_broker_missed_waits_and_the_tick_carries_it_out(
    admin: Client, series: Enrollment, django_capture_on_commit_callbacks
) -> None:
    """The broker is down at publish: the page still answers (the version is published), the
    move waits, and the dispatcher's tick resumes it once it has been still for a while."""
    draft = open_draft(admin)
    admin.post(f"/schedules/{NAME}/draft/steps/1", step_post(draft, 1, offset="-3d"))
    previous, app.conf.task_always_eager = app.conf.broker_url, False
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(
                f"/schedules/{NAME}/draft/publish",
                {"note": "a day earlier", "who_moves": "everyone", "revision": 2},
            )
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous, True
    move = VersionMove.objects.get()
    assert response.status_code == 302 and move.status == VersionMove.Status.PENDING
    series.refresh_from_db()
    assert series.schedule_version.version == 1
    started = cast(datetime, move.started_at)
    assert publish.stalled_moves(started + timedelta(minutes=1)) == []  # not still for long
    dispatch_due((started + publish.STALLED_AFTER + timedelta(seconds=1)).isoformat())
    move.refresh_from_db()
    series.refresh_from_db()
    assert (move.status, move.moved, series.schedule_version.version) == ("done", 1, 2)
    page = text(admin.get(f"/schedules/{NAME}/moves/{move.pk}"))
    assert "Done: 1 of 1 patient moved to version 2" in page


def test_a_stalled_move_is_resumed_once_however_many_ticks_ask(
    series: Enrollment, shipped: ScheduleVersion
) -> None:
    now = timezone.now()
    draft = drafts.start(NAME, actor="ada", now=now)
    spec = drafts.without_step(draft.spec, 5)
    draft = drafts.save(draft, revision=draft.revision, actor="ada", now=now, spec=spec)
    _, move = publish.publish_draft(
        draft, revision=draft.revision, note="", who_moves=publish.EVERYONE, actor="ada", now=now
    )
    assert move is not None
    later = now + publish.STALLED_AFTER + timedelta(seconds=1)
    assert publish.stalled_moves(later) == [move.pk]
    assert publish.stalled_moves(later) == []  # the second dispatcher finds it claimed
    publish.move_all(move.pk, now=later)
    assert publish.stalled_moves(later + 2 * publish.STALLED_AFTER) == []  # done: never again
