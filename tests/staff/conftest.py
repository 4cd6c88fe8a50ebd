"""Staff-page fixtures: a signed-in staff member, an enrolled patient, counts of stored rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from drip.models import AuditEvent, ConsentRecord, Delivery, Enrollment, Infusion, Patient
from drip.staff.models import StaffAccount
from tests.support.factories import enroll_patient, mwf_infusions, publish_test_schedule

PASSWORD = "correct horse battery staple"


def make_staff(username: str = "sam", *, groups: tuple[str, ...] = ("staff",)) -> User:
    """A staff member who has already chosen their password (no code set up)."""
    user = User.objects.create_user(username, "", PASSWORD, first_name="Sam", last_name="Lee")
    user.groups.set(Group.objects.get_or_create(name=g)[0] for g in groups)
    StaffAccount.objects.create(user=user, must_change_password=False)
    return user


def add_code_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The six digits the person's authenticator app shows now."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


@pytest.fixture
def staff_user(db: None) -> User:
    return make_staff()


@pytest.fixture
def staff(staff_user: User) -> Client:
    """A browser-like client signed in as a staff member."""
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def clock() -> datetime:
    """The pages read the real clock (it is what staff see); tests place data relative to it."""
    return timezone.now()


@pytest.fixture
def enrolled(db: None, clock: datetime) -> Enrollment:
    """Alex Rivera (New York), six infusions Mon/Wed/Fri 10:00 from a week ahead."""
    publish_test_schedule()
    first = (clock + timedelta(days=7)).astimezone(timezone.get_fixed_timezone(-300))
    start = first.replace(tzinfo=None, hour=10, minute=0, second=0, microsecond=0)
    return enroll_patient(clock, mwf_infusions(start), publish=False)


def stored_rows() -> dict[str, int]:
    """How many rows each table holds: a rejected form must leave these unchanged."""
    models = (Patient, ConsentRecord, Enrollment, Infusion, Delivery, AuditEvent)
    return {m.__name__: m.objects.count() for m in models}
