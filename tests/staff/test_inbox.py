"""The inbox and crisis alert pages: who may see them, the red band until someone acknowledges,
answering by text (never after STOP), assigning, Mark handled, the timeline, bounded queries."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import count

import pytest
from django.contrib.auth.models import User
from django.test import Client

from drip.enrollment.service import record_opt_out
from drip.inbound.service import receive_sms
from drip.models import Alert, AuditEvent, Enrollment, InboundMessage, StaffReply
from tests.staff.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.django_db
PHONE = "+12125550123"  # Alex Rivera, the enrolled fixture's patient
STRANGER = "+13105550999"
_sids = count(1)


@pytest.fixture(autouse=True)
def inbox_settings(settings):
    settings.DRIP_ONCALL_EMAILS = ["oncall@clinic.test"]
    settings.DRIP_ONCALL_PHONES = []
    settings.DRIP_TWILIO_ANSWERS_KEYWORDS = False
    settings.DRIP_STAFF_REPLY_HOURS = (0, 24)  # the pages read the real clock: never night here


def text(response) -> str:  # type: ignore[no-untyped-def]
    """The page as words (tags dropped, spaces squeezed), for asserting what a person reads."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def sms_in(body: str, when: datetime, phone: str = PHONE) -> InboundMessage:
    """A text arriving through the real inbound service (as the webhook calls it)."""
    sid = f"SM{next(_sids):032d}"
    return receive_sms(message_sid=sid, from_phone=phone, body=body, now=when).inbound


BAND = "Urgent: a patient may be at risk"


# --- who may see --------------------------------------------------------------------------

PAGES = ["/inbox", "/inbox/1", "/alerts", "/alerts/1"]
ACTIONS = ["/inbox/1/reply", "/inbox/1/handle", "/inbox/1/assign", "/alerts/1/acknowledge"]


@pytest.mark.parametrize("url", PAGES + ACTIONS)
def test_anonymous_people_are_sent_to_sign_in(client: Client, url: str) -> None:
    response = client.post(url) if url in ACTIONS else client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("url", PAGES)
def test_a_person_outside_the_staff_groups_is_refused(client: Client, url: str) -> None:
    client.force_login(User.objects.create_user("visitor", "", PASSWORD))
    assert client.get(url).status_code == 403


def test_the_band_is_not_shown_to_someone_who_has_not_finished_signing_in(
    client: Client, enrolled: Enrollment, clock: datetime, settings
) -> None:
    settings.DRIP_REQUIRE_2FA = True
    sms_in("I want to die", clock)
    client.force_login(make_staff("kim"))  # password checked, code not yet set up
    page = client.get("/sign-in/code/set-up")
    assert page.status_code == 200 and BAND not in text(page) and "Alex" not in text(page)


def test_acknowledge_without_the_csrf_token_is_refused(
    staff_user: User, enrolled: Enrollment, clock: datetime
) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    assert browser.post(f"/alerts/{alert.pk}/acknowledge").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_acknowledge_is_post_only(staff: Client, enrolled: Enrollment, clock: datetime) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    assert staff.get(f"/alerts/{alert.pk}/acknowledge").status_code == 405


# --- the crisis band and the alert page ---------------------------------------------------


