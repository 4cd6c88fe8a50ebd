"""Test sends from the message editor: through the live channels to the local SMTP and
Twilio-speaking servers, marked as a test, audited, never a Delivery row; admins only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drip.catalog import versions as catalog
from drip.channels import reset_channels
from drip.models import AuditEvent, Delivery, ScheduleDraft
from tests.staff.conftest import make_staff
from tests.staff.test_pages import text
from tests.support.smtp_server import SmtpServer
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.django_db
NAME = "ketamine-six-infusion"
URL = f"/schedules/{NAME}/draft/messages/welcome/test-send"


@pytest.fixture
def live(settings: Any, smtp_server: SmtpServer, twilio_server: FakeTwilio) -> Iterator[None]:
    """build_channels() speaks to the local SMTP and Twilio-speaking servers."""
    settings.DRIP_CHANNELS = "live"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.DRIP_SMTP_TLS = "off"
    settings.TWILIO_ACCOUNT_SID = twilio_server.account_sid
    settings.TWILIO_AUTH_TOKEN = twilio_server.auth_token
    settings.TWILIO_FROM_NUMBER, settings.TWILIO_MESSAGING_SERVICE_SID = "+15005550006", ""
    settings.TWILIO_API_BASE_URL = twilio_server.base_url
    reset_channels()
    yield
    reset_channels()


@pytest.fixture
def admin(db: None) -> Client:
    client = Client()
    user = make_staff("ada", groups=("admin",))
    user.email = "ada@clinic.test"
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def draft(admin: Client) -> ScheduleDraft:
    catalog.publish_from_disk(actor="cli")
    admin.post(f"/schedules/{NAME}/draft/start")
    return ScheduleDraft.objects.get()


def test_a_test_email_arrives_marked_as_a_test_and_is_no_delivery(
    admin: Client, draft: ScheduleDraft, live: None, smtp_server: SmtpServer
) -> None:
    page = admin.get(f"/schedules/{NAME}/draft/messages/welcome").content.decode()
    assert "Send yourself a test" in page and 'value="ada@clinic.test"' in page  # prefilled
    response = admin.post(URL, {"channel": "email", "to": "ada@clinic.test"}, follow=True)
    assert "Test email of welcome sent to ada@clinic.test" in text(response)
    [mail] = smtp_server.received
    assert mail.rcpt_tos == ["ada@clinic.test"]
    assert mail.subject.startswith("[Test] ")
    assert "Al" in mail.parts["text/plain"]  # rendered for the sample patient
    assert "List-Unsubscribe" not in mail.message
    assert not Delivery.objects.exists()
    event = AuditEvent.objects.get(event="test_sent")
    assert event.actor == "ada" and event.detail == {
        "schedule": NAME, "message": "welcome", "channel": "email"
    }  # fmt: skip


def test_a_test_text_arrives_at_the_twilio_server_prefixed_test(
    admin: Client, draft: ScheduleDraft, live: None, twilio_server: FakeTwilio
) -> None:
    response = admin.post(URL, {"channel": "sms", "to": "(312) 555-0142"}, follow=True)
    assert "Test text of welcome sent to +13125550142" in text(response)
    [sms] = twilio_server.received
    assert sms.form["To"] == "+13125550142" and sms.form["Body"].startswith("Test: ")
    assert "StatusCallback" not in sms.form  # no delivery row to report on
    assert not Delivery.objects.exists()
    assert AuditEvent.objects.filter(event="test_sent").count() == 1


def test_a_refused_test_says_so_and_is_audited(
    admin: Client, draft: ScheduleDraft, live: None, twilio_server: FakeTwilio
) -> None:
    twilio_server.fail_next(1, status=400, code=21211)
    response = admin.post(URL, {"channel": "sms", "to": "(312) 555-0142"}, follow=True)
    assert "Test text of welcome not sent: the provider said 21211" in text(response)
    assert AuditEvent.objects.get(event="test_send_failed").detail["code"] == "21211"


def test_a_wrong_address_is_refused_and_nothing_is_sent(
    admin: Client, draft: ScheduleDraft, live: None, smtp_server: SmtpServer
) -> None:
    response = admin.post(URL, {"channel": "email", "to": "not-an-address"}, follow=True)
    assert "Test not sent: Enter an email address" in text(response)
    response = admin.post(URL, {"channel": "sms", "to": "12"}, follow=True)
    assert "Test not sent: Enter a mobile number" in text(response)
    assert smtp_server.received == [] and not AuditEvent.objects.filter(event="test_sent").exists()


def test_staff_get_403_anonymous_go_to_sign_in_and_csrf_is_needed(
    admin: Client, draft: ScheduleDraft, staff: Client
) -> None:
    data = {"channel": "email", "to": "sam@clinic.test"}
    assert staff.post(URL, data).status_code == 403
    anonymous = Client().post(URL, data)
    assert anonymous.status_code == 302 and "/sign-in" in anonymous["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="ada"))
    assert strict.post(URL, data).status_code == 403
    assert not AuditEvent.objects.filter(event__startswith="test_send").exists()
