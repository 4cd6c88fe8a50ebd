"""The schedule editor in a real browser (Debian's Chromium): an admin changes a step's timing,
meets the error at the step, fixes it, previews, sees the impact, publishes, and the patient's
timeline has moved; an SMS typed past 160 characters shows its second text as it is typed.

The message page previews what is typed through htmx: the tests wait with ``expect`` for what a
user would see, never read the preview once and assert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import task_prerun
from django.utils import timezone
from playwright.sync_api import expect

from drip.catalog import versions as catalog
from drip.celery import _fresh_enough_connections, app
from drip.models import Enrollment
from tests.staff.conftest import PASSWORD, add_code_device, current_code, make_staff
from tests.staff.test_browser import (  # noqa: F401 (fixtures: the browser as tests/staff sets it up)
    browser_context_args,
    browser_type_launch_args,
    shoot,
)
from tests.support.factories import enroll_patient, mwf_infusions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_page(page: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    """Ada, a clinic admin, signed in with her code; the shipped schedule published; Alex in a
    series from next week; moves run in the request (a worker runs them in production)."""
    settings.DRIP_REQUIRE_2FA = True
    app.conf.task_always_eager = True
    task_prerun.disconnect(_fresh_enough_connections)  # it would close the test's connection
    catalog.publish_from_disk(actor="cli")
    now = timezone.now()
    first = (now + timedelta(days=7)).astimezone(timezone.get_fixed_timezone(-300))
    enroll_patient(
        now,
        mwf_infusions(first.replace(tzinfo=None, hour=10, minute=0, second=0, microsecond=0)),
        publish=False,
    )
    device = add_code_device(make_staff("ada", groups=("admin",)))
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Six-digit code").fill(current_code(device))
    page.get_by_role("button", name="Check code and continue").click()
    page.get_by_role("heading", name="Today").wait_for()
    yield page
    task_prerun.connect(_fresh_enough_connections)
    app.conf.task_always_eager = False


def open_message(page: Any, key: str) -> None:
    """Open a message from the draft's page and wait until the page has loaded: htmx starts
    listening at DOMContentLoaded, and a key typed or a box checked before then posts no
    preview (the count would stay at what the page was served with)."""
    page.get_by_role("link", name=key, exact=True).first.click()
    page.wait_for_url(f"**/draft/messages/{key}")


def test_an_admin_fixes_an_offset_previews_sees_the_impact_and_publishes(
    admin_page: Any, live_server: Any
) -> None:
    page = admin_page
    enrollment = Enrollment.objects.get()
    before = enrollment.deliveries.get(step_key="what-to-expect").due_at
    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="IV ketamine, six-infusion series").click()
    shoot(page, "editor-schedule")
    page.get_by_role("button", name="Edit in a draft").click()
    page.get_by_role("link", name="Edit step what-to-expect").click()
    page.get_by_label("Offset").fill("-3x")
    page.get_by_role("button", name="Save step in the draft").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "malformed offset '-3x'" in summary.inner_text()
    assert "malformed offset '-3x'" in page.locator("#id_offset_error").inner_text()
    shoot(page, "editor-step-error")
    page.get_by_label("Offset").fill("-3d")
    page.get_by_role("button", name="Save step in the draft").click()
    assert "Step what-to-expect saved in the draft" in page.locator(".notice").inner_text()
    open_message(page, "what-to-expect")
    page.get_by_label("Long name (Maximiliana-Alexandra)").check()
    expect(page.locator("#preview .sms")).to_contain_text("Hi Maximiliana-Alexandra")
    expect(page.locator("#checks")).to_contain_text("Passes every check")
    shoot(page, "editor-message")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("link", name="Review changes and publish").click()
    assert page.locator("#impact-series").inner_text() == "1"
    assert page.locator("#impact-moved").inner_text() == "1"
    assert "Every re-timed message moves 1 day earlier" in page.content()
    page.get_by_label("Note for the history").fill("What to expect: a day earlier")
    shoot(page, "editor-publish")
    page.get_by_role("button", name="Publish version 2").click()
    page.get_by_text("Done: 1 of 1 patient moved to version 2").wait_for()
    shoot(page, "editor-moved")
    page.get_by_role("link", name="History of ketamine-six-infusion").click()
    history = page.locator("table.history").inner_text()
    assert re.search(r"Version 2\s+published\s+ada", history)
    assert "What to expect: a day earlier" in history
    shoot(page, "editor-history")
    after = enrollment.deliveries.get(step_key="what-to-expect").due_at
    assert after - before == timedelta(days=-1)
    page.goto(f"{live_server.url}/patients/{enrollment.patient_id}")
    timeline = page.locator("ol.timeline").inner_text()
    local = after.astimezone(timezone.get_fixed_timezone(-300))
    assert re.search(rf"{local:%a %b} {local.day}, 6:00 PM EST\s+Email\s+What to expect", timeline)


def test_an_sms_typed_past_160_characters_shows_two_texts_as_it_is_typed(
    admin_page: Any, live_server: Any
) -> None:
    page = admin_page
    page.goto(live_server.url + "/schedules/ketamine-six-infusion")
    page.get_by_role("button", name="Edit in a draft").click()
    open_message(page, "infusion-reminder")
    count = page.locator("#sms-count")
    expect(count).to_contain_text("1 text ·")
    typed = " Please bring your medication list and a friend to drive." * 2
    box = page.get_by_label("Text message")
    box.press("Control+End")
    box.press_sequentially(typed)
    # The preview of all of it (one of part of it may already say 2 texts), then its count as
    # htmx settles it: the new count first wears the old one's class, "ok", so CSS can animate.
    expect(page.locator("#preview .sms")).to_contain_text(typed.strip())
    expect(count).to_contain_text("2 texts")
    expect(count).to_contain_text("over one text")
    expect(count).to_contain_class("over")
    shoot(page, "editor-sms-two-texts")


def test_the_sample_series_picture_switches_to_tue_thu_in_place(
    admin_page: Any, live_server: Any, settings: Any
) -> None:
    settings.DRIP_CLINIC_TIME_ZONE = "America/New_York"
    page = admin_page
    page.goto(live_server.url + "/schedules/ketamine-six-infusion")
    figure = page.locator("figure#sample-series")
    assert "6 infusions on Mon/Wed/Fri" in figure.locator("figcaption").inner_text()
    assert figure.locator("svg g.infusion").count() == 6
    shoot(page, "editor-timeline-mwf")
    page.get_by_role("link", name="Tue/Thu").click()
    figure.locator("figcaption").get_by_text("6 infusions on Tue/Thu").wait_for()
    assert page.url.endswith("?days=tt")
    figure.get_by_text("Every mark in words").click()
    assert "Thu Jan 28, 10:00 AM EST · Infusion 6" in figure.locator("ol.marks").inner_text()
    shoot(page, "editor-timeline-tt")


def test_an_admin_previews_a_message_for_a_real_patient_picked_by_name(
    admin_page: Any, live_server: Any
) -> None:
    page = admin_page
    page.goto(live_server.url + "/schedules/ketamine-six-infusion")
    page.get_by_role("button", name="Edit in a draft").click()
    open_message(page, "infusion-reminder")
    page.get_by_label("Or a real patient, by name").fill("Rivera")
    page.get_by_label("Alex Rivera").check()
    note = page.locator("#preview-for")
    expect(note).to_contain_text("Shown for Alex Rivera, a real patient (Infusion 1,")
    expect(page.locator("#preview .sms")).to_contain_text("Alex")
    shoot(page, "editor-message-real-patient")
    page.get_by_label("Text message").press("End")
    page.get_by_label("Text message").press_sequentially(" See you soon.")
    expect(page.locator("#preview .sms")).to_contain_text("See you soon.")
    expect(note).to_contain_text("Shown for Alex Rivera")  # typing keeps the patient


def test_an_admin_changes_the_send_window_and_adds_a_message(
    admin_page: Any, live_server: Any
) -> None:
    page = admin_page
    page.goto(live_server.url + "/schedules/ketamine-six-infusion")
    page.get_by_role("button", name="Edit in a draft").click()
    shoot(page, "editor-draft")
    page.get_by_role("link", name="Change schedule settings").click()
    page.get_by_label("Send messages from").fill("07:30")
    page.get_by_role("button", name="Save settings in the draft").click()
    summary = page.locator(".error-summary")
    assert "must lie within 08:00-21:00" in summary.inner_text()
    assert "must lie within" in page.locator("#id_send_window_start_error").inner_text()
    shoot(page, "editor-settings-error")
    page.get_by_label("Send messages from").fill("08:30")
    page.get_by_role("button", name="Save settings in the draft").click()
    assert "Schedule settings saved in the draft" in page.locator(".notice").inner_text()
    assert "messages from 08:30 until 20:00" in page.locator("#schedule-settings").inner_text()
    page.get_by_role("link", name="Add a message").click()
    page.get_by_label("Message key").fill("hydration-tips")
    page.get_by_label("Email subject").fill("Drink water before your infusion")
    page.get_by_label("Email body (Markdown)").fill("Hi {{ first_name }},\n\nDrink water.")
    page.get_by_label("Text message").fill("{{ clinic_sms_name }}: drink water before you come in.")
    shoot(page, "editor-new-message")
    page.get_by_role("button", name="Add the message to the draft").click()
    assert "Message hydration-tips added" in page.locator(".notice").inner_text()
    page.locator("#preview .sms").get_by_text("drink water before you come in").wait_for()