def test_a_crisis_reply_shows_the_band_on_every_page_until_acknowledged(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    pid = enrolled.patient_id
    for url in ("/", "/patients", f"/patients/{pid}", "/inbox", "/enroll"):
        page = text(staff.get(url))
        assert f"{BAND} Alex R., 0 minutes ago. Open" in page, url
    response = staff.post(f"/alerts/{alert.pk}/acknowledge", follow=True)
    assert f"Alert #{alert.pk} acknowledged by you" in text(response)
    for url in ("/", "/patients", f"/patients/{pid}"):
        assert BAND not in text(staff.get(url)), url
    alert.refresh_from_db()
    assert alert.acknowledged_by == "sam" and alert.acknowledged_at is not None
    audit = AuditEvent.objects.get(event="alert_acknowledged")
    assert audit.actor == "sam" and audit.patient_id == pid and audit.detail["alert_id"] == alert.pk


def test_a_second_acknowledge_keeps_the_first_person(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    staff.post(f"/alerts/{alert.pk}/acknowledge")
    other = Client()
    other.force_login(make_staff("kim"))
    page = text(other.post(f"/alerts/{alert.pk}/acknowledge", follow=True))
    assert "Already acknowledged: Acknowledged by sam" in page
    assert AuditEvent.objects.filter(event="alert_acknowledged").count() == 1


def test_the_alert_page_shows_who_what_when_and_who_was_told(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die tonight", clock))
    response = staff.get(f"/alerts/{alert.pk}")
    page = text(response)
    assert f'href="/patients/{enrolled.patient_id}"' in response.content.decode()
    assert "Alex Rivera · (212) 555-0123" in page and "I want to die tonight" in page
    assert "988" in page  # what drip answered at once
    assert "Email oncall@clinic.test Pending" in page
    assert "⚠ Not acknowledged yet" in page
    assert "Acknowledge: I am taking care of this" in page


def test_the_address_in_the_on_call_notices_opens_the_alert(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    from drip.inbound.alerts import sms_text

    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    path = re.search(r"https?://[^/]+(/\S+)", sms_text(alert)).group(1)  # type: ignore[union-attr]
    response = staff.get(path, follow=True)
    assert response.redirect_chain[-1][0] == f"/alerts/{alert.pk}"
    assert f"Crisis alert #{alert.pk}" in text(response)


def test_an_alert_from_an_unknown_number_says_so(staff: Client, db: None, clock: datetime) -> None:
    alert = Alert.objects.get(inbound=sms_in("i want to end it all", clock, phone=STRANGER))
    assert "Unknown number, 0 minutes ago" in text(staff.get("/"))
    page = text(staff.get(f"/alerts/{alert.pk}"))
    assert "Unknown number · (310) 555-0999 (not on file)" in page


def test_the_alerts_list_puts_open_alerts_first(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    old = Alert.objects.get(inbound=sms_in("I want to die", clock - timedelta(hours=2)))
    staff.post(f"/alerts/{old.pk}/acknowledge")
    new = Alert.objects.get(inbound=sms_in("kill myself", clock - timedelta(hours=3)))
    page = text(staff.get("/alerts"))
    assert page.index(f"Open alert #{new.pk}") < page.index(f"Open alert #{old.pk}")
    assert "Acknowledged by sam" in page and "⚠ Not acknowledged yet" in page


# --- the inbox ----------------------------------------------------------------------------


def test_the_inbox_lists_replies_newest_first_and_unknown_senders_as_such(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    sms_in("What should I eat before?", clock - timedelta(hours=2))
    sms_in("Is parking free?", clock - timedelta(hours=1), phone=STRANGER)
    sms_in("STOP", clock - timedelta(minutes=30), phone=STRANGER)  # answered by drip
    page = text(staff.get("/inbox"))
    assert page.index("Unknown number Is parking free?") < page.index(
        "Alex Rivera What should I eat before?"
    )
    assert "Unknown number STOP" not in page
    assert "Inbox (2 unread )" in page  # the count, then words for screen readers


def test_crisis_replies_are_pinned_until_acknowledged(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    sms_in("What should I eat before?", clock)
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock - timedelta(hours=5)))
    page = text(staff.get("/inbox"))
    assert page.index("Crisis replies not yet acknowledged") < page.index("What should I eat")
    staff.post(f"/alerts/{alert.pk}/acknowledge")
    assert "Crisis replies not yet acknowledged" not in text(staff.get("/inbox"))


def test_staff_answer_by_text_and_it_is_recorded_on_the_timeline_and_in_the_audit(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    question = sms_in("What should I eat before?", clock)
    form = staff.get(f"/inbox/{question.pk}").content.decode()
    key = re.search(r'name="form_key" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    answer = {"body": "A light meal two hours before. - Sam", "form_key": key, "mark_handled": "on"}
    response = staff.post(f"/inbox/{question.pk}/reply", answer, follow=True)
    assert "Reply saved and handed to the text provider" in text(response)
    assert staff.post(f"/inbox/{question.pk}/reply", answer).status_code == 302  # double click
    reply = StaffReply.objects.get()
    assert (reply.to_phone, reply.body, reply.written_by) == (PHONE, answer["body"], "sam")
    question.refresh_from_db()
    assert question.status == "handled" and question.handled_by == "sam"
    timeline = text(staff.get(f"/patients/{enrolled.patient_id}"))
    assert "Text in Patient What should I eat before?" in timeline
    assert "Text out Reply from sam A light meal two hours before. - Sam" in timeline
    assert "Wrote a text reply" in timeline and "Marked a reply handled" in timeline


def test_a_reply_to_a_patient_who_opted_out_is_refused_with_the_reason(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    question = sms_in("What should I eat before?", clock)
    record_opt_out(enrolled.patient, "sms", now=clock, method="sms_keyword", actor="patient")
    page = text(staff.get(f"/inbox/{question.pk}"))
    assert "Cannot text: Alex Rivera opted out of texts on" in page and "Send reply" not in page
    answer = {"body": "Hello", "form_key": "k1", "mark_handled": "on"}
    response = staff.post(f"/inbox/{question.pk}/reply", answer)
    assert response.status_code == 400 and "opted out of texts" in text(response)
    assert StaffReply.objects.count() == 0


def test_an_unknown_number_is_not_texted(staff: Client, db: None, clock: datetime) -> None:
    question = sms_in("who is this?", clock, phone=STRANGER)
    assert "This number is not on file" in text(staff.get(f"/inbox/{question.pk}"))
    response = staff.post(f"/inbox/{question.pk}/reply", {"body": "Hi", "form_key": "k2"})
    assert response.status_code == 400 and StaffReply.objects.count() == 0


def test_an_empty_reply_is_refused_at_the_field(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    question = sms_in("What should I eat before?", clock)
    response = staff.post(f"/inbox/{question.pk}/reply", {"body": " ", "form_key": "k3"})
    page = response.content.decode()
    assert response.status_code == 400 and 'aria-invalid="true"' in page
    assert "There is a problem" in text(response) and "the box is empty" in text(response)


def test_assign_and_mark_handled_then_unread_again(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    make_staff("kim")
    question = sms_in("What should I eat before?", clock)
    staff.post(f"/inbox/{question.pk}/assign", {"assigned_to": "kim"})
    assert staff.post(f"/inbox/{question.pk}/assign", {"assigned_to": "mallory"}).status_code == 302
    question.refresh_from_db()
    assert question.assigned_to == "kim"
    assert "Unread, assigned to kim" in text(staff.get("/inbox"))
    staff.post(f"/inbox/{question.pk}/handle")
    question.refresh_from_db()
    assert (question.status, question.handled_by) == ("handled", "sam")
    assert "No replies are waiting for a person" in text(staff.get("/inbox"))
    assert "Handled by sam" in text(staff.get("/inbox?show=handled"))
    staff.post(f"/inbox/{question.pk}/handle", {"undo": "1"})
    question.refresh_from_db()
    assert question.status == "unread" and question.handled_by == ""


def test_today_links_the_alerts_and_the_inbox(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    sms_in("I want to die", clock)
    sms_in("What should I eat before?", clock)
    page = text(staff.get("/"))
    assert "⚠ 1 crisis alert not acknowledged. Open alerts" in page
    assert "2 replies waiting in the inbox. Open inbox" in page


def test_the_timeline_shows_the_crisis_alert_until_acknowledged(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    alert = Alert.objects.get(inbound=sms_in("I want to die", clock))
    timeline = text(staff.get(f"/patients/{enrolled.patient_id}"))
    assert "Alert Crisis alert to staff Not acknowledged yet" in timeline
    staff.post(f"/alerts/{alert.pk}/acknowledge")
    timeline = text(staff.get(f"/patients/{enrolled.patient_id}"))
    assert "Alert Crisis alert to staff Acknowledged by sam" in timeline
    assert "Acknowledged a crisis alert" in timeline  # the patient's audit


# --- bounded ------------------------------------------------------------------------------


def test_the_inbox_pages_by_25_with_queries_that_do_not_grow(
    staff: Client, enrolled: Enrollment, clock: datetime, django_assert_max_num_queries
) -> None:
    for n in range(30):
        sms_in(f"question {n}", clock - timedelta(minutes=n), phone=f"+1310555{n:04d}")
    Alert.objects.get(inbound=sms_in("I want to die", clock))
    with django_assert_max_num_queries(14):  # sign-in 6, band and count 2, pinned, page 2, clinic
        first = text(staff.get("/inbox"))
    assert "Page 1 of 2 · 31 replies" in first and "question 0" in first
    assert "question 29" in text(staff.get("/inbox?page=2"))
    with django_assert_max_num_queries(12):
        assert staff.get("/alerts").status_code == 200
    question = InboundMessage.objects.get(body="question 3")
    with django_assert_max_num_queries(14):
        assert staff.get(f"/inbox/{question.pk}").status_code == 200
