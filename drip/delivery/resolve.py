"""What staff may do with a message that needs a person: send a failed one again, or settle
one left ``sending`` after a crash (it was sent, or send it again knowing it may arrive twice).

Each is a compare-and-set on the row's status in one transaction, with an AuditEvent; a row in
any other state (sent, delivered, already retried) is refused and left as it is.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from drip.errors import EnrollmentError
from drip.models import Actor, AuditEvent, Delivery

S = Delivery.Status


def send_again(delivery_id: int, *, now: datetime, actor: Actor) -> None:
    """A failed message goes out again at the next dispatch. Never one that was sent."""
    _settle(
        delivery_id,
        S.FAILED,
        AuditEvent.Event.MESSAGE_SENT_AGAIN,
        now,
        actor,
        status=S.SCHEDULED,
        due_at=now,
    )


def mark_unsettled_sent(delivery_id: int, *, now: datetime, actor: Actor) -> None:
    """Staff checked the provider's log: the message left. Record it as sent."""
    _settle(
        delivery_id,
        S.SENDING,
        AuditEvent.Event.UNSETTLED_MARKED_SENT,
        now,
        actor,
        status=S.SENT,
        sent_at=now,
    )


def resend_unsettled(delivery_id: int, *, now: datetime, actor: Actor) -> None:
    """Staff chose to send it again (it may arrive twice): back to scheduled, due now."""
    _settle(
        delivery_id,
        S.SENDING,
        AuditEvent.Event.UNSETTLED_SENT_AGAIN,
        now,
        actor,
        status=S.SCHEDULED,
        due_at=now,
    )


def _settle(
    delivery_id: int, expected: str, event: str, now: datetime, actor: Actor, **fields: object
) -> None:
    with transaction.atomic():
        row = Delivery.objects.select_related("enrollment").filter(pk=delivery_id).first()
        changed = Delivery.objects.filter(pk=delivery_id, status=expected).update(
            queued_at=None, **fields
        )
        if not changed:
            status = row.get_status_display().lower() if row else "gone"
            raise EnrollmentError(
                "delivery", f"this message is {status} now, so it was left as it is"
            )
        AuditEvent.record(
            actor,
            event,
            at=now,
            patient_id=row.enrollment.patient_id,  # type: ignore[union-attr]
            enrollment_id=row.enrollment_id,  # type: ignore[union-attr]
            detail={"delivery": delivery_id, "step": row.step_key, "channel": row.channel},  # type: ignore[union-attr]
        )
