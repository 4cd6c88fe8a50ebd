"""The dispatcher: claims only what is due, once, and recovers claims whose task was lost."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from drip.delivery.dispatch import claim_due, recover_stale
from drip.models import Delivery
from tests.support.factories import enroll_patient

S = Delivery.Status


@pytest.mark.django_db
def test_only_due_scheduled_rows_are_claimed_and_marked_queued(now):
    e = enroll_patient(now)
    ids = claim_due(now, limit=100)
    welcome = set(e.deliveries.filter(step_key="welcome").values_list("pk", flat=True))
    assert set(ids) == welcome
    assert set(Delivery.objects.filter(status=S.QUEUED).values_list("pk", flat=True)) == welcome
    assert claim_due(now, limit=100) == []


@pytest.mark.django_db
def test_claims_respect_the_limit_oldest_due_first(now):
    e = enroll_patient(now)
    everything = claim_due(now + timedelta(days=60), limit=3)
    assert len(everything) == 3
    oldest = list(e.deliveries.order_by("due_at", "pk").values_list("pk", flat=True)[:2])
    assert set(oldest) <= set(everything)


@pytest.mark.django_db
def test_a_lost_claim_comes_back_after_the_lease_and_not_before(now):
    enroll_patient(now)
    ids = claim_due(now, limit=100)
    assert recover_stale(now + timedelta(seconds=299), lease_s=300) == 0
    assert recover_stale(now + timedelta(seconds=301), lease_s=300) == len(ids)
    assert sorted(claim_due(now + timedelta(seconds=301), limit=100)) == sorted(ids)


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_get_disjoint_claims_covering_everything(now, postgres_only):
    for i in range(40):
        enroll_patient(now, email=f"p{i}@example.com", phone=f"+1212555{i:04d}")
    due = Delivery.objects.filter(status=S.SCHEDULED, due_at__lte=now).count()
    results: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def dispatcher(slot: int) -> None:
        barrier.wait()
        while ids := claim_due(now, limit=7):
            results[slot].extend(ids)
        connection.close()  # this thread's own connection

    threads = [threading.Thread(target=dispatcher, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not set(results[0]) & set(results[1])
    assert len(results[0]) + len(results[1]) == due == 80
