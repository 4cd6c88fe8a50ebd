"""Fixtures shared by the sender's tests."""

from __future__ import annotations

import pytest

from drip.delivery.dispatch import claim_due
from drip.delivery.sender import send_deliveries


@pytest.fixture
def send(twilio_sms, smtp_email):
    """Send what is due at ``now`` (or these ids) through the local Twilio and SMTP servers."""

    def run(now, ids=None):
        ids = claim_due(now, limit=1000) if ids is None else ids
        return send_deliveries(
            ids, now=now, sms=twilio_sms, email=smtp_email, concurrency=4, rand=lambda: 0.5
        )

    return run
