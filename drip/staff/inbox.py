"""The inbox: patients' replies that need a person, newest first; one conversation with its
reply box (sent as a text, never to a patient who opted out), assignment and Mark handled."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from drip.inbound.replies import MAX_CHARS, ReplyRefused, write_reply
from drip.models import Actor, Alert, AuditEvent, InboundMessage, StaffReply, actor_name
from drip.staff import conversation, words
from drip.staff.access import STAFF_GROUPS, staff_required, staff_user
from drip.staff.forms import clinic_zone

log = logging.getLogger("drip.staff.inbox")
Status = InboundMessage.Status
SHOWN = {"unread": "Unread", "mine": "Assigned to me", "handled": "Handled", "all": "All"}
NEEDS_A_PERSON = ("other", "crisis")  # STOP, START and HELP are answered by drip itself


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Reply by text",
        max_length=MAX_CHARS,
        required=False,  # the service says what is wrong with an empty reply, in its words
        widget=forms.Textarea(attrs={"rows": 4, "data-sms-count": "reply-count"}),
    )
    form_key = forms.CharField(widget=forms.HiddenInput)
    mark_handled = forms.BooleanField(label="Mark handled once sent", required=False)


# --- the list --------------------------------------------------------------------------------


@staff_required
def inbox(request: HttpRequest) -> HttpResponse:
    """Replies newest first (unread by default), crisis replies not yet acknowledged pinned."""
    shown = request.GET.get("show", "unread")
    shown = shown if shown in SHOWN else "unread"
    found = _filtered(shown, request.user.get_username())
    page = Paginator(found, settings.DRIP_STAFF_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "rows": [_row(m) for m in page.object_list],
        "pinned": _pinned() if page.number == 1 else [],
        "shown": shown,
        "filters": SHOWN,
    }
    return render(request, "staff/inbox.html", context)


def _filtered(shown: str, username: str) -> QuerySet[InboundMessage]:
    found = InboundMessage.objects.filter(kind__in=NEEDS_A_PERSON).select_related("patient")
    if shown == "unread":
        found = found.filter(status=Status.UNREAD)
    elif shown == "handled":
        found = found.filter(status=Status.HANDLED)
    elif shown == "mine":
        found = found.filter(status=Status.UNREAD, assigned_to=username)
    return found.order_by("-received_at", "-pk")


def _pinned() -> list[dict[str, Any]]:
    """Crisis replies whose alert nobody has acknowledged: on top, in red, on page 1."""
    alerts = (
        Alert.objects.filter(acknowledged_at__isnull=True)
        .select_related("inbound__patient")
        .order_by("-created_at")[:20]
    )
    return [{**_row(a.inbound), "alert": a} for a in alerts]


def _row(m: InboundMessage) -> dict[str, Any]:
    zone = m.patient.time_zone if m.patient else clinic_zone()
    first_line = (m.body.strip().splitlines() or [""])[0]
    return {
        "message": m,
        "who": f"{m.patient.first_name} {m.patient.last_name}" if m.patient else "Unknown number",
        "first_line": first_line,
        "when": words.local_time(m.received_at, zone),
        "status": conversation.inbound_status(m, zone),
    }


# --- one conversation ------------------------------------------------------------------------


@staff_required
def message(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """The conversation with this sender, the reply box, assignment and Mark handled."""
    m = _inbound(inbound_id)
    form = ReplyForm(initial={"form_key": secrets.token_urlsafe(24), "mark_handled": True})
    return _conversation_page(request, m, form)


def _inbound(inbound_id: int) -> InboundMessage:
    found = InboundMessage.objects.select_related("patient", "alert")
    return get_object_or_404(found, pk=inbound_id)


def _conversation_page(
    request: HttpRequest, m: InboundMessage, form: ReplyForm, status: int = 200
) -> HttpResponse:
    person = m.patient
    zone = person.time_zone if person else clinic_zone()
    context = {
        "m": m,
        "row": _row(m),
        "zone": zone,
        "said": conversation.conversation(
            patient_id=m.patient_id, from_phone=m.from_phone, zone=zone
        ),
        "alert": getattr(m, "alert", None),
        "form": form,
        "cannot_reply": _cannot_reply(m),
        "staff_names": _staff_names(),
    }
    return render(request, "staff/inbox_message.html", context, status=status)


def _cannot_reply(m: InboundMessage) -> str:
    """Why the reply box is not offered ("" when it is); the service checks again on Send."""
    person = m.patient
    if person is None:
        return (
            "This number is not on file, so drip does not text it. Call the number, or enroll "
            "the person first."
        )
    if person.sms_opted_out_at is not None:
        on = words.local_date(person.sms_opted_out_at, person.time_zone)
        return (
            f"{person.first_name} {person.last_name} opted out of texts on {on}: drip will not "
            "text them. Call them instead."
        )
    return ""


def _staff_names() -> list[tuple[str, str]]:
    """(username, name) of everyone who may be assigned a reply."""
    people = (
        get_user_model()
        .objects.filter(Q(groups__name__in=STAFF_GROUPS) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("first_name", "username")
    )
    return [(p.get_username(), p.get_full_name() or p.get_username()) for p in people]


# --- actions ---------------------------------------------------------------------------------


@staff_required
@require_POST
def reply(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Write a text to the patient; it goes out now, or at 8 AM their time if it is night."""
    m = _inbound(inbound_id)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _conversation_page(request, m, form, status=400)
    actor, now = staff_user(request), timezone.now()
    try:
        if m.patient_id is None:
            raise ReplyRefused(_cannot_reply(m))
        written = write_reply(
            m.patient_id,
            form.cleaned_data["body"],
            inbound=m,
            actor=actor,
            form_key=form.cleaned_data["form_key"],
            now=now,
        )
    except ReplyRefused as refused:
        form.add_error("body", refused.message)
        return _conversation_page(request, m, form, status=400)
    if form.cleaned_data["mark_handled"]:
        _set_handled(m, actor, handled=True)
    if written.due_at <= now and written.status == StaffReply.Status.PENDING:
        transaction.on_commit(lambda: _enqueue(written.pk))
    messages.success(request, _written_words(written))
    return redirect("staff:inbox-message", m.pk)


