"""Twilio status callbacks: signed ones record, forged ones get 403, status never moves backwards."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from drip.channels.sms import _unreadable
from drip.models import ConsentRecord, Delivery, Patient
from drip.webhooks.twilio import UNREADABLE_RESPONSE
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db
S = Delivery.Status
BASE = "https://drip.clinic.test"
TOKEN = "webhook-test-token"
SID = "SM" + "a" * 32


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.DRIP_PUBLIC_BASE_URL = BASE


def post(delivery_id, token=TOKEN, signed_id=None, tamper=None, base=BASE, **fields):
    """POST a status callback signed the way Twilio signs it: the public URL plus every field."""
    params = {
        "MessageSid": SID,
        "SmsSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "To": "+12125550123",
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
        **fields,
    }
    params.setdefault("SmsStatus", params.get("MessageStatus", ""))
    path = f"/webhooks/twilio/status?delivery={delivery_id}"
    signed_path = f"/webhooks/twilio/status?delivery={signed_id or delivery_id}"
    signature = RequestValidator(token).compute_signature(base + signed_path, params)
    return Client().post(path, {**params, **(tamper or {})}, HTTP_X_TWILIO_SIGNATURE=signature)


def sent_sms(now, status=S.SENT, **fields):
    """The patient's welcome SMS in ``status``; a 'sent' one carries the sid Twilio gave it."""
    e = enroll_patient(now)
    row = e.deliveries.get(step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=row.pk).update(
        status=status, provider_id=SID if status == S.SENT else "", **fields
    )
    return Delivery.objects.get(pk=row.pk)


def snapshot(row):
    return {f.name: getattr(Delivery.objects.get(pk=row.pk), f.name) for f in Delivery._meta.fields}


def test_a_signed_delivered_callback_marks_the_row_delivered(now):
    row = sent_sms(now)
    assert post(row.pk, MessageStatus="delivered").status_code == 204
    row.refresh_from_db()
    assert row.status == S.DELIVERED and row.delivered_at is not None


@pytest.mark.parametrize(
    "forgery",
    [
        dict(token="wrong-token"),
        dict(tamper={"MessageStatus": "failed"}),
        dict(signed_id=999999),
        dict(tamper={"ErrorCode": "21610"}),
        dict(base="http://testserver"),  # Django's idea of the host, not the public URL Twilio used
    ],
)
def test_a_forged_callback_gets_403_and_changes_nothing(now, forgery):
    row = sent_sms(now)
    before = snapshot(row)
    assert post(row.pk, MessageStatus="delivered", **forgery).status_code == 403
    assert snapshot(row) == before


def test_a_callback_without_a_signature_gets_403(now):
    row = sent_sms(now)
    before = snapshot(row)
    response = Client().post(
        f"/webhooks/twilio/status?delivery={row.pk}", {"MessageStatus": "delivered"}
    )
    assert response.status_code == 403 and snapshot(row) == before


def test_a_late_or_repeated_callback_never_moves_status_backwards(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="delivered")
    delivered = snapshot(row)
    post(row.pk, MessageStatus="sent")
    post(row.pk, MessageStatus="delivered")
    post(row.pk, MessageStatus="undelivered", ErrorCode="30003")
    assert (
        snapshot(row)["status"] == S.DELIVERED
        and snapshot(row)["delivered_at"] == delivered["delivered_at"]
    )


def test_undelivered_records_the_carrier_error_code(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="undelivered", ErrorCode="30003")
    row.refresh_from_db()
    assert (row.status, row.error_code) == (S.UNDELIVERED, "30003")


def test_a_callback_settles_a_row_left_sending_by_a_dead_worker(now):
    row = sent_sms(now, status=S.SENDING)
    post(row.pk, MessageStatus="delivered")
    row.refresh_from_db()
    assert (row.status, row.provider_id) == (S.DELIVERED, SID) and row.sent_at is not None


def test_a_sent_callback_settles_a_sending_row_as_sent(now):
    row = sent_sms(now, status=S.SENDING)
    post(row.pk, MessageStatus="sent")
    row.refresh_from_db()
    assert (row.status, row.provider_id, row.delivered_at) == (
        S.SENT,
        SID,
        None,
    ) and row.sent_at is not None


@pytest.mark.parametrize("twilio_status", ["queued", "accepted", "sending"])
def test_a_callback_before_twilio_sends_changes_nothing(now, twilio_status):
    row = sent_sms(now, status=S.SENDING)
    before = snapshot(row)
    assert post(row.pk, MessageStatus=twilio_status).status_code == 204
    assert snapshot(row) == before


