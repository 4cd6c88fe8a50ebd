"""The staff pages in a real browser (Debian's Chromium, never a downloaded one), on a live server.

Sign in with a code computed here, enroll a patient and see the timeline, submit the empty form
and see the errors, move infusion 2 with its preview. Screenshots go to artifacts/ (ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import UNDER_CI
from tests.staff.conftest import PASSWORD, add_code_device, current_code, make_staff
from tests.support.factories import TEST_SCHEDULE, publish_test_schedule

# The test series plus a reminder the evening before infusion 2, so moving it moves a message.
SCHEDULE = TEST_SCHEDULE + (
    '  - {key: see-you-tomorrow, anchor: infusion 2, offset: -1d, at: "18:00", '
    "channels: [email, sms], message: visit}\n"
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = pytest.mark.django_db(transaction=True)

if not CHROMIUM.exists():
    if UNDER_CI:
        raise RuntimeError(
            "/usr/bin/chromium is missing (CI installs it: apt-get install chromium)"
        )
    pytest.skip(
        "Debian's Chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    # Playwright's sync API keeps an event loop in this thread from the first browser test to
    # the end of the session, and Django then refuses ORM calls from it; the calls are the
    # tests' own (the live server answers in its own thread), so allow them from here on.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {
        "executable_path": str(CHROMIUM),
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"],
    }  # fmt: skip


@pytest.fixture(scope="session")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1024, "height": 800}}  # a tablet held landscape


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"staff-{name}.png"), full_page=True)


@pytest.fixture
def signed_in(page: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    """Sam signs in with password and the six-digit code from the authenticator app."""
    settings.DRIP_REQUIRE_2FA = True
    publish_test_schedule(SCHEDULE)
    device = add_code_device(make_staff())
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Six-digit code").fill(current_code(device))
    shoot(page, "sign-in-code")
    page.get_by_role("button", name="Check code and continue").click()
    page.get_by_role("heading", name="Today").wait_for()
    yield page


def local(days: int, hour: int = 10) -> str:
    day = timezone.now().astimezone(timezone.get_fixed_timezone(-360)) + timedelta(days=days)
    return f"{day:%Y-%m-%d}T{hour:02d}:00"


def enroll_robin(page: Any, live_server: Any) -> None:
    page.goto(live_server.url + "/enroll")
    page.get_by_label("First name", exact=True).fill("Robin")
    page.get_by_label("Last name", exact=True).fill("Chen")
    page.get_by_label("Phone", exact=True).fill("(312) 555-0188")
    page.get_by_label("Email", exact=True).fill("robin@example.com")
    page.get_by_label("Time zone").fill("America/Chicago")
    page.locator("#id_sms_consent").check()
    page.locator("#id_email_consent").check()
    page.get_by_label("Infusion 1").fill(local(8))
    page.get_by_label("Infusion 2 (if booked)").fill(local(10))
    page.get_by_label("Infusion 3 (if booked)").fill(local(12))
    shoot(page, "enroll")
    page.get_by_role("button", name="Enroll and plan messages").click()
    # The patient page after the redirect: a test that reloads or changes rows before it has
    # arrived races the form's own navigation.
    page.get_by_role("heading", name="Robin Chen").wait_for()


def test_sign_in_enroll_and_see_the_planned_timeline(signed_in: Any, live_server: Any) -> None:
    page = signed_in
    enroll_robin(page, live_server)
    page.get_by_role("heading", name="Robin Chen").wait_for()
    assert re.search(r"Enrolled\. \d+ messages planned", page.content())
    timeline = page.locator("ol.timeline").inner_text()
    assert "Infusion 2" in timeline and "CST" in timeline and "Now" in timeline
    shoot(page, "patient")


def test_the_empty_form_shows_its_errors_with_focus_on_the_summary(
    signed_in: Any, live_server: Any
) -> None:
    page = signed_in
    page.goto(live_server.url + "/enroll")
    page.get_by_role("button", name="Enroll and plan messages").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "First name is required" in summary.inner_text()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    assert page.get_by_label("First name", exact=True).get_attribute("aria-invalid") == "true"
    shoot(page, "enroll-errors")
    summary.get_by_role("link", name=re.compile("First name")).click()
    assert page.evaluate("document.activeElement.id") in ("id_first_name", "")


def test_move_infusion_2_with_a_preview_then_confirm(signed_in: Any, live_server: Any) -> None:
    page = signed_in
    enroll_robin(page, live_server)
    page.get_by_role("link", name="Move infusion 2").click()
    page.get_by_label("New date and time").fill(local(11, hour=14))
    page.get_by_role("button", name="Preview changes").click()
    page.get_by_role("heading", name="What will change").wait_for()
    preview = page.locator("table.changes").inner_text()
    moved = r"See you tomorrow\s+{}\s+\w{{3}} \w{{3}} \d+, 6:00 PM CST\s+\w{{3}} \w{{3}} \d+, 6:00 PM CST"
    assert re.search(moved.format("Text"), preview) and re.search(moved.format("Email"), preview)
    shoot(page, "move-preview")
    page.get_by_role("button", name="Move infusion 2").click()
    notice = page.locator(".notice").inner_text()
    assert re.search(r"Infusion 2 moved to \w{3} \w{3} \d+, 2:00 PM CST", notice)
    assert "Done:" in notice


def test_mark_infusion_1_done_and_record_an_opt_out(signed_in: Any, live_server: Any) -> None:
    page = signed_in
    enroll_robin(page, live_server)
    # Robin's first infusion began an hour ago: now it can be marked done.
    from drip.models import Infusion

    Infusion.objects.filter(number=1).update(starts_at=timezone.now() - timedelta(hours=1))
    page.reload()
    page.get_by_role("link", name="Mark done").first.click()
    page.get_by_role("button", name="Mark infusion 1 done").click()
    assert "Infusion 1 marked done" in page.locator(".notice").inner_text()
    page.get_by_role("link", name="Record opt-out or opt-in").click()
    page.get_by_label("Texts").check()
    page.get_by_label("Stop these messages (opt out)").check()
    page.get_by_label("Reason, in the patient's words").fill("Prefers email")
    page.get_by_role("button", name="Record the patient's request").click()
    assert "Texts: stopped" in page.locator(".consent").inner_text()
    assert (
        "Skipped: the patient opted out of this channel" in page.locator("ol.timeline").inner_text()
    )
    page.get_by_role("link", name="Today").click()
    assert "Robin Chen: texts stopped" in page.locator(".needs-you").inner_text()
    shoot(page, "today")


def test_search_as_you_type(signed_in: Any, live_server: Any) -> None:
    page = signed_in
    enroll_robin(page, live_server)
    page.goto(live_server.url + "/patients")
    page.get_by_label("Search by name, phone or email").fill("zzz")
    page.get_by_text("No patients match").wait_for()
    page.get_by_label("Search by name, phone or email").fill("robin")
    page.locator("#results").get_by_role("link", name="Robin Chen").wait_for()
    shoot(page, "patients")
