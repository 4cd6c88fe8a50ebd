"""Twilio status callbacks: signed ones record, forged ones get 403, status never moves backwards."""

from __future__ import annotations

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from drip.models import Delivery, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db
S = Delivery.Status
BASE = "https://drip.clinic.test"
TOKEN = "webhook-test-token"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.DRIP_PUBLIC_BASE_URL = BASE


def post(delivery_id, token=TOKEN, signed_id=None, tamper=None, **fields):
    params = {"MessageSid": "SM" + "a" * 32, "AccountSid": "AC" + "0" * 32, **fields}
    path = f"/webhooks/twilio/status?delivery={delivery_id}"
    signed_path = f"/webhooks/twilio/status?delivery={signed_id or delivery_id}"
    signature = RequestValidator(token).compute_signature(BASE + signed_path, params)
    return Client().post(path, {**params, **(tamper or {})}, HTTP_X_TWILIO_SIGNATURE=signature)


def sent_sms(now, status=S.SENT):
    e = enroll_patient(now)
    row = e.deliveries.get(step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=row.pk).update(status=status, provider_id="SM" + "a" * 32 if status == S.SENT else "")
    return Delivery.objects.get(pk=row.pk)


def snapshot(row):
    return {f.name: getattr(Delivery.objects.get(pk=row.pk), f.name) for f in Delivery._meta.fields}


def test_a_signed_delivered_callback_marks_the_row_delivered(now):
    row = sent_sms(now)
    assert post(row.pk, MessageStatus="delivered").status_code == 204
    row.refresh_from_db()
    assert row.status == S.DELIVERED and row.delivered_at is not None


@pytest.mark.parametrize("forgery", [
    dict(token="wrong-token"),
    dict(tamper={"MessageStatus": "failed"}),
    dict(signed_id=999999),
])
def test_a_forged_callback_gets_403_and_changes_nothing(now, forgery):
    row = sent_sms(now)
    before = snapshot(row)
    assert post(row.pk, MessageStatus="delivered", **forgery).status_code == 403
    assert snapshot(row) == before


def test_a_callback_without_a_signature_gets_403(now):
    row = sent_sms(now)
    before = snapshot(row)
    response = Client().post(f"/webhooks/twilio/status?delivery={row.pk}", {"MessageStatus": "delivered"})
    assert response.status_code == 403 and snapshot(row) == before


def test_a_late_or_repeated_callback_never_moves_status_backwards(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="delivered")
    delivered = snapshot(row)
    post(row.pk, MessageStatus="sent")
    post(row.pk, MessageStatus="delivered")
    post(row.pk, MessageStatus="undelivered", ErrorCode="30003")
    assert snapshot(row)["status"] == S.DELIVERED and snapshot(row)["delivered_at"] == delivered["delivered_at"]


def test_undelivered_records_the_carrier_error_code(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="undelivered", ErrorCode="30003")
    row.refresh_from_db()
    assert (row.status, row.error_code) == (S.UNDELIVERED, "30003")


def test_a_callback_settles_a_row_left_sending_by_a_dead_worker(now):
    row = sent_sms(now, status=S.SENDING)
    post(row.pk, MessageStatus="delivered")
    row.refresh_from_db()
    assert (row.status, row.provider_id) == (S.DELIVERED, "SM" + "a" * 32) and row.sent_at is not None


def test_a_callback_for_another_message_sid_changes_nothing(now):
    row = sent_sms(now)
    before = snapshot(row)
    post(row.pk, MessageStatus="failed", MessageSid="SM" + "b" * 32)
    assert snapshot(row) == before


def test_21610_in_a_callback_opts_the_patient_out_of_sms(now):
    row = sent_sms(now)
    post(row.pk, MessageStatus="undelivered", ErrorCode="21610")
    patient = Patient.objects.get(enrollments__deliveries__pk=row.pk)
    assert patient.sms_opted_out_at is not None
    others = Delivery.objects.filter(enrollment__patient=patient, channel="sms").exclude(pk=row.pk)
    assert set(others.values_list("skip_reason", flat=True)) == {"opted_out"}


def test_an_unknown_delivery_gets_200_class_and_nothing_changes(now):
    row = sent_sms(now)
    before = snapshot(row)
    assert post(999999, MessageStatus="delivered").status_code == 204
    assert snapshot(row) == before
