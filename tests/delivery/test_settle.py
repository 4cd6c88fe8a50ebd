"""Nothing left unsettled, and a STOP honoured while the sender holds the patient's SMS."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction

from drip.channels.base import OutgoingSms
from drip.delivery.dispatch import claim_due, settle_stranded_sms, unsettled_emails
from drip.delivery.sender import BatchReport, _start, _still_allowed, send_deliveries
from drip.enrollment.service import record_opt_out
from drip.models import Delivery, Patient
from tests.support.factories import enroll_patient

pytestmark = pytest.mark.django_db
S = Delivery.Status
LEASE_S = 600


def strand(e, now):
    """The welcome rows claimed and left 'sending' by a worker killed mid-call."""
    ids = claim_due(now, limit=10)
    Delivery.objects.filter(pk__in=ids).update(status=S.SENDING)
    return {d.channel: d for d in e.deliveries.filter(pk__in=ids)}


def send_now(at, twilio_sms, smtp_email):
    return send_deliveries(
        claim_due(at, limit=10), now=at, sms=twilio_sms, email=smtp_email, concurrency=4
    )


def test_a_stranded_sms_twilio_took_is_recorded_sent_not_sent_again(
    now, twilio_server, twilio_sms, smtp_email
):
    e = enroll_patient(now)
    sms = strand(e, now)["sms"]
    twilio_server.clock = now.timestamp
    # What the killed worker's call did before it died: Twilio took the message.
    taken = twilio_sms.send(OutgoingSms(sms.pk, "+12125550123", "Sample Infusion Clinic: hi Alex"))
    Delivery.objects.filter(status=S.SENDING).update(updated_at=now)  # claimed at ``now``
    later = now + timedelta(seconds=LEASE_S + 1)
    assert settle_stranded_sms(now, lease_s=LEASE_S) == 0  # within the lease: left alone
    assert settle_stranded_sms(later, lease_s=LEASE_S) == 1  # only the SMS
    send_now(later, twilio_sms, smtp_email)
    sms.refresh_from_db()
    assert (sms.status, sms.provider_id) == (S.SENT, taken.provider_id)
    assert len(twilio_server.received) == 1


def test_a_stranded_sms_twilio_never_got_is_sent_once(now, twilio_server, twilio_sms, smtp_email):
    e = enroll_patient(now)
    sms = strand(e, now)["sms"]
    Delivery.objects.filter(status=S.SENDING).update(updated_at=now)
    later = now + timedelta(seconds=LEASE_S + 1)
    settle_stranded_sms(later, lease_s=LEASE_S)
    send_now(later, twilio_sms, smtp_email)
    sms.refresh_from_db()
    assert sms.status == S.SENT and len(twilio_server.received) == 1


def test_a_stranded_email_stays_listed_for_staff(now):
    e = enroll_patient(now)
    email = strand(e, now)["email"]
    Delivery.objects.filter(status=S.SENDING).update(updated_at=now)
    later = now + timedelta(seconds=LEASE_S + 1)
    settle_stranded_sms(later, lease_s=LEASE_S)
    assert unsettled_emails(later, lease_s=LEASE_S) == [email.pk]
    assert unsettled_emails(now, lease_s=LEASE_S) == []
    assert Delivery.objects.get(pk=email.pk).status == S.SENDING


def test_a_stop_after_the_claim_is_honoured_before_the_call(now):
    e = enroll_patient(now)
    report = BatchReport()
    with transaction.atomic():
        started = _start(claim_due(now, limit=10), now, report)
    assert {go.row.channel for go in started} == {"sms", "email"}
    record_opt_out(e.patient, "sms", now=now, method="sms_keyword", actor="patient")
    allowed = _still_allowed(started, report)
    assert [go.row.channel for go in allowed] == ["email"]
    row = e.deliveries.get(step_key="welcome", channel="sms")
    assert (row.status, row.skip_reason) == (S.SKIPPED, "opted_out")


@pytest.mark.django_db(transaction=True)
def test_a_stop_in_flight_while_the_sender_claims_means_the_sms_is_not_sent(
    postgres_only, now, twilio_server, twilio_sms, smtp_email
):
    """PostgreSQL, two threads: the STOP's transaction holds the patient's rows; the sender's
    claim waits for it, then finds the SMS skipped and sends only the email."""
    e = enroll_patient(now)
    ids = claim_due(now, limit=10)
    stop_holding = threading.Event()
    reports = []

    def stop():
        with transaction.atomic():
            record_opt_out(
                Patient.objects.get(pk=e.patient_id),
                "sms",
                now=now,
                method="sms_keyword",
                actor="patient",
            )
            stop_holding.set()
            _wait_for_lock_waiter()
        connections.close_all()

    def sender():
        stop_holding.wait(10)
        reports.append(
            send_deliveries(ids, now=now, sms=twilio_sms, email=smtp_email, concurrency=4)
        )
        connections.close_all()

    threads = [threading.Thread(target=stop), threading.Thread(target=sender)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert twilio_server.received == []
    row = e.deliveries.get(step_key="welcome", channel="sms")
    assert (row.status, row.skip_reason) == (S.SKIPPED, "opted_out")
    assert e.deliveries.get(step_key="welcome", channel="email").status == S.SENT


def _wait_for_lock_waiter(timeout_s: float = 10.0) -> None:
    """Until another session waits on a lock (the sender's claim): PostgreSQL says so."""
    import time

    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)  # polling PostgreSQL's view of another thread
