"""The whole engine on real services: PostgreSQL, Redis, a Celery worker, SMTP, a Twilio-speaking server.

A virtual clock steps from one due time to the next; every planned message must reach its
provider exactly once, at its time, even when a send task is delivered twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from drip.delivery.dispatch import claim_due
from drip.enrollment.service import move_infusion
from drip.models import Delivery
from drip.tasks import dispatch_due, send_batch
from tests.support.engine import live_engine, wait_until_idle
from tests.support.factories import enroll_patient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]
S = Delivery.Status


@pytest.fixture
def engine(settings, postgres_only, redis_url, twilio_server, smtp_server):
    with live_engine(settings, redis_url, twilio_server, smtp_server):
        yield


def run_series(start):
    """Advance the virtual clock to each next due time and let the dispatcher + worker run."""
    now, sent_at = start, {}
    while (
        row := Delivery.objects.filter(status=S.SCHEDULED).order_by("due_at").first()
    ) is not None:
        now = max(now, row.due_at)
        dispatch_due.apply(kwargs={"as_of": now.isoformat()})
        wait_until_idle()
        for d in Delivery.objects.filter(status=S.SENT, sent_at=now):
            sent_at[d.pk] = now
    return sent_at


def test_a_series_sends_each_message_once_at_its_time(engine, now, twilio_server, smtp_server):
    e = enroll_patient(now)
    planned = {d.pk: d.due_at for d in e.deliveries.all()}
    sent_at = run_series(now)
    assert set(e.deliveries.values_list("status", flat=True)) == {S.SENT}
    assert sent_at == planned  # each at its own (virtual) time
    sms_ids = Counter(twilio_server.delivery_ids())
    assert set(sms_ids.values()) == {1} and set(sms_ids) == set(
        e.deliveries.filter(channel="sms").values_list("pk", flat=True)
    )
    mail_ids = Counter(smtp_server.message_ids())
    assert (
        set(mail_ids.values()) == {1}
        and len(mail_ids) == e.deliveries.filter(channel="email").count()
    )


def test_a_send_task_delivered_twice_sends_once(engine, now, twilio_server, smtp_server):
    e = enroll_patient(now)
    ids = claim_due(now, limit=100)
    send_batch.delay(ids, now.isoformat())
    send_batch.delay(ids, now.isoformat())
    wait_until_idle()
    assert len(twilio_server.received) == 1 and len(smtp_server.received) == 1
    assert set(e.deliveries.filter(pk__in=ids).values_list("status", flat=True)) == {S.SENT}


def test_moving_an_infusion_mid_series_moves_pending_and_keeps_sent(engine, now, twilio_server):
    e = enroll_patient(now)
    dispatch_due.apply(kwargs={"as_of": now.isoformat()})
    wait_until_idle()
    welcome_sms = e.deliveries.get(step_key="welcome", channel="sms")
    first = e.infusions.get(number=1)
    move_infusion(e, 1, first.starts_at + timedelta(days=1), now=now, actor="staff")
    assert Delivery.objects.get(pk=welcome_sms.pk).status == S.SENT
    run_series(now)
    assert Counter(twilio_server.delivery_ids())[welcome_sms.pk] == 1
    expect = e.deliveries.get(step_key="what-to-expect", channel="sms")
    assert (
        expect.sent_at.astimezone(first.starts_at.tzinfo).date()
        == (first.starts_at + timedelta(days=-1)).date()
    )
