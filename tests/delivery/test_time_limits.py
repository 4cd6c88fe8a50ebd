"""Celery's time limits for a send task follow from the concurrency and the provider timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHOW = (
    "import json; from drip.celery import app; from django.conf import settings; "
    "print(json.dumps([settings.DRIP_SEND_CALL_DEADLINE_S, "
    "app.conf.task_soft_time_limit, app.conf.task_time_limit]))"
)

TUNING = {
    "DRIP_SEND_CONCURRENCY",
    "DRIP_SEND_BATCH",
    "DRIP_SEND_CALL_DEADLINE_S",
    "TWILIO_TIMEOUT_S",
    "DRIP_SMTP_TIMEOUT_S",
    "DRIP_SMS_PER_S",
    "DRIP_EMAIL_PER_S",
}


def limits(**env: str) -> list[float]:
    inherited = {k: v for k, v in os.environ.items() if k not in TUNING}
    environment = {**inherited, "DJANGO_SETTINGS_MODULE": "drip.settings", **env}
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_defaults_give_each_call_two_provider_timeouts_and_each_task_its_groups():
    # 2 x 10 s + 5 s per call; a batch of 100 at 100 calls in flight is at most 2 groups.
    assert limits() == [25.0, 2 * 27 + 60, 2 * 27 + 90]


def test_a_rate_limit_and_a_small_window_lengthen_the_limits():
    deadline, soft, hard = limits(
        DRIP_SEND_CONCURRENCY="10",
        DRIP_SEND_BATCH="100",
        TWILIO_TIMEOUT_S="5",
        DRIP_SMTP_TIMEOUT_S="8",
        DRIP_SMS_PER_S="2",
    )
    assert deadline == 2 * 8 + 10 / 2 + 5  # the slowest timeout twice, a full window's slots
    assert (soft, hard) == (20 * (deadline + 2) + 60, 20 * (deadline + 2) + 90)  # 100 / (10 / 2)


def test_the_call_deadline_can_be_set():
    assert limits(DRIP_SEND_CALL_DEADLINE_S="3")[0] == 3.0
