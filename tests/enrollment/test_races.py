"""Two staff at once, on PostgreSQL with threads: enrolling one person twice, moving two
infusions of one series. Each run starts both at the same moment (a barrier)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection

from drip.enrollment import service
from drip.errors import EnrollmentError
from drip.models import Patient
from tests.support.factories import enroll_patient, patient_input, publish_test_schedule

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = 20


def at_once(*actions: Callable[[], object]) -> list[object]:
    """Run each action on its own thread and connection, started together; returns what each
    returned or raised."""
    outcomes: list[object] = [None] * len(actions)
    barrier = threading.Barrier(len(actions))

    def run(slot: int) -> None:
        try:
            barrier.wait()
            outcomes[slot] = actions[slot]()
        except Exception as error:  # the outcome under test, kept for the assertions
            outcomes[slot] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_the_same_person_enrolled_twice_at_once_becomes_one_patient(now, postgres_only):
    publish_test_schedule()
    for run in range(RUNS):
        phone, email = f"+1212555{run:04d}", f"p{run}@example.com"

        def enroll(phone: str = phone, email: str = email) -> object:
            return enroll_patient(now, publish=False, phone=phone, email=email)

        outcomes = at_once(enroll, enroll)
        refused = [o for o in outcomes if isinstance(o, EnrollmentError)]
        assert len(refused) == 1, outcomes
        patient = Patient.objects.get(phone=phone)
        assert refused[0].patient_id == patient.pk and refused[0].field in ("phone", "email")
        assert patient.enrollments.count() == 1


def test_a_returning_patient_enrolled_twice_at_once_gets_one_new_series(now, postgres_only):
    first = enroll_patient(now)
    service.end(first, now=now, actor="staff")

    def enroll() -> object:
        return service.enroll(patient_input(), [now + timedelta(days=9)], now=now, actor="test")

    outcomes = at_once(enroll, enroll)
    assert sum(isinstance(o, EnrollmentError) for o in outcomes) == 1, outcomes
    assert first.patient.enrollments.filter(status="active").count() == 1


def test_moving_infusions_2_and_3_at_once_never_leaves_them_out_of_order(now, postgres_only):
    publish_test_schedule()
    for run in range(RUNS):
        e = enroll_patient(now, publish=False, phone=f"+1212555{run:04d}", email=f"p{run}@x.test")
        second, third = (e.infusions.get(number=n).starts_at for n in (2, 3))
        # Each move alone is fine (2 a day later, 3 a day earlier); both together would cross.
        outcomes = at_once(
            lambda e=e, t=second: service.move_infusion(
                e, 2, t + timedelta(days=1, hours=2), now=now, actor="a"
            ),
            lambda e=e, t=third: service.move_infusion(
                e, 3, t - timedelta(days=1), now=now, actor="b"
            ),
        )
        starts = list(e.infusions.order_by("number").values_list("starts_at", flat=True))
        assert starts == sorted(starts) and len(set(starts)) == 6, (run, outcomes)
        assert sum(isinstance(o, EnrollmentError) for o in outcomes) == 1, outcomes
