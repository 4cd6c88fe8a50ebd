"""Inbound SMS webhook: signed or 403, replays change nothing, the reply is the response's TwiML."""

from __future__ import annotations

import time
from xml.etree import ElementTree

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from drip.celery import app
from drip.models import Alert, AlertNotice, Delivery, InboundMessage, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db
BASE = "https://drip.clinic.test"
TOKEN = "webhook-test-token"
PATIENT_PHONE = "+12125550123"  # the factories' patient
STRANGER = "+13105550999"


@pytest.fixture(autouse=True)
def inbound_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.DRIP_PUBLIC_BASE_URL = BASE
    settings.DRIP_ONCALL_EMAILS = ["oncall@clinic.test"]
    settings.DRIP_ONCALL_PHONES = ["+15555550100"]
    settings.DRIP_TWILIO_ANSWERS_KEYWORDS = False


@pytest.fixture(autouse=True)
def broker_down():
    """No broker listens here: the reply must not depend on it, and alerts must wait safely."""
    previous = app.conf.broker_url
    _forget_connections()
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    yield
    _forget_connections()
    app.conf.broker_url = previous


def _forget_connections():
    # Celery caches its connection and producer pools for the broker URL it first used.
    app._pool = None
    app.amqp._producer_pool = None


def post(body, sid="SM" + "1" * 32, from_=PATIENT_PHONE, token=TOKEN, base=BASE, tamper=None):
    """POST an inbound message signed the way Twilio signs it: the public URL plus every field."""
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": from_,
        "To": "+15005550006",
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    path = "/webhooks/twilio/inbound"
    signature = RequestValidator(token).compute_signature(base + path, params)
    return Client().post(path, {**params, **(tamper or {})}, HTTP_X_TWILIO_SIGNATURE=signature)


def replies(response) -> list[str]:
    """The texts in the TwiML response (what Twilio sends back to the patient)."""
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "Response"
    return [m.text or "" for m in root.iter("Message")]


def test_a_question_is_stored_for_the_patient_and_answered_with_the_auto_reply(now):
    enrollment = enroll_patient(now)
    texts = replies(post("What should I eat before my infusion?"))
    stored = InboundMessage.objects.get()
    assert stored.patient_id == enrollment.patient_id and stored.kind == "other"
    assert stored.status == "unread" and stored.body.startswith("What should I eat")
    assert len(texts) == 1 and "not watched around the clock" in texts[0] and "988" in texts[0]
    assert stored.reply_body == texts[0] and stored.reply_reason == "auto_reply"


def test_the_auto_reply_goes_at_most_once_a_day_per_sender(now):
    enroll_patient(now)
    assert len(replies(post("first question", sid="SM" + "1" * 32))) == 1
    assert replies(post("second question", sid="SM" + "2" * 32)) == []
    assert InboundMessage.objects.filter(status="unread").count() == 2


def test_an_unknown_number_is_stored_without_a_patient(now):
    replies(post("who is this?", from_=STRANGER))
    stored = InboundMessage.objects.get()
    assert stored.patient is None and stored.from_phone == STRANGER


@pytest.mark.parametrize(
    "forgery",
    [
        dict(token="wrong-token"),
        dict(tamper={"Body": "STOP"}),
        dict(tamper={"From": STRANGER}),
        dict(base="http://testserver"),  # Django's idea of the host, not the public URL
    ],
)
def test_a_forged_webhook_gets_403_and_changes_nothing(now, forgery):
    enrollment = enroll_patient(now)
    before = list(Delivery.objects.values_list("pk", "status"))
    assert post("I want to die", **forgery).status_code == 403
    assert not InboundMessage.objects.exists() and not Alert.objects.exists()
    assert list(Delivery.objects.values_list("pk", "status")) == before
    assert Patient.objects.get(pk=enrollment.patient_id).sms_opted_out_at is None


def test_an_unsigned_webhook_gets_403():
    response = Client().post("/webhooks/twilio/inbound", {"MessageSid": "SM1", "Body": "hi"})
    assert response.status_code == 403 and not InboundMessage.objects.exists()


def test_a_replayed_webhook_gets_200_and_no_second_reply_or_alert(now):
    enroll_patient(now)
    assert len(replies(post("I want to die"))) == 1
    assert replies(post("I want to die")) == []
    assert InboundMessage.objects.count() == 1 and Alert.objects.count() == 1
    assert AlertNotice.objects.count() == 2  # one email, one SMS: not doubled


