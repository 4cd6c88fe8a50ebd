"""A patient's text conversation with the clinic: what they wrote, drip's automatic answers,
staff replies and crisis alerts, in time order. Read by the inbox page and the patient timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import reverse

from drip.models import Enrollment, InboundMessage, StaffReply
from drip.staff import words

REPLY_REASON = {
    "crisis": "Crisis answer (988, 911, the clinic's phone)",
    "help": "Answer to HELP",
    "opt_out": "Opt-out confirmation",
    "opt_in": "Opt-in confirmation",
    "auto_reply": "Automatic reply",
}


@dataclass(frozen=True)
class Said:
    """One text in the conversation, or an alert raised by one."""

    at: datetime
    kind: str  # inbound | auto | staff | alert
    who: str
    text: str
    status: str  # in words
    link: str = ""  # the inbox item or the alert page

    @property
    def ours(self) -> bool:
        return self.kind in ("auto", "staff")


def conversation(
    *,
    patient_id: int | None,
    from_phone: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    zone: str,
) -> list[Said]:
    """Every text with this patient (or, for an unknown sender, this number): two queries."""
    by_whom = Q(patient_id=patient_id) if patient_id else Q(patient=None, from_phone=from_phone)
    when = Q()
    if since is not None:
        when &= Q(received_at__gte=since)
    if until is not None:
        when &= Q(received_at__lt=until)
    inbound = InboundMessage.objects.filter(by_whom & when).select_related("alert")
    said = [s for m in inbound for s in _from_inbound(m, zone)]
    if patient_id:
        said += [_from_staff(r, zone) for r in _staff_replies(patient_id, since, until)]
    return sorted(said, key=lambda s: (s.at, s.kind != "inbound"))


def _staff_replies(
    patient_id: int, since: datetime | None, until: datetime | None
) -> list[StaffReply]:
    replies = StaffReply.objects.filter(patient_id=patient_id)
    if since is not None:
        replies = replies.filter(created_at__gte=since)
    if until is not None:
        replies = replies.filter(created_at__lt=until)
    return list(replies)


def _from_inbound(m: InboundMessage, zone: str) -> list[Said]:
    link = reverse("staff:inbox-message", args=[m.pk])
    said = [Said(m.received_at, "inbound", "Patient" if m.patient_id else "Unknown number",
                 m.body, inbound_status(m, zone), link)]  # fmt: skip
    alert = getattr(m, "alert", None)
    if alert is not None:
        said.append(Said(alert.created_at, "alert", "Crisis alert to staff", "",
                         alert_status(alert, zone), reverse("staff:alert", args=[alert.pk])))  # fmt: skip
    if m.reply_body:
        what = REPLY_REASON.get(m.reply_reason, "Automatic reply")
        said.append(Said(m.received_at, "auto", f"drip · {what}", m.reply_body, "Sent"))
    return said


def _from_staff(r: StaffReply, zone: str) -> Said:
    return Said(r.created_at, "staff", f"Reply from {r.written_by}", r.body, reply_status(r, zone))


def inbound_status(m: InboundMessage, zone: str) -> str:
    """ "Unread", "Handled by sam, Tue Dec 8, 5:00 PM EST", "Answered by drip (STOP)"."""
    if m.status == InboundMessage.Status.UNREAD:
        return "Unread" + (f", assigned to {m.assigned_to}" if m.assigned_to else "")
    if m.handled_by == "drip":
        return f"Answered by drip ({m.get_kind_display()})"
    on = f", {words.local_time(m.handled_at, zone)}" if m.handled_at else ""
    return f"Handled by {m.handled_by}{on}"


def alert_status(alert: object, zone: str) -> str:
    acknowledged_at = getattr(alert, "acknowledged_at", None)
    if acknowledged_at is None:
        return "Not acknowledged yet"
    by = getattr(alert, "acknowledged_by", "")
    return f"Acknowledged by {by}, {words.local_time(acknowledged_at, zone)}"


def reply_status(r: StaffReply, zone: str) -> str:
    """ "Sent", "Waits until Tue Dec 8, 8:00 AM EST (quiet hours)", "Failed: …"."""
    S = StaffReply.Status
    if r.status == S.PENDING and r.due_at > r.created_at and r.attempts == 0:
        return f"Waits until {words.local_time(r.due_at, zone)} (quiet hours)"
    if r.status in (S.PENDING, S.SENDING):
        return "Sending" if r.attempts == 0 else "Sending, will retry"
    if r.status == S.FAILED:
        why = words.PROVIDER_ERROR.get(r.error_code) or r.error_text or "no reason given"
        return f"Failed: {why}"
    return str(S(r.status).label)


def for_series(enrollment: Enrollment) -> list[Said]:
    """The texts that show on this series' timeline: from its start (or ever, for the first
    series) to the start of the patient's next series (or for ever, for the latest).

    The patient's whole conversation is read once per patient object (the patient page shares
    one among its series), so the page's queries do not grow with the series."""
    patient = enrollment.patient
    cached = getattr(patient, "_drip_conversation", None)
    if cached is None:
        starts = sorted(patient.enrollments.values_list("enrolled_at", flat=True))
        said = conversation(patient_id=patient.pk, zone=patient.time_zone)
        cached = (starts, said)
        setattr(patient, "_drip_conversation", cached)  # noqa: B010  (a per-request memo)
    starts, said = cached
    later = [t for t in starts if t > enrollment.enrolled_at]
    since = enrollment.enrolled_at if starts and starts[0] < enrollment.enrolled_at else None
    until = later[0] if later else None
    return [s for s in said if (since is None or s.at >= since) and (until is None or s.at < until)]
