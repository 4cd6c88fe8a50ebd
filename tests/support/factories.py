"""Factories that read like English: a published test schedule, a patient, an enrolled series.

Callers need database access (``pytestmark = pytest.mark.django_db``). Nothing here reads the
clock: pass ``now`` (the ``now`` fixture is Tuesday 2026-12-01 16:00 UTC, 11:00 in New York).

- ``publish_test_schedule()`` puts a small schedule straight into the database, so tests do
  not depend on the shipped ``schedules/`` and ``messages/`` files.
- ``patient_input(**overrides)`` is a valid ``PatientInput`` (Alex, New York, both channels).
- ``enroll_patient(now, ...)`` enrolls that patient in six infusions, Mon/Wed/Fri 10:00 local,
  starting the Monday after ``now`` (publishing the test schedule first if none is published).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from drip.catalog import versions as catalog
from drip.enrollment.service import PatientInput, enroll
from drip.models import Enrollment, ScheduleVersion

# Four steps, both channels but the last: one on enrollment, one before infusion 1 at a fixed
# local time, one after infusion 3 that needs it done, one a week after the last infusion.
TEST_SCHEDULE = """\
name: ketamine-six-infusion
title: Test series
infusions: 6
send_window: {start: "09:00", end: "20:00"}
late_grace: 2h
steps:
  - {key: welcome, anchor: enrollment, offset: 0m, channels: [email, sms], message: hello}
  - {key: what-to-expect, anchor: infusion 1, offset: -2d, at: "18:00", channels: [email, sms], message: visit}
  - {key: setbacks-are-normal, anchor: infusion 3, offset: +1d, at: "10:00", channels: [email, sms], message: hello, requires: infusion 3 done}
  - {key: week-after-last, anchor: last infusion, offset: +1w, at: "10:00", channels: [email], message: hello}
"""
TEST_MESSAGES: dict[str, dict[str, object]] = {
    "hello": {
        "email_subject": "Hello {{ first_name }}",
        "email_body": "Hi {{ first_name }}, from {{ clinic_name }}.\n",
        "sms_text": "{{ clinic_name }}: hi {{ first_name }}",
        "sources": [],
        "email_body_first_line": 5,
    },
    "visit": {
        "email_subject": "Infusion {{ infusion_number }}",
        "email_body": "See you {{ infusion_when }}.\n",
        "sms_text": "{{ clinic_name }}: see you {{ infusion_when }}",
        "sources": [],
        "email_body_first_line": 5,
    },
}
NY = ZoneInfo("America/New_York")


def publish_test_schedule(
    spec_yaml: str | None = None, messages: dict[str, dict[str, object]] | None = None
) -> ScheduleVersion:
    """Publish ``spec_yaml`` (default TEST_SCHEDULE) with ``messages`` (default TEST_MESSAGES) as
    the next version of its schedule, straight into the database and without validating it (so
    tests can publish a broken version on purpose)."""
    spec_yaml = TEST_SCHEDULE if spec_yaml is None else spec_yaml
    messages = TEST_MESSAGES if messages is None else messages
    name = spec_yaml.split("name:", 1)[1].split()[0]
    latest = ScheduleVersion.objects.filter(name=name).order_by("-version").first()
    return ScheduleVersion.objects.create(
        name=name,
        version=(latest.version + 1) if latest else 1,
        title="Test series",
        spec_text=spec_yaml,
        messages=messages,
        checksum=catalog.checksum(spec_yaml, messages),
        created_by="test",
    )


def patient_input(**overrides: object) -> PatientInput:
    """A valid patient: Alex Rivera, +12125550123, alex@example.com, New York, both consents."""
    values: dict[str, object] = dict(
        first_name="Alex",
        last_name="Rivera",
        email="alex@example.com",
        phone="+12125550123",
        time_zone="America/New_York",
        sms_consent=True,
        email_consent=True,
    )
    values.update(overrides)
    return PatientInput(**values)  # type: ignore[arg-type]


def mwf_infusions(first_local: datetime, count: int = 6) -> list[datetime]:
    """Mon/Wed/Fri, Mon/Wed/Fri at the same local time (naive = patient's local time)."""
    return [first_local + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)[:count]]


def next_monday_10am(now: datetime) -> datetime:
    """10:00 New York wall time (naive) on the first Monday after ``now``."""
    local = now.astimezone(NY)
    monday = local + timedelta(days=7 - local.weekday())
    return monday.replace(tzinfo=None, hour=10, minute=0, second=0, microsecond=0)


def enroll_patient(
    now: datetime,
    infusions: list[datetime] | None = None,
    *,
    publish: bool = True,
    **overrides: object,
) -> Enrollment:
    """Enroll ``patient_input(**overrides)`` at ``now`` (actor "test").

    Default infusions: six, Mon/Wed/Fri 10:00 New York time from the Monday after ``now``.
    Publishes the test schedule first unless one is published (or ``publish=False``).
    """
    if publish and not ScheduleVersion.objects.filter(name="ketamine-six-infusion").exists():
        publish_test_schedule()
    if infusions is None:
        infusions = mwf_infusions(next_monday_10am(now))
    return enroll(patient_input(**overrides), infusions, now=now, actor="test")
