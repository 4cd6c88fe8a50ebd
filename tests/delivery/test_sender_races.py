"""A staff move and the sender at the same moment, on PostgreSQL with threads: the evening-before
reminder never goes out with the infusion's old time once the move has begun, and a reminder
that was being sent while its infusion moved, and comes back unsent, is re-planned."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from drip.delivery.sender import send_deliveries
from drip.enrollment import service
from drip.models import Delivery
from tests.support.factories import enroll_patient
from tests.support.twilio_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status


def queued_reminder(e) -> Delivery:
    """The evening-before SMS for infusion 1, handed to the sender (status 'queued')."""
    row = e.deliveries.get(step_key="what-to-expect", channel="sms")
    Delivery.objects.filter(pk=row.pk).update(status=S.QUEUED, queued_at=row.due_at)
    return row


def in_thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_blocked_or_done(thread: threading.Thread, timeout_s: float = 10.0) -> None:
    """Until ``thread`` waits on a database lock (or has finished)."""
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while thread.is_alive() and time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            thread.join(0.005)  # polling another thread's state, not waiting for time to pass


def test_a_reminder_claimed_while_its_infusion_is_being_moved_goes_out_with_the_new_time_or_not_at_all(
    now, postgres_only, twilio_sms, smtp_email, twilio_server, monkeypatch
):
    e = enroll_patient(now)
    row = queued_reminder(e)
    due, first = row.due_at, e.infusions.get(number=1).starts_at
    # Hold the move half-way, as a slow one is: infusion saved, its messages not yet re-planned.
    halfway, go_on = threading.Event(), threading.Event()
    real_replan = service.replan

    def slow_replan(enrollment, *, now):
        halfway.set()
        go_on.wait(10)
        return real_replan(enrollment, now=now)

    monkeypatch.setattr(service, "replan", slow_replan)
    mover = in_thread(
        lambda: service.move_infusion(e, 1, first + timedelta(days=1), now=now, actor="staff")
    )
    assert halfway.wait(10)
    sender = in_thread(
        lambda: send_deliveries([row.pk], now=due, sms=twilio_sms, email=smtp_email, concurrency=4)
    )
    wait_until_blocked_or_done(sender)
    go_on.set()
    mover.join(20)
    sender.join(20)
    row.refresh_from_db()
    assert not twilio_server.received, [r.form["Body"] for r in twilio_server.received]
    assert (row.status, row.due_at) == (S.SCHEDULED, due + timedelta(days=1))  # re-timed, unsent


def test_a_reminder_sending_during_a_move_that_comes_back_unsent_is_replanned(
    now, postgres_only, twilio_sms, smtp_email, twilio_server
):
    e = enroll_patient(now)
    row = queued_reminder(e)
    due, first = row.due_at, e.infusions.get(number=1).starts_at
    at_provider, answer = threading.Event(), threading.Event()

    def stalled_then_unavailable(index: int, form: dict[str, str]) -> Reply:
        at_provider.set()
        answer.wait(10)  # the provider thinks while staff move the infusion
        return Reply(503, 20503)

    twilio_server.policy = stalled_then_unavailable
    sender = in_thread(
        lambda: send_deliveries(
            [row.pk], now=due, sms=twilio_sms, email=smtp_email, concurrency=4, rand=lambda: 0.5
        )
    )
    assert at_provider.wait(10)
    service.move_infusion(e, 1, first + timedelta(days=1), now=due, actor="staff")
    assert Delivery.objects.get(pk=row.pk).status == S.SENDING  # the move could not touch it
    answer.set()
    sender.join(20)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.SCHEDULED, 1)
    assert row.due_at == due + timedelta(days=1)  # the new evening before, not a retry in 22 s
