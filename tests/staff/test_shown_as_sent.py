"""What staff are shown of a real patient's message is what the sender sent them: a message
that went out shows the copy the sender kept (the words the patient got, whatever changed
since); before it goes out, the message page and the editor's real-patient preview fill in the
same name, infusion, zone, series size, unsubscribe link and clinic facts
(drip.delivery.context), so they cannot drift apart; and a message sent before drip kept copies
says so when what it is rendered from changed after it was sent."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from drip.catalog import clinic
from drip.core.rendering import format_when
from drip.delivery.dispatch import claim_due
from drip.delivery.sender import send_deliveries
from drip.enrollment import service
from drip.enrollment.service import set_series_size
from drip.models import Delivery, Enrollment
from drip.staff.words import local_time
from tests.staff.conftest import make_staff
from tests.support.factories import enroll_patient, mwf_infusions, publish_test_schedule

pytestmark = pytest.mark.django_db
NAME = "ketamine-six-infusion"
CHICAGO = ZoneInfo("America/Chicago")
# One message on enrollment (about infusion 1) and one the day before infusion 2.
SCHEDULE = f"""\
name: {NAME}
title: Test series
infusions: 6
send_window: {{start: "09:00", end: "20:00"}}
late_grace: 2h
steps:
  - {{key: welcome, anchor: enrollment, offset: 0m, channels: [email, sms], message: note}}
  - {{key: day-before-2, anchor: infusion 2, offset: -1d, at: "12:00", channels: [email, sms], message: note}}