def test_stop_opts_the_patient_out_skips_every_pending_sms_and_confirms_once(now):
    enrollment = enroll_patient(now)
    texts = replies(post("Stop texting me"))
    patient = Patient.objects.get(pk=enrollment.patient_id)
    assert patient.sms_opted_out_at is not None
    sms = enrollment.deliveries.filter(channel="sms")
    assert sms.exists() and all(d.skip_reason == "opted_out" for d in sms)
    assert enrollment.deliveries.filter(channel="email", status="scheduled").exists()
    assert len(texts) == 1 and "unsubscribed" in texts[0] and "START" in texts[0]
    consent = patient.consents.filter(channel="sms").latest("pk")
    assert not consent.granted and consent.method == "sms_keyword"
    assert replies(post("STOP", sid="SM" + "2" * 32)) == []  # already out: no second text


def test_stop_stays_silent_when_twilio_advanced_opt_out_answers(now, settings):
    settings.DRIP_TWILIO_ANSWERS_KEYWORDS = True
    enrollment = enroll_patient(now)
    assert replies(post("STOP")) == []
    assert Patient.objects.get(pk=enrollment.patient_id).sms_opted_out_at is not None


def test_help_is_answered_once_with_clinic_frequency_rates_and_how_to_stop(now, settings):
    enroll_patient(now)
    texts = replies(post("help"))
    assert len(texts) == 1
    for must in (
        settings.DRIP_CLINIC["clinic_name"],
        settings.DRIP_CLINIC["clinic_phone"],
        settings.DRIP_SMS_FREQUENCY,
        "Msg & data rates may apply",
        "STOP",
    ):
        assert must in texts[0]
    assert InboundMessage.objects.get().status == "handled"
    assert replies(post("help")) == []  # the same message again: a replay, no second answer


def test_a_crisis_reply_is_answered_at_once_with_988_911_and_the_clinic_while_the_broker_is_down(
    now, settings
):
    enrollment = enroll_patient(now)
    started = time.monotonic()
    texts = replies(post("i really want to die"))
    assert time.monotonic() - started < 3  # the broker's absence does not hold the answer
    assert len(texts) == 1
    assert (
        "988" in texts[0] and "911" in texts[0] and settings.DRIP_CLINIC["clinic_phone"] in texts[0]
    )
    alert = Alert.objects.get()
    assert alert.patient_id == enrollment.patient_id and alert.acknowledged_at is None
    assert sorted(alert.notices.values_list("channel", "status")) == [
        ("email", "pending"),
        ("sms", "pending"),
    ]
    assert InboundMessage.objects.get().status == "unread"


@pytest.mark.parametrize("who", ["opted_out", "unknown"])
def test_a_crisis_reply_raises_an_alert_for_opted_out_patients_and_unknown_numbers(now, who):
    enroll_patient(now)
    if who == "opted_out":
        replies(post("STOP", sid="SM" + "9" * 32))
    texts = replies(
        post("I want to kill myself", from_=STRANGER if who == "unknown" else PATIENT_PHONE)
    )
    assert len(texts) == 1 and "988" in texts[0]
    assert Alert.objects.count() == 1


def test_stop_with_crisis_words_gets_the_crisis_reply_the_alert_and_the_opt_out(now):
    enrollment = enroll_patient(now)
    texts = replies(post("STOP I want to die"))
    assert len(texts) == 1 and "988" in texts[0] and "no more reminder texts" in texts[0]
    assert Alert.objects.count() == 1
    assert Patient.objects.get(pk=enrollment.patient_id).sms_opted_out_at is not None


def test_a_false_alarm_gets_neither_a_crisis_reply_nor_an_alert(now):
    enroll_patient(now)
    texts = replies(post("Killing it at work this week, feeling great!"))
    assert not Alert.objects.exists()
    assert all("988" not in t or "not watched" in t for t in texts)  # only the auto-reply
    assert InboundMessage.objects.get().kind == "other"


def test_no_body_or_phone_reaches_the_logs(now, caplog):
    enroll_patient(now)
    with caplog.at_level("DEBUG", logger="drip"):
        replies(post("I want to die, my number is +12125550123"))
    assert "want to die" not in caplog.text and PATIENT_PHONE not in caplog.text
    assert "inbound.received" in caplog.text
