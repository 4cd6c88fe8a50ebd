"""Operator commands: `drip timeline` and `drip status` read the real database."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from drip.models import Delivery
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_timeline_shows_each_message_in_the_patients_zone_with_why(now):
    e = enroll_patient(now)
    Delivery.objects.filter(enrollment=e, step_key="welcome", channel="sms").update(
        status="failed", error_code="21211", error_text="invalid number"
    )
    out = run("timeline", str(e.pk))
    assert f"Enrollment #{e.pk} (active)" in out and "America/New_York" in out
    assert "sms    welcome                    failed  (21211 invalid number)" in out
    assert "EST" in out


def test_timeline_of_an_unknown_enrollment_says_so():
    with pytest.raises(CommandError, match="no enrollment #999"):
        run("timeline", "999")


def test_status_lists_rows_stuck_in_sending_and_recent_failures(now):
    e = enroll_patient(now)
    stuck = e.deliveries.get(step_key="welcome", channel="email")
    Delivery.objects.filter(pk=stuck.pk).update(status="sending")
    Delivery.objects.filter(pk=stuck.pk).update(updated_at=stuck.updated_at - timedelta(hours=1))
    Delivery.objects.filter(enrollment=e, step_key="welcome", channel="sms").update(
        status="failed", error_code="21614"
    )
    out = run("status")
    assert (
        "unsettled (left 'sending'; check with the provider, never resent automatically): 1" in out
    )
    assert f"delivery #{stuck.pk} enrollment #{e.pk} welcome/email" in out
    assert "failed in the last 24 h: 1" in out and "21614" in out