def test_a_callback_settles_a_send_whose_answer_had_no_readable_sid(now):
    assert _unreadable(1).code == UNREADABLE_RESPONSE  # the SMS channel's code for that case
    row = sent_sms(now, status=S.FAILED, error_code=UNREADABLE_RESPONSE, error_text="no sid")
    post(row.pk, MessageStatus="delivered")
    row.refresh_from_db()
    assert (row.status, row.provider_id, row.error_code, row.error_text) == (
        S.DELIVERED,
        SID,
        "",
        "",
    )


def test_a_failure_the_provider_reported_stays_failed(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="failed", ErrorCode="30008")
    failed = snapshot(row)
    post(row.pk, MessageStatus="delivered")
    assert failed["status"] == S.FAILED and snapshot(row) == failed


def test_a_callback_for_another_message_sid_changes_nothing(now):
    row = sent_sms(now)
    before = snapshot(row)
    post(row.pk, MessageStatus="failed", MessageSid="SM" + "b" * 32)
    assert snapshot(row) == before


def test_21610_in_a_callback_opts_the_patient_out_of_sms(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    patient = Patient.objects.get(enrollments__deliveries__pk=row.pk)
    assert patient.sms_opted_out_at is not None and patient.email_opted_out_at is None
    consent = ConsentRecord.objects.get(patient=patient, granted=False)
    assert (consent.channel, consent.method, consent.recorded_by) == ("sms", "provider", "twilio")
    others = Delivery.objects.filter(enrollment__patient=patient, channel="sms").exclude(pk=row.pk)
    assert set(others.values_list("status", "skip_reason")) == {(S.SKIPPED, "opted_out")}
    emails = Delivery.objects.filter(enrollment__patient=patient, channel="email")
    assert "opted_out" not in set(emails.values_list("skip_reason", flat=True))


def test_a_repeated_21610_callback_records_one_opt_out(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    assert ConsentRecord.objects.filter(channel="sms", granted=False).count() == 1


def test_callback_logs_carry_ids_but_no_phone_number(now, caplog):
    row = sent_sms(now)
    with caplog.at_level(logging.DEBUG, logger="drip"):
        post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    assert f"delivery_id={row.pk}" in caplog.text
    assert "2125550123" not in caplog.text and "Alex" not in caplog.text


def test_a_get_is_not_allowed(now):
    row = sent_sms(now)
    assert Client().get(f"/webhooks/twilio/status?delivery={row.pk}").status_code == 405


def test_an_unknown_delivery_gets_200_class_and_nothing_changes(now):
    row = sent_sms(now)
    before = snapshot(row)
    assert post(999999, MessageStatus="delivered").status_code == 204
    assert snapshot(row) == before


def test_a_21610_callback_that_cannot_record_the_opt_out_changes_nothing_so_twilio_retries(
    now, monkeypatch
):
    row = sent_sms(now)
    before = snapshot(row)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("drip.webhooks.twilio.record_opt_out", broken)
    with pytest.raises(RuntimeError):
        post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    assert snapshot(row) == before


@pytest.mark.parametrize(
    "delivery_id", ["²", "٣", "1²", "-1", "0", "99999999999999999999", "x", ""]
)
def test_a_signed_callback_with_a_delivery_id_that_is_not_ascii_digits_gets_400(now, delivery_id):
    row = sent_sms(now)
    before = snapshot(row)
    path, params, headers = signed_request(delivery_id, MessageStatus="delivered")
    response = Client(raise_request_exception=False).post(path, params, **headers)
    assert response.status_code == 400
    assert snapshot(row) == before


def test_without_a_twilio_auth_token_every_callback_is_refused(now, settings):
    """An empty token is public: anyone can sign with it (a patient was opted out that way)."""
    settings.TWILIO_AUTH_TOKEN = ""
    row = sent_sms(now)
    before = snapshot(row)
    assert post(row.pk, token="", MessageStatus="undelivered", ErrorCode="21610").status_code == 403
    assert snapshot(row) == before


def signed_request(delivery_id: str, **fields: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """A path and fields signed by Twilio's algorithm, for ids ``post`` cannot format."""
    from urllib.parse import quote

    path = f"/webhooks/twilio/status?delivery={quote(delivery_id)}"
    params = {"MessageSid": SID, **fields}
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return path, params, {"HTTP_X_TWILIO_SIGNATURE": signature}