"""
NOTE = {
    "email_subject": "{{ first_name }}: infusion {{ infusion_number }} of {{ series_size }}",
    "email_body": "See you {{ infusion_date }} at {{ infusion_time }}, {{ clinic_address }}.\n\n"
    "Questions? Call {{ clinic_phone }}. Stop these emails: {{ unsubscribe_url }}\n",
    "sms_text": "{{ clinic_name }}: {{ first_name }}, infusion {{ infusion_number }} of "
    "{{ series_size }} is {{ infusion_when }}.",
    "sources": [],
    "email_body_first_line": 5,
}


@pytest.fixture
def series(clock: datetime) -> Enrollment:
    """Alex (Chicago), a series of 8 on a 6-infusion schedule, enrolled tomorrow at noon (in the
    send window), infusions Mon/Wed/Fri 10:00 from a week later; the clinic's own settings."""
    facts = clinic.current() | {"clinic_name": "Lakeside Infusion Center"}
    facts |= {"clinic_sms_name": "Lakeside", "clinic_phone": "(312) 555-0100"}
    clinic.save(facts | {"clinic_address": "1 Lake St"}, on_version=0, actor="test", now=clock)
    publish_test_schedule(SCHEDULE, {"note": NOTE})
    noon = (clock.astimezone(CHICAGO) + timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    first = (noon + timedelta(days=7)).replace(tzinfo=None, hour=10)
    enrolled = enroll_patient(
        noon, mwf_infusions(first), publish=False, time_zone="America/Chicago"
    )
    set_series_size(enrolled, 8, now=noon, actor="test")
    return enrolled


def send_due(at: datetime, twilio_sms, smtp_email) -> None:  # type: ignore[no-untyped-def]
    ids = claim_due(at, limit=100)
    send_deliveries(ids, now=at, sms=twilio_sms, email=smtp_email, concurrency=4)


def shown(page: str, pattern: str) -> str:
    """The text of the part of ``page`` that ``pattern`` captures, as a person reads it."""
    found = re.search(pattern, page, re.DOTALL)
    assert found, f"not on the page: {pattern}"
    return html.unescape(found.group(1).replace("<br>", "\n"))


def test_the_message_page_shows_exactly_what_the_patient_was_sent(
    staff: Client, series: Enrollment, twilio_sms, smtp_email, twilio_server, smtp_server
) -> None:
    welcome = series.deliveries.get(step_key="welcome", channel="sms")
    send_due(welcome.due_at, twilio_sms, smtp_email)
    day_before = series.deliveries.get(step_key="day-before-2", channel="sms")
    send_due(day_before.due_at, twilio_sms, smtp_email)

    texts = {got.delivery_id: got.form["Body"] for got in twilio_server.received}
    second = series.infusions.get(number=2).starts_at.astimezone(CHICAGO)
    assert texts[day_before.pk] == f"Lakeside: Alex, infusion 2 of 8 is {format_when(second)}."
    for pk, sent in texts.items():
        page = staff.get(f"/patients/{series.patient_id}/messages/{pk}").content.decode()
        assert shown(page, r'<div class="sms"><p>(.*?)</p></div>') == sent

    emails = {got.message_id: got.message for got in smtp_server.received}
    assert len(emails) == 2
    for row in series.deliveries.filter(channel="email"):
        sent = emails[row.provider_id]
        assert row.status == Delivery.Status.SENT
        page = staff.get(f"/patients/{series.patient_id}/messages/{row.pk}").content.decode()
        assert shown(page, r"<strong>Subject:</strong> (.*?)</p>") == sent["Subject"]
        plain = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        assert shown(page, r'<pre class="plain">(.*?)</pre>') == plain
        assert str(sent["List-Unsubscribe"]).strip(" <>") in plain  # the patient's own link


def test_the_editors_preview_for_the_patient_shows_the_text_they_were_sent(
    series: Enrollment, twilio_sms, smtp_email, twilio_server, smtp_server
) -> None:
    """The welcome is about infusion 1, the next one: the preview shows what was sent."""
    admin = Client()
    admin.force_login(make_staff("ada", groups=("admin",)))
    welcome = series.deliveries.get(step_key="welcome", channel="sms")
    send_due(welcome.due_at, twilio_sms, smtp_email)
    (sms,), (mail,) = twilio_server.received, smtp_server.received

    admin.post(f"/schedules/{NAME}/draft/start")
    typed = {p: NOTE[p] for p in ("email_subject", "email_body", "sms_text")}
    preview = admin.post(
        f"/schedules/{NAME}/draft/messages/note/preview",
        typed | {"sample": f"patient-{series.patient_id}"},
    ).content.decode()
    assert "Shown for Alex Rivera, a real patient (Infusion 1," in html.unescape(preview)
    assert shown(preview, r'<div class="sms"><p>(.*?)</p></div>') == sms.form["Body"]
    assert shown(preview, r"<strong>Subject:</strong> (.*?)</p>") == mail.message["Subject"]
    # The one difference, on purpose: a preview never hands out a working unsubscribe link.
    assert "/u/sample" in shown(preview, r'<pre class="plain">(.*?)</pre>')
    assert timezone.now() < series.infusions.get(number=1).starts_at


# --- A message that went out with its kept copy -----------------------------------------------


def change_everything(enrolled: Enrollment, at: datetime) -> None:
    """Infusion 2 an hour later, a new version with other words, another clinic phone."""
    starts = enrolled.infusions.get(number=2).starts_at.astimezone(CHICAGO).replace(tzinfo=None)
    service.move_infusion(enrolled, 2, starts + timedelta(hours=1), now=at, actor="test")
    other = {"email_subject": "New subject", "email_body": "New body.\n", "sms_text": "New words."}
    version = publish_test_schedule(SCHEDULE, {"note": NOTE | other})
    Enrollment.objects.filter(pk=enrolled.pk).update(schedule_version=version, version_moved_at=at)
    facts = clinic.current() | {"clinic_phone": "(212) 555-0199"}
    clinic.save(facts, on_version=clinic.newest().version, actor="test", now=at)  # type: ignore[union-attr]


def test_a_sent_text_shows_the_words_the_patient_got_after_everything_changed(
    staff: Client, series: Enrollment, twilio_sms, smtp_email, twilio_server
) -> None:
    row = series.deliveries.get(step_key="day-before-2", channel="sms")
    send_due(row.due_at, twilio_sms, smtp_email)
    (got,) = [r for r in twilio_server.received if r.delivery_id == row.pk]
    change_everything(series, row.due_at + timedelta(minutes=5))

    page = staff.get(f"/patients/{series.patient_id}/messages/{row.pk}").content.decode()
    assert shown(page, r'<div class="sms"><p>(.*?)</p></div>') == got.form["Body"]
    second = series.infusions.get(number=2).starts_at  # moved: today's copy would say so
    assert format_when(second.astimezone(CHICAGO)) not in got.form["Body"]
    assert "As sent: the exact text drip handed over" in words_on(page.encode())
    assert "Shown with today's details" not in page and "New words" not in page


def test_a_sent_email_shows_its_subject_and_plain_text_as_the_server_got_them(
    staff: Client, series: Enrollment, twilio_sms, smtp_email, smtp_server
) -> None:
    row = series.deliveries.get(step_key="day-before-2", channel="email")
    send_due(row.due_at, twilio_sms, smtp_email)
    row.refresh_from_db()
    (got,) = [r.message for r in smtp_server.received if r.message_id == row.provider_id]
    change_everything(series, row.due_at + timedelta(minutes=5))

    page = staff.get(f"/patients/{series.patient_id}/messages/{row.pk}").content.decode()
    assert shown(page, r"<strong>Subject:</strong> (.*?)</p>") == got["Subject"]
    plain = got.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert shown(page, r'<pre class="plain">(.*?)</pre>') == plain
    assert "(312) 555-0100" in plain and "(212) 555-0199" not in page  # the phone it went with
    said = words_on(page.encode())
    assert "the HTML version (the same message, formatted) is not kept" in said
    assert "<iframe" not in page and "Shown with today's details" not in page


def test_a_message_sent_before_copies_were_kept_still_says_what_changed(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    """A row from before (sent, its copy empty) falls back to today's details and the notice."""
    sent = clock + timedelta(hours=1)
    row = sent_welcome(enrolled, sent)
    assert Delivery.objects.get(pk=row.pk).sent_text == ""
    save_clinic_settings(enrolled, sent + timedelta(minutes=5))
    page = message_page(staff, row)
    assert f"the clinic's settings changed, {LATER}" in page and "As sent" not in page
    assert "Sample Infusion Clinic: hi Alex" in page


# --- A message that went out without a kept copy, shown with today's details ------------------
# Rows sent before drip kept the sent text (and rows staff marked sent) have no copy: the page
# renders with today's schedule version, infusion times and clinic settings, and says so when
# one of them changed after the message went out.

NY = ZoneInfo("America/New_York")
LATER = "so the patient's copy may have said something different."


def words_on(page: bytes) -> str:
    """The page as a person reads it (tags dropped, spaces squeezed)."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page.decode()).split()))


def sent_welcome(enrolled: Enrollment, at: datetime) -> Delivery:
    """The welcome text (about infusion 1), sent at ``at``."""
    row = enrolled.deliveries.get(step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.SENT, sent_at=at)
    return row


def move_to_version_2(enrolled: Enrollment, at: datetime) -> None:
    """As a publish that moves patients does (drip.catalog.publish)."""
    version = publish_test_schedule()
    Enrollment.objects.filter(pk=enrolled.pk).update(schedule_version=version, version_moved_at=at)


def move_infusion(enrolled: Enrollment, number: int, at: datetime) -> None:
    starts = enrolled.infusions.get(number=number).starts_at.astimezone(NY).replace(tzinfo=None)
    service.move_infusion(enrolled, number, starts + timedelta(hours=1), now=at, actor="test")


def save_clinic_settings(enrolled: Enrollment, at: datetime) -> None:
    facts = clinic.current() | {"clinic_phone": "(212) 555-0199"}
    clinic.save(facts, on_version=0, actor="test", now=at)


CHANGES = {
    "the series moved to version 2 of the schedule": move_to_version_2,
    "infusion 1 was moved": lambda enrolled, at: move_infusion(enrolled, 1, at),
    "the clinic's settings changed": save_clinic_settings,
}


def message_page(staff: Client, row: Delivery) -> str:
    return words_on(staff.get(f"/patients/{row.enrollment.patient_id}/messages/{row.pk}").content)


def test_a_sent_message_has_no_notice_when_nothing_changed_since(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    row = sent_welcome(enrolled, clock + timedelta(hours=1))
    page = message_page(staff, row)
    assert "Sample Infusion Clinic: hi Alex" in page
    assert "Shown with today's details" not in page


def test_a_sent_message_says_what_changed_after_it_was_sent(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    sent = clock + timedelta(hours=1)
    row = sent_welcome(enrolled, sent)
    for change in CHANGES.values():
        change(enrolled, sent + timedelta(minutes=5))
    when = local_time(sent, "America/New_York")
    assert re.fullmatch(r"\w{3} \w{3} \d+, \d+:\d\d [AP]M E[SD]T", when)  # the zone named
    assert (
        f"Shown with today's details. Since this was sent on {when}, the series moved to "
        "version 2 of the schedule, infusion 1 was moved and the clinic's settings changed, "
        f"{LATER}"
    ) in message_page(staff, row)


@pytest.mark.parametrize("cause", CHANGES)
def test_each_change_after_the_send_is_named_alone(
    staff: Client, enrolled: Enrollment, clock: datetime, cause: str
) -> None:
    sent = clock + timedelta(hours=1)
    row = sent_welcome(enrolled, sent)
    CHANGES[cause](enrolled, sent + timedelta(seconds=1))
    when = local_time(sent, "America/New_York")
    assert f"Since this was sent on {when}, {cause}, {LATER}" in message_page(staff, row)


@pytest.mark.parametrize("cause", CHANGES)
def test_a_change_before_the_send_gets_no_notice(
    staff: Client, enrolled: Enrollment, clock: datetime, cause: str
) -> None:
    sent = clock + timedelta(hours=1)
    CHANGES[cause](enrolled, sent - timedelta(seconds=1))
    row = sent_welcome(enrolled, sent)
    assert "Shown with today's details" not in message_page(staff, row)


def test_a_message_still_going_out_falls_back_to_its_due_time(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    """'sending' has no sent_at yet: its due time stands for the send."""
    row = enrolled.deliveries.get(step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.SENDING)
    save_clinic_settings(enrolled, row.due_at + timedelta(seconds=1))
    when = local_time(row.due_at, "America/New_York")
    page = message_page(staff, row)
    assert f"Since this was sent on {when}, the clinic's settings changed, {LATER}" in page


def test_moving_another_infusion_gets_no_notice(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    """The welcome is about infusion 1: infusion 2's time is not in it."""
    sent = clock + timedelta(hours=1)
    row = sent_welcome(enrolled, sent)
    move_infusion(enrolled, 2, sent + timedelta(minutes=5))
    assert "Shown with today's details" not in message_page(staff, row)


def test_a_pending_message_gets_no_notice(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    """It will be rendered when it is sent, with the details then: what the page shows."""
    row = enrolled.deliveries.get(step_key="what-to-expect", channel="sms")
    for change in CHANGES.values():
        change(enrolled, clock + timedelta(minutes=5))
    row.refresh_from_db()
    assert row.status == Delivery.Status.SCHEDULED
    assert "Shown with today's details" not in message_page(staff, row)


def test_the_message_page_asks_two_more_queries_for_a_sent_message(
    staff: Client, enrolled: Enrollment, clock: datetime, django_assert_max_num_queries
) -> None:
    """However many changes there were: the infusion's changes and the clinic's, one each."""
    # 14: sign-in 5, the delivery, its infusions, the schedule version (once per process), the
    # clinic, the band and the inbox count, the session save 3.
    pending = enrolled.deliveries.get(step_key="welcome", channel="email")
    with django_assert_max_num_queries(14):
        message_page(staff, pending)
    sent = clock + timedelta(hours=1)
    row = sent_welcome(enrolled, sent)
    for minutes in range(1, 4):
        move_infusion(enrolled, 1, sent + timedelta(minutes=minutes))
    with django_assert_max_num_queries(15):  # 13 (the version cached) + 2
        assert "infusion 1 was moved" in message_page(staff, row)
