"""Factories that read like English: a published test schedule, a patient, an enrolled series."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from drip.enrollment import PatientInput, enroll
from drip.models import Enrollment, ScheduleVersion

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
TEST_MESSAGES = {
    "hello": {"email_subject": "Hello {{ first_name }}", "email_body": "Hi {{ first_name }}, from {{ clinic_name }}.\n",
              "sms_text": "{{ clinic_name }}: hi {{ first_name }}", "sources": [], "email_body_first_line": 5},
    "visit": {"email_subject": "Infusion {{ infusion_number }}", "email_body": "See you {{ infusion_when }}.\n",
              "sms_text": "{{ clinic_name }}: see you {{ infusion_when }}", "sources": [], "email_body_first_line": 5},
}
NY = ZoneInfo("America/New_York")


def publish_test_schedule(spec_yaml: str = TEST_SCHEDULE, messages: dict | None = None) -> ScheduleVersion:
    """A schedule version straight into the database (tests don't depend on the shipped files)."""
    name = spec_yaml.split("name:", 1)[1].split()[0]
    latest = ScheduleVersion.objects.filter(name=name).order_by("-version").first()
    return ScheduleVersion.objects.create(
        name=name, version=(latest.version + 1) if latest else 1, title="Test series", spec_text=spec_yaml,
        messages=messages or TEST_MESSAGES, checksum=f"test-{name}-{(latest.version + 1) if latest else 1}",
    )


def patient_input(**overrides: object) -> PatientInput:
    values: dict[str, object] = dict(first_name="Alex", last_name="Rivera", email="alex@example.com",
                                     phone="+12125550123", time_zone="America/New_York",
                                     sms_consent=True, email_consent=True)
    values.update(overrides)
    return PatientInput(**values)  # type: ignore[arg-type]


def mwf_infusions(first_local: datetime, count: int = 6) -> list[datetime]:
    """Mon/Wed/Fri, Mon/Wed/Fri at the same local time (naive = patient's local time)."""
    return [first_local + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)[:count]]


def enroll_patient(now: datetime, infusions: list[datetime] | None = None, *, publish: bool = True,
                   **overrides: object) -> Enrollment:
    """Enroll a valid patient; default series starts the Monday after ``now`` at 10:00 local."""
    if publish and not ScheduleVersion.objects.filter(name="ketamine-six-infusion").exists():
        publish_test_schedule()
    if infusions is None:
        local = now.astimezone(NY)
        monday = (local + timedelta(days=7 - local.weekday())).replace(tzinfo=None, hour=10, minute=0, second=0, microsecond=0)
        infusions = mwf_infusions(monday)
    return enroll(patient_input(**overrides), infusions, now=now, actor="test")