def _written_words(r: StaffReply) -> str:
    status = conversation.reply_status(r, r.patient.time_zone)
    if status.startswith("Waits"):
        return f"Reply saved. It is night for the patient: it {status[0].lower()}{status[1:]}."
    return "Reply saved and handed to the text provider. Its status shows in the conversation."


def _enqueue(reply_id: int) -> None:
    """Hand the reply to a worker; with the broker down the dispatcher tick sends it instead."""
    from drip.celery import enqueue_now
    from drip.tasks import send_staff_reply

    if not enqueue_now(send_staff_reply, reply_id):
        log.warning("reply.enqueue_failed reply_id=%s", reply_id)


@staff_required
@require_POST
def handle(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Mark handled (or, with ``undo``, unread again); the first person to do it is recorded."""
    m = _inbound(inbound_id)
    actor = staff_user(request)
    handled = request.POST.get("undo") != "1"
    if _set_handled(m, actor, handled=handled):
        messages.success(request, "Marked handled." if handled else "Marked unread again.")
    else:
        m.refresh_from_db()
        messages.info(request, f"Nothing changed: {conversation.inbound_status(m, _zone(m))}.")
    return redirect("staff:inbox-message", m.pk)


def _set_handled(m: InboundMessage, actor: Actor, *, handled: bool) -> bool:
    """Compare-and-set unread <-> handled, audited; False when someone else got there first."""
    now = timezone.now()
    before, after = (Status.UNREAD, Status.HANDLED) if handled else (Status.HANDLED, Status.UNREAD)
    with transaction.atomic():
        won = InboundMessage.objects.filter(pk=m.pk, status=before).update(
            status=after,
            handled_by=actor_name(actor) if handled else "",
            handled_at=now if handled else None,
        )
        if won:
            event = "inbox_handled" if handled else "inbox_reopened"
            _audit(event, m, actor, now, {})
    return bool(won)


@staff_required
@require_POST
def assign(request: HttpRequest, inbound_id: int) -> HttpResponse:
    """Give the reply to one staff member (or to nobody)."""
    m = _inbound(inbound_id)
    who = request.POST.get("assigned_to", "")
    names = dict(_staff_names())
    if who and who not in names:
        messages.error(request, "Choose a person from the list.")
        return redirect("staff:inbox-message", m.pk)
    actor, now = staff_user(request), timezone.now()
    with transaction.atomic():
        InboundMessage.objects.filter(pk=m.pk).update(assigned_to=who)
        _audit("inbox_assigned", m, actor, now, {"assigned_to": who or "nobody"})
    messages.success(request, f"Assigned to {names[who]}." if who else "Assigned to nobody.")
    return redirect("staff:inbox-message", m.pk)


def _audit(event: str, m: InboundMessage, actor: Actor, now: Any, extra: dict[str, str]) -> None:
    detail = {"inbound_id": m.pk, **extra}
    AuditEvent.record(actor, event, at=now, patient_id=m.patient_id, detail=detail)


def _zone(m: InboundMessage) -> str:
    return m.patient.time_zone if m.patient else clinic_zone()
