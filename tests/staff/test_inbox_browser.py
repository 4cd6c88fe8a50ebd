"""The inbox flow in a real browser (Debian's Chromium) against a live server, a real Celery
worker on Redis and the local Twilio-speaking server: a signed crisis webhook raises the red
band, staff open the alert and acknowledge it, the band goes; a plain question shows in the
inbox, staff answer it, the answer reaches Twilio and the patient's timeline."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from drip.celery import app
from drip.models import StaffReply
from tests.staff.test_browser import (  # noqa: F401  (fixtures)
    browser_context_args,
    browser_type_launch_args,
    shoot,
    signed_in,
)
from tests.support.engine import live_engine
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db(transaction=True)
PATIENT = "+12125550123"  # Alex Rivera
ANSWER = "Hi Alex, please have someone drive you home after each infusion. - Sam"


def post_webhook(base: str, token: str, body: str, sid: str) -> str:
    """POST an inbound SMS signed as Twilio signs it (the public URL and every field)."""
    params = {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": PATIENT,
              "To": "+15005550006", "Body": body, "NumMedia": "0"}  # fmt: skip
    url = base + "/webhooks/twilio/inbound"
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(params).encode(),
        headers={"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def wait_for(check: Any, what: str, timeout_s: float = 20.0) -> Any:
    """Poll a real worker's outcome (bounded)."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.05)
    return found


@pytest.fixture
def inbound_settings(settings: Any, live_server: Any) -> Any:
    settings.DRIP_PUBLIC_BASE_URL = live_server.url
    settings.TWILIO_AUTH_TOKEN = "browser-test-token"
    settings.DRIP_ONCALL_PHONES, settings.DRIP_ONCALL_EMAILS = ["+15555550100"], []
    settings.DRIP_TWILIO_ANSWERS_KEYWORDS = False
    settings.DRIP_STAFF_REPLY_HOURS = (0, 24)  # the live server reads the real clock
    return settings


@pytest.fixture
def no_broker() -> Any:
    """No broker listens: the alert waits in its notice rows (the band does not need it)."""
    previous = app.conf.broker_url
    app._pool, app.amqp._producer_pool = None, None
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    yield
    app._pool, app.amqp._producer_pool = None, None
    app.conf.broker_url = previous


@pytest.fixture
def engine(
    inbound_settings: Any, postgres_only: None, redis_url: str, twilio_server: Any, smtp_server: Any
) -> Any:
    """A real worker (PostgreSQL only: SQLite's shared in-memory tables lock across threads)."""
    with live_engine(inbound_settings, redis_url, twilio_server, smtp_server):
        yield twilio_server


def test_the_crisis_band_shows_until_a_staff_member_acknowledges(
    signed_in: Any,  # noqa: F811  (the fixture imported above)
    live_server: Any,
    inbound_settings: Any,
    no_broker: None,
) -> None:
    page = signed_in
    enroll_patient(timezone.now(), publish=False)
    token = inbound_settings.TWILIO_AUTH_TOKEN
    assert "988" in post_webhook(live_server.url, token, "I want to die", "SM" + "1" * 32)

    page.goto(live_server.url + "/")
    band = page.locator(".crisis-band")
    assert "Urgent: a patient may be at risk" in band.inner_text()
    assert "Alex R." in band.inner_text()
    assert "crisis alert not acknowledged" in page.locator(".needs-you").inner_text()
    shoot(page, "crisis-band-today")
    band.get_by_role("link", name="Open").click()
    page.get_by_role("heading", name="Crisis alert").wait_for()
    assert "I want to die" in page.locator("blockquote.in").inner_text()
    assert "Text +1 555-555-0100" in " ".join(page.locator("table").inner_text().split())
    shoot(page, "alert")
    page.get_by_role("button", name="Acknowledge: I am taking care of this").click()
    assert "acknowledged by you" in page.locator(".notice").inner_text()
    assert page.locator(".crisis-band").count() == 0
    page.get_by_role("link", name="Today", exact=True).click()
    assert page.locator(".crisis-band").count() == 0
    page.goto(live_server.url + "/patients")
    assert page.locator(".crisis-band").count() == 0


def test_staff_answer_a_question_by_text_and_it_reaches_twilio_and_the_timeline(
    signed_in: Any,  # noqa: F811  (the fixture imported above)
    live_server: Any,
    engine: Any,
    settings: Any,
) -> None:
    page, twilio = signed_in, engine
    patient = enroll_patient(timezone.now(), publish=False).patient
    post_webhook(live_server.url, settings.TWILIO_AUTH_TOKEN, "Can I drive after?", "SM" + "2" * 32)
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    row = page.locator("ul.inbox li", has_text="Can I drive after?")
    assert row.locator("strong", has_text="Alex Rivera").count() == 1  # unread: in bold
    shoot(page, "inbox")
    row.get_by_role("link").click()
    page.get_by_label("Reply by text").fill(ANSWER)
    page.locator("#reply-count", has_text="1 text · standard characters").wait_for()
    page.get_by_role("button", name="Send reply").click()
    assert "Reply saved" in page.locator(".notice").inner_text()
    sent = wait_for(
        lambda: [
            r for r in twilio.received if r.form["To"] == PATIENT and r.form["Body"] == ANSWER
        ],
        "the reply at Twilio",
    )
    assert len(sent) == 1
    wait_for(lambda: StaffReply.objects.filter(status="sent").exists(), "the reply recorded sent")
    page.reload()
    shoot(page, "inbox-conversation")
    assert "Reply from sam" in page.locator("ol.thread").inner_text()

    page.goto(f"{live_server.url}/patients/{patient.pk}")
    timeline = page.locator("ol.timeline").inner_text()
    assert "Reply from sam" in timeline and "Sent" in timeline
    assert "Can I drive after?" in timeline
    shoot(page, "timeline-conversation")
