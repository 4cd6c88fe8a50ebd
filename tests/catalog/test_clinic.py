"""Clinic settings in planning: the clinic's window narrows a schedule's, its caps bound the
schedule's; the environment's values until the first save; one query per request or task."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drip.catalog import clinic
from drip.catalog import versions as catalog
from drip.core.schedule import Caps, SendWindow
from drip.models import Delivery
from tests.support.factories import enroll_patient, next_monday_10am, publish_test_schedule


def facts(**changes: Any) -> dict[str, Any]:
    base = {"window_start": "08:00", "window_end": "21:00"}
    caps = {"sms_per_day": 1, "sms_per_7_days": 3, "email_per_day": 1}
    return {**base, **caps, **changes}


@pytest.mark.django_db
def test_the_clinic_window_narrows_the_schedule_and_caps_are_upper_bounds() -> None:
    schedule = catalog.schedule_of(publish_test_schedule())
    assert clinic.bounded(schedule, facts()) is schedule  # the widest settings change nothing
    narrowed = clinic.bounded(schedule, facts(window_start="10:00", window_end="12:00"))
    assert narrowed.send_window == SendWindow(
        max(schedule.send_window.start, time(10)), min(schedule.send_window.end, time(12))
    )
    capped = clinic.bounded(schedule, facts(sms_per_7_days=2))
    assert capped.caps == Caps(sms_per_day=1, sms_per_7_days=2, email_per_day=1)
    looser = clinic.bounded(schedule, facts(sms_per_day=3, sms_per_7_days=9, email_per_day=3))
    assert looser.caps == schedule.caps  # the clinic never loosens a schedule


@pytest.mark.django_db
def test_a_window_that_misses_the_schedules_uses_the_clinics() -> None:
    schedule = catalog.schedule_of(publish_test_schedule())
    late = clinic.bounded(schedule, facts(window_start="19:00", window_end="21:00"))
    if schedule.send_window.end <= time(19):
        assert late.send_window == SendWindow(time(19), time(21))
    else:
        assert late.send_window.start == time(19)


@pytest.mark.django_db
def test_planning_follows_the_saved_window(now: datetime) -> None:
    clinic.save({**clinic.current(), **facts(window_start="10:00", window_end="12:00")},
                on_version=0, actor="cli", now=now)  # fmt: skip
    enrollment = enroll_patient(now, [next_monday_10am(now)])
    zone = ZoneInfo(enrollment.patient.time_zone)
    hours = {d.due_at.astimezone(zone).time() for d in Delivery.objects.all()}
    assert hours and all(time(10) <= h < time(12) for h in hours), sorted(hours)


@pytest.mark.django_db
def test_the_settings_are_read_once_until_the_next_request_or_task(now: datetime) -> None:
    clinic.forget()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            clinic.current()
    assert len(queries) == 1
    clinic.save({**clinic.current(), "clinic_name": "Lakeside"}, on_version=0, actor="cli", now=now)
    assert clinic.current()["clinic_name"] == "Lakeside"  # a save is seen at once
