"""The dispatcher: claim due deliveries (scheduled -> queued) and recover lost claims.

Claims are one statement each, safe with several dispatchers at once: PostgreSQL skips rows
another dispatcher has locked (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time and the
status check in the UPDATE is the compare-and-set.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

_CLAIM_POSTGRES = """
UPDATE drip_delivery SET status = 'queued', queued_at = %s, updated_at = %s
WHERE id IN (
    SELECT id FROM drip_delivery
    WHERE status = 'scheduled' AND due_at <= %s
    ORDER BY due_at LIMIT %s
    FOR UPDATE SKIP LOCKED)
RETURNING id
"""
_CLAIM_SQLITE = """
UPDATE drip_delivery SET status = 'queued', queued_at = %s, updated_at = %s
WHERE id IN (
    SELECT id FROM drip_delivery
    WHERE status = 'scheduled' AND due_at <= %s
    ORDER BY due_at LIMIT %s)
AND status = 'scheduled'
RETURNING id
"""


def claim_due(now: datetime, *, limit: int) -> list[int]:
    """Move up to ``limit`` due rows to queued; return their ids (oldest due first)."""
    sql = _CLAIM_POSTGRES if connection.vendor == "postgresql" else _CLAIM_SQLITE
    at = connection.ops.adapt_datetimefield_value(now)  # SQLite compares UTC text
    with transaction.atomic(), connection.cursor() as cursor:
        stamp = connection.ops.adapt_datetimefield_value(
            timezone.now()
        )  # wall clock, like auto_now
        cursor.execute(sql, [at, stamp, at, limit])
        return sorted(row[0] for row in cursor.fetchall())


def recover_stale(now: datetime, *, lease_s: float) -> int:
    """Queued rows whose task never ran (worker killed, broker restarted) go back to scheduled.

    Safe because nothing was sent yet: a worker moves a row to 'sending' before its provider call,
    and only from 'queued'.
    """
    from drip.models import Delivery

    return Delivery.objects.filter(
        status=Delivery.Status.QUEUED, queued_at__lt=now - timedelta(seconds=lease_s)
    ).update(status=Delivery.Status.SCHEDULED, queued_at=None)


# error_code of an SMS row found stranded in 'sending': the sender looks it up in Twilio's
# message list before sending again (drip.delivery.sender._ANSWER_LOST).
UNSETTLED = "unsettled"


def settle_stranded_sms(now: datetime, *, lease_s: float) -> int:
    """SMS rows still 'sending' past the lease (their worker died mid-call) go back to
    'scheduled', due now, marked ``unsettled``: the sender then asks Twilio first (found: recorded
    sent with its SID; not found: sent), so none is lost and none sent twice (DESIGN §6).

    ``lease_s`` must exceed a worker's longest call (the provider timeout) by a margin: a row
    still in a live worker's hands would otherwise be looked up while its call is in flight."""
    from drip.models import Delivery

    return Delivery.objects.filter(
        channel="sms",
        status=Delivery.Status.SENDING,
        updated_at__lt=now - timedelta(seconds=lease_s),
    ).update(
        status=Delivery.Status.SCHEDULED,
        due_at=now,
        error_code=UNSETTLED,
        error_text="left sending by a stopped worker; looked up before sending again",
    )


def unsettled_emails(now: datetime, *, lease_s: float) -> list[int]:
    """Email rows still 'sending' past the lease, oldest first, for staff to resolve (the Today
    page): SMTP has no message list to ask, so a person decides whether to resend."""
    from drip.models import Delivery

    return list(
        Delivery.objects.filter(
            channel="email",
            status=Delivery.Status.SENDING,
            updated_at__lt=now - timedelta(seconds=lease_s),
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)
    )
