"""On-call alerts: each notice sent exactly once through the real channels, never dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drip.inbound import alerts
from drip.inbound.service import receive_sms
from drip.models import AlertNotice
from tests.support.factories import enroll_patient
from tests.support.fixtures import make_smtp_email

pytestmark = pytest.mark.django_db
N = AlertNotice.Status


@pytest.fixture(autouse=True)
def oncall(settings):
    settings.DRIP_ONCALL_EMAILS = ["oncall@clinic.test"]
    settings.DRIP_ONCALL_PHONES = ["+15555550100"]
    settings.DRIP_PUBLIC_BASE_URL = "https://drip.clinic.test"


@pytest.fixture
def email(smtp_server):
    channel = make_smtp_email(smtp_server)
    yield channel
    channel.close()


def crisis(now, sid="SM" + "1" * 32, phone="+12125550123"):
    return receive_sms(message_sid=sid, from_phone=phone, body="I want to die", now=now)


def test_a_crisis_alert_reaches_each_on_call_contact_once_without_the_patients_words(
    now, twilio_server, twilio_sms, smtp_server, email
):
    enrollment = enroll_patient(now)
    alert_id = crisis(now).alert_id
    assert alerts.send_notices(alert_id, now=now, sms=twilio_sms, email=email) == 2
    assert alerts.send_notices(alert_id, now=now, sms=twilio_sms, email=email) == 0  # run twice
    assert alerts.alert_ids_due(now) == []
    [sms] = twilio_server.received
    assert sms.form["To"] == "+15555550100" and "StatusCallback" not in sms.form
    assert f"patient #{enrollment.patient_id}" in sms.form["Body"]
    [mail] = smtp_server.received
    assert mail.to == "oncall@clinic.test" and "URGENT" in mail.subject
    for text in (sms.form["Body"], mail.subject, *mail.parts.values()):
        assert "want to die" not in text and "+12125550123" not in text
    assert set(AlertNotice.objects.values_list("status", flat=True)) == {N.SENT}


def test_an_unknown_number_alert_says_so(now, twilio_server, twilio_sms, email):
    alert_id = crisis(now, phone="+13105550999").alert_id
    alerts.send_notices(alert_id, now=now, sms=twilio_sms, email=email)
    assert "unknown number" in twilio_server.received[0].form["Body"]


def test_a_notice_the_provider_refuses_for_now_is_retried_later_not_dropped(
    now, twilio_server, twilio_sms, email
):
    alert_id = crisis(now).alert_id
    twilio_server.fail_next(1, 503)
    assert alerts.send_notices(alert_id, now=now, sms=twilio_sms, email=email) == 1
    retry = AlertNotice.objects.get(channel="sms")
    assert retry.status == N.PENDING and retry.due_at > now and retry.error_code == "503"
    assert alerts.alert_ids_due(now) == []
    assert alerts.alert_ids_due(retry.due_at) == [alert_id]
    assert alerts.send_notices(alert_id, now=retry.due_at, sms=twilio_sms, email=email) == 1
    assert len(twilio_server.received) == 1


def test_a_notice_stranded_in_sending_by_a_killed_worker_comes_back_after_the_lease(now, settings):
    alert_id = crisis(now).alert_id
    AlertNotice.objects.filter(channel="sms").update(status=N.SENDING, claimed_at=now)
    assert alerts.alert_ids_due(now) == [alert_id]  # the email notice is still pending
    AlertNotice.objects.filter(channel="email").update(status=N.SENT)
    assert alerts.alert_ids_due(now) == []
    after_lease = now + timedelta(seconds=settings.DRIP_ALERT_LEASE_S + 1)
    assert alerts.alert_ids_due(after_lease) == [alert_id]
    assert AlertNotice.objects.get(channel="sms").status == N.PENDING


@pytest.mark.django_db(transaction=True)  # a task run closes a connection left in a transaction
def test_the_dispatcher_tick_sends_alerts_the_webhook_could_not_enqueue(now, settings, tmp_path):
    settings.DRIP_OUTBOX_DIR = tmp_path
    settings.DRIP_CHANNELS = "outbox"
    from drip.celery import app
    from drip.channels import reset_channels
    from drip.tasks import dispatch_due

    reset_channels()
    crisis(now)  # stored with its notices; nothing enqueued (the service never enqueues)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the tick's enqueue runs in-process, as a worker would
    try:
        dispatch_due(now.isoformat())
    finally:
        app.conf.task_always_eager = previous
        reset_channels()
    assert set(AlertNotice.objects.values_list("status", flat=True)) == {N.SENT}
    assert (tmp_path / "sms.jsonl").read_text().count("+15555550100") == 1
