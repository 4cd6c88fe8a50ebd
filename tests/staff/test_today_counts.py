"""Today's counts of the last 7 days are links: each opens the patients behind its number."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client

from drip.models import Delivery, Enrollment, Patient
from tests.staff.test_pages import more_patients, text

pytestmark = pytest.mark.django_db


def count_links(page: str) -> dict[str, tuple[str, str]]:
    """{"Failed": ("/patients?show=failed-7d", "1"), ...} from Today's counts."""
    found = re.findall(r"<dt>([^<]+)</dt><dd><a href=\"([^\"]+)\">(\d+)</a>", page)
    return {label: (href, number) for label, href, number in found}


def test_each_count_links_to_the_patients_it_counts(
    staff: Client, enrolled: Enrollment, clock: datetime
) -> None:
    more_patients(clock, 2)  # two Joneses with nothing in the last week
    rows = list(enrolled.deliveries.order_by("due_at"))
    Delivery.objects.filter(pk=rows[0].pk).update(status="failed", error_code="30006")
    Delivery.objects.filter(pk=rows[1].pk).update(
        status="delivered", sent_at=clock - timedelta(hours=2), delivered_at=clock
    )
    Patient.objects.filter(pk=enrolled.patient_id).update(sms_opted_out_at=clock)
    links = count_links(staff.get("/").content.decode())
    assert set(links) == {"Sent", "Delivered", "Failed", "Skipped", "Opted out"}
    for label in ("Sent", "Delivered", "Failed", "Opted out"):
        href, number = links[label]
        listed = text(staff.get(href))
        assert number == "1" and "Alex Rivera" in listed and "Jones" not in listed, label
    assert "No patients match" in text(staff.get(links["Skipped"][0]))
