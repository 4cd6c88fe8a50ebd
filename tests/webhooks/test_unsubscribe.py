"""One-click email unsubscribe (RFC 8058): POST unsubscribes, GET only asks, forged links refused."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client

from drip.delivery.links import unsubscribe_url
from drip.models import ConsentRecord, Delivery, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


def state_of(patient_id):
    """Everything an unsubscribe could change, to compare before and after."""
    patient = Patient.objects.get(pk=patient_id)
    return (
        (patient.sms_opted_out_at, patient.email_opted_out_at),
        list(ConsentRecord.objects.filter(patient_id=patient_id).values_list("pk", flat=True)),
        list(Delivery.objects.filter(enrollment__patient_id=patient_id).order_by("pk").values()),
    )


def test_get_only_asks_and_changes_nothing(now, settings):
    e = enroll_patient(now)
    before = state_of(e.patient_id)
    response = Client().get(path_of(unsubscribe_url(e.patient_id)))
    clinic = settings.DRIP_CLINIC["clinic_name"]
    assert (
        response.status_code == 200
        and f"Unsubscribe from {clinic} emails?".encode() in response.content
    )
    assert b'<form method="post">' in response.content
    assert state_of(e.patient_id) == before


def test_one_click_post_unsubscribes_without_login_or_redirect(now):
    e = enroll_patient(now)
    response = Client(enforce_csrf_checks=True).post(
        path_of(unsubscribe_url(e.patient_id)), {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert Patient.objects.get(pk=e.patient_id).email_opted_out_at is not None
    emails = e.deliveries.filter(channel="email")
    assert set(emails.values_list("skip_reason", flat=True)) == {"opted_out"}
    assert set(e.deliveries.filter(channel="sms").values_list("status", flat=True)) == {"scheduled"}


def test_unsubscribing_twice_is_idempotent(now):
    e = enroll_patient(now)
    url = path_of(unsubscribe_url(e.patient_id))
    assert Client().post(url).status_code == 200
    first = state_of(e.patient_id)
    second = Client().post(url)
    assert second.status_code == 200 and b"You are unsubscribed" in second.content
    assert state_of(e.patient_id) == first
    assert (
        ConsentRecord.objects.filter(
            patient_id=e.patient_id, channel="email", granted=False
        ).count()
        == 1
    )


def tampered(url: str) -> str:
    return url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")


@pytest.mark.parametrize(
    "forge",
    [
        lambda pid: tampered(path_of(unsubscribe_url(pid))),
        lambda pid: (
            "/u/" + signing.dumps({"p": pid, "c": "email"}, salt="some.other.salt", compress=True)
        ),
        lambda pid: (
            "/u/"
            + signing.dumps({"p": pid, "c": "email"}, key="not-our-secret", salt="drip.unsubscribe")
        ),
        lambda pid: path_of(
            unsubscribe_url(pid, channel="sms")
        ),  # these pages only unsubscribe email
        lambda pid: "/u/not-a-token",
    ],
    ids=["tampered", "other-salt", "other-key", "sms-channel", "garbage"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_link_is_refused_and_changes_nothing(now, forge, method):
    e = enroll_patient(now)
    before = state_of(e.patient_id)
    response = getattr(Client(), method)(forge(e.patient_id))
    assert response.status_code == 400 and b"This link is not valid" in response.content
    assert state_of(e.patient_id) == before


def test_a_link_for_a_patient_who_no_longer_exists_is_refused(now):
    response = Client().post(path_of(unsubscribe_url(987654)))
    assert response.status_code == 400 and b"not valid" in response.content


def test_unsubscribe_records_who_and_how(now):
    e = enroll_patient(now)
    Client().post(path_of(unsubscribe_url(e.patient_id)), {"List-Unsubscribe": "One-Click"})
    consent = ConsentRecord.objects.get(patient_id=e.patient_id, granted=False)
    assert (consent.channel, consent.method, consent.recorded_by) == (
        "email",
        "email_link",
        "patient",
    )


def test_unsubscribe_logs_carry_ids_but_no_email_address(now, caplog):
    e = enroll_patient(now)
    with caplog.at_level(logging.DEBUG, logger="drip"):
        Client().post(path_of(unsubscribe_url(e.patient_id)), {"List-Unsubscribe": "One-Click"})
    assert f"patient_id={e.patient_id}" in caplog.text and "alex@example.com" not in caplog.text
