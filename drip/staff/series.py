"""A series as the patient page shows it, a change's preview, and the state a change was made on.

Reads only; changes go through drip.enrollment.service. A preview runs the real change inside a
savepoint and rolls it back, so what staff see is exactly what confirming will do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from drip.enrollment.timeline import timeline
from drip.models import Delivery, Enrollment, Infusion, Patient
from drip.staff import conversation, words


@dataclass(frozen=True)
class Row:
    """One line of the timeline: an infusion, a message, or the "Now" line."""

    kind: str  # infusion | message | now
    when: str  # in the patient's zone, named
    title: str
    status: str  # in words
    channel: str = ""
    code: str = ""  # provider error code, for support
    delivery_id: int | None = None
    infusion_number: int | None = None
    infusion_status: str = ""
    started: bool = False  # an infusion whose time has come (only then can it be marked done)
    text: str = ""  # a text the patient sent or we answered (kind "said")
    link: str = ""  # its inbox item or alert page


def step_title(step_key: str) -> str:
    """ "what-to-expect" -> "What to expect"."""
    return step_key.replace("-", " ").replace("_", " ").capitalize()


def rows(enrollment: Enrollment, infusions: Iterable[Infusion], now: datetime) -> list[Row]:
    """Infusions and messages interleaved by time, with a "Now" line between past and future."""
    zone = enrollment.patient.time_zone
    timed = [(i.starts_at, 0, _infusion_row(i, zone, i.starts_at <= now)) for i in infusions]
    timed += [(e.local_due, 1, _message_row(e.delivery, zone)) for e in timeline(enrollment)]
    timed += [(said.at, 1, _said_row(said, zone)) for said in conversation.for_series(enrollment)]
    timed.append((now, 2, Row("now", words.local_time(now, zone), "Now", "")))
    return [row for _, _, row in sorted(timed, key=lambda t: (t[0], t[1]))]


def _infusion_row(infusion: Infusion, zone: str, started: bool) -> Row:
    return Row(
        "infusion",
        words.local_time(infusion.starts_at, zone),
        f"Infusion {infusion.number}",
        infusion.get_status_display(),
        infusion_number=infusion.number,
        infusion_status=infusion.status,
        started=started,
    )


def _said_row(said: conversation.Said, zone: str) -> Row:
    """A text from or to the patient, or a crisis alert, on the timeline."""
    channel = {"inbound": "Text in", "alert": "Alert"}.get(said.kind, "Text out")
    return Row("said", words.local_time(said.at, zone), said.who, said.status, channel=channel,
               text=said.text, link=said.link)  # fmt: skip


def _message_row(d: Delivery | None, zone: str) -> Row:
    assert d is not None  # timeline() always carries its row
    return Row(
        "message",
        words.local_time(d.due_at, zone),
        step_title(d.step_key),
        words.delivery_status(d.status, d.skip_reason, d.error_code, d.error_text),
        channel=words.CHANNEL.get(d.channel, d.channel),
        code=d.error_code,
        delivery_id=d.pk,
    )


def state_token(enrollment: Enrollment) -> str:
    """A digest of everything a change decides on: two people editing at once differ here."""
    patient = Patient.objects.get(pk=enrollment.patient_id)
    parts = [
        Enrollment.objects.get(pk=enrollment.pk).status,
        str(patient.sms_opted_out_at),
        str(patient.email_opted_out_at),
        *(
            f"{i.number}@{i.starts_at.isoformat()}:{i.status}"
            for i in enrollment.infusions.order_by("number")
        ),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Change:
    """One pending message a change would touch."""

    title: str
    channel: str
    before: str
    after: str


def preview(enrollment: Enrollment, apply: Callable[[], object]) -> list[Change]:
    """Run ``apply`` (a service call) in a savepoint, list the messages it changes, roll back.

    Raises what ``apply`` raises (EnrollmentError lands on the form's field)."""
    zone = enrollment.patient.time_zone
    before = {d.pk: d for d in enrollment.deliveries.all()}
    with transaction.atomic():
        apply()
        after = list(enrollment.deliveries.order_by("due_at", "step_key", "channel"))
        transaction.set_rollback(True)
    return [
        Change(
            step_title(d.step_key),
            words.CHANNEL.get(d.channel, d.channel),
            _describe(before[d.pk], zone) if d.pk in before else "(new)",
            _describe(d, zone),
        )
        for d in after
        if d.pk not in before or _differs(before[d.pk], d)
    ]


def _differs(a: Delivery, b: Delivery) -> bool:
    return (a.due_at, a.status, a.skip_reason) != (b.due_at, b.status, b.skip_reason)


def _describe(d: Delivery, zone: str) -> str:
    if d.status == "skipped":
        return words.delivery_status(d.status, d.skip_reason, "", "")
    return words.local_time(d.due_at, zone)
