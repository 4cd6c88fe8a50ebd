"""One-click email unsubscribe (RFC 8058): POST unsubscribes, GET only asks, forged links refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from drip.links import unsubscribe_url
from drip.models import ConsentRecord, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_get_only_asks_and_changes_nothing(now):
    e = enroll_patient(now)
    response = Client().get(path_of(unsubscribe_url(e.patient_id)))
    assert response.status_code == 200 and b"Unsubscribe" in response.content
    assert Patient.objects.get(pk=e.patient_id).email_opted_out_at is None


def test_one_click_post_unsubscribes_without_login_or_redirect(now):
    e = enroll_patient(now)
    response = Client(enforce_csrf_checks=True).post(path_of(unsubscribe_url(e.patient_id)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    assert Patient.objects.get(pk=e.patient_id).email_opted_out_at is not None
    emails = e.deliveries.filter(channel="email")
    assert set(emails.values_list("skip_reason", flat=True)) == {"opted_out"}
    assert set(e.deliveries.filter(channel="sms").values_list("status", flat=True)) == {"scheduled"}


def test_unsubscribing_twice_is_idempotent(now):
    e = enroll_patient(now)
    url = path_of(unsubscribe_url(e.patient_id))
    assert Client().post(url).status_code == 200
    assert Client().post(url).status_code == 200
    assert ConsentRecord.objects.filter(patient_id=e.patient_id, channel="email", granted=False).count() == 1


def test_a_forged_link_is_refused_and_changes_nothing(now):
    e = enroll_patient(now)
    url = path_of(unsubscribe_url(e.patient_id))
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    response = Client().post(forged)
    assert response.status_code == 400 and b"not valid" in response.content
    assert Patient.objects.get(pk=e.patient_id).email_opted_out_at is None
