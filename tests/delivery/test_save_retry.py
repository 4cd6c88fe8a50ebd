"""Provider answers survive a dropped database connection: the sender records them again after
waits from the same backoff as every other retry (drip/core/backoff.py)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from drip.core.backoff import compute_backoff
from drip.delivery import rows as delivery_rows
from drip.delivery.dispatch import claim_due
from drip.delivery.sender import _SAVE_RETRY_BASE_S, _SAVE_RETRY_MAX_S, _save_outcomes
from drip.models import Delivery
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status


def kill_own_connection() -> None:
    """Terminate this test's PostgreSQL backend from another session, as a restart would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    db = connection.settings_dict
    dsn = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_answers_are_recorded_after_the_connection_drops_with_backoff_waits(postgres_only, now):
    enroll_patient(now)
    rows = delivery_rows.claim(claim_due(now, limit=100))
    for row in rows:
        row.status, row.provider_id, row.sent_at = S.SENT, f"P{row.id}", now
    kill_own_connection()
    waits: list[float] = []

    _save_outcomes(rows, lambda: 0.5, sleep=waits.append)

    first = compute_backoff(1, base_s=_SAVE_RETRY_BASE_S, max_s=_SAVE_RETRY_MAX_S, jitter=0.5)
    assert waits == [first.total_seconds()]
    recorded = Delivery.objects.filter(pk__in=[row.id for row in rows])
    assert len(rows) == 2 and sorted(recorded.values_list("status", "provider_id")) == sorted(
        (S.SENT, f"P{row.id}") for row in rows
    )


def test_a_database_that_stays_away_is_retried_with_growing_waits_then_raises(postgres_only, now):
    enroll_patient(now)
    rows = delivery_rows.claim(claim_due(now, limit=100))
    waits: list[float] = []

    def sleep_through_a_restart(seconds: float) -> None:
        waits.append(seconds)
        kill_own_connection()  # reconnects to find its pid, then drops it again

    kill_own_connection()
    with pytest.raises(Exception) as raised:
        _save_outcomes(rows, lambda: 0.0, attempts=4, sleep=sleep_through_a_restart)

    assert type(raised.value).__name__ in ("OperationalError", "InterfaceError")
    assert waits == [
        compute_backoff(
            n, base_s=_SAVE_RETRY_BASE_S, max_s=_SAVE_RETRY_MAX_S, jitter=0.0
        ).total_seconds()
        for n in (1, 2, 3)
    ]
    claimed = Delivery.objects.filter(pk__in=[row.id for row in rows])
    assert set(claimed.values_list("status", flat=True)) == {S.SENDING}
