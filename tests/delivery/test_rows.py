"""The sender's plain-SQL rows carry each field from its own column (mapped by name)."""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import timedelta

import pytest

from drip.delivery import rows as delivery_rows
from drip.delivery.dispatch import claim_due
from drip.models import Delivery, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db


def test_a_claimed_row_has_every_field_of_its_delivery_enrollment_and_patient(now):
    enrollment = enroll_patient(now)
    # Values that differ from their neighbours, so a field read from the wrong column shows.
    Patient.objects.filter(pk=enrollment.patient_id).update(
        email_consent=False, sms_opted_out_at=now - timedelta(days=2)
    )
    due = Delivery.objects.get(enrollment=enrollment, step_key="welcome", channel="sms")
    Delivery.objects.filter(pk=due.pk).update(error_code="20429", error_text="slow down")

    (row,) = delivery_rows.claim([i for i in claim_due(now, limit=100) if i == due.pk])

    delivery = Delivery.objects.get(pk=due.pk)
    patient = Patient.objects.get(pk=enrollment.patient_id)
    columns = {f.attname for f in Delivery._meta.concrete_fields}
    # The row's fields read from drip_delivery (those with a default, the sent copy, the sender
    # sets and only writes).
    own = {f.name for f in fields(row) if f.default is MISSING} & columns
    assert len(own) == 14
    assert {name: getattr(row, name) for name in own} == {
        name: getattr(delivery, name) for name in own
    }
    assert (row.status, row.enrollment_status, row.schedule_version_id) == (
        "sending",
        enrollment.status,
        enrollment.schedule_version_id,
    )
    assert row.patient == delivery_rows.Recipient(
        **{f.name: getattr(patient, f.name) for f in fields(delivery_rows.Recipient)}
    )
    assert (row.patient.sms_consent, row.patient.email_consent) == (True, False)
