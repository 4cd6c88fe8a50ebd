"""The pages that change a series: each shows what will change, then does it on confirm.

Every change carries the series' state token from the page it was decided on; if someone else
changed the series since, nothing is done and the page says so (never a silent overwrite).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from drip.delivery import resolve
from drip.enrollment import contact, service
from drip.errors import EnrollmentError
from drip.models import Actor, AuditEvent, Enrollment, Patient
from drip.staff import series, words
from drip.staff.access import staff_required, staff_user
from drip.staff.forms import ConfirmForm, ConsentForm, ContactForm, MoveForm, posted, zone_names

CONFLICT = (
    "Someone else changed this series while you had this page open, so nothing was changed. "
    "The page now shows the series as it is: check it and decide again."
)


class Conflict(Exception):
    """The series changed since the page was shown."""


def _enrollment(enrollment_id: int) -> Enrollment:
    return get_object_or_404(Enrollment.objects.select_related("patient"), pk=enrollment_id)


def _apply_if_unchanged(enrollment: Enrollment, token: str, change: Callable[[], object]) -> None:
    """Run ``change`` only if the series is as the person saw it (locked while we look)."""
    with transaction.atomic():
        Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        if series.state_token(enrollment) != token:
            raise Conflict
        change()


def _actor(request: HttpRequest) -> Actor:
    return staff_user(request)


# --- move an infusion ------------------------------------------------------------------------


@staff_required
def move(request: HttpRequest, enrollment_id: int, number: int) -> HttpResponse:
    """New date and time -> Preview changes -> Move infusion N."""
    enrollment = _enrollment(enrollment_id)
    infusion = enrollment.infusions.filter(number=number).first()
    if infusion is None:
        raise Http404("no such infusion")
    form = MoveForm(posted(request), initial={"state": series.state_token(enrollment)})
    context: dict[str, Any] = {
        "button": f"Move infusion {number}",
        "enrollment": enrollment,
        "infusion": infusion,
        "form": form,
        "zone": enrollment.patient.time_zone,
    }
    context["now_at"] = words.local_time(infusion.starts_at, enrollment.patient.time_zone)
    if request.method == "POST" and form.is_valid():
        when = form.cleaned_data["starts_at"].replace(tzinfo=None)
        now, actor = timezone.now(), _actor(request)

        def do() -> None:
            service.move_infusion(enrollment, number, when, now=now, actor=actor)

        try:
            # Confirm only what was previewed: a date changed after the preview is previewed again.
            previewed = request.POST.get("previewed") == request.POST.get("starts_at")
            if request.POST.get("confirm") and previewed:
                _apply_if_unchanged(enrollment, form.cleaned_data["state"], do)
                return _done(
                    request,
                    enrollment,
                    f"Infusion {number} moved to {_moved_to(enrollment, number)}.",
                )
            context["changes"] = series.preview(enrollment, do)
            context["new_at"] = when
        except EnrollmentError as error:
            form.add_service_error(error)
        except Conflict:
            return _conflict(request, enrollment)
    return render(request, "staff/move.html", context, status=400 if form.errors else 200)


@staff_required
def add(request: HttpRequest, enrollment_id: int) -> HttpResponse:
    """The next infusion's date and time -> Preview changes -> Add infusion N."""
    enrollment = _enrollment(enrollment_id)
    number = enrollment.infusions.count() + 1
    form = MoveForm(posted(request), initial={"state": series.state_token(enrollment)})
    form.fields["starts_at"].label = f"Infusion {number}: date and time"
    zone = enrollment.patient.time_zone
    context: dict[str, Any] = {"button": f"Add infusion {number}", "enrollment": enrollment}
    context.update(form=form, zone=zone)
    if request.method == "POST" and form.is_valid():
        when = form.cleaned_data["starts_at"].replace(tzinfo=None)
        now, actor = timezone.now(), _actor(request)

        def do() -> None:
            service.add_infusion(enrollment, when, now=now, actor=actor)

        try:
            previewed = request.POST.get("previewed") == request.POST.get("starts_at")
            if request.POST.get("confirm") and previewed:
                _apply_if_unchanged(enrollment, form.cleaned_data["state"], do)
                at = _moved_to(enrollment, number)
                return _done(request, enrollment, f"Infusion {number} added on {at}.")
            context["changes"] = series.preview(enrollment, do)
        except EnrollmentError as error:
            form.add_service_error(error)
        except Conflict:
            return _conflict(request, enrollment)
    return render(request, "staff/move.html", context, status=400 if form.errors else 200)


def _moved_to(enrollment: Enrollment, number: int) -> str:
    infusion = enrollment.infusions.get(number=number)
    return words.local_time(infusion.starts_at, enrollment.patient.time_zone)


# --- mark done / cancelled; pause, resume, end ----------------------------------------------

ACTIONS: dict[str, tuple[str, str]] = {
    # action: (button words, what happened)
    "done": ("Mark infusion {n} done", "Infusion {n} marked done."),
    "cancelled": ("Cancel infusion {n}", "Infusion {n} cancelled; its messages will not be sent."),
    "scheduled": ("Set infusion {n} back to scheduled", "Infusion {n} is scheduled again."),
    "pause": ("Pause messages", "Series paused: no messages go out until you resume it."),
    "resume": ("Resume messages", "Series resumed."),
    "end": ("End the series", "Series ended: no more messages will go out."),
    "end-after": (
        "End the series after infusion {n}",
        "The series now ends after infusion {n}: later infusions are cancelled and the "
        "end-of-series messages are timed from infusion {n}.",
    ),
}


def _service_call(
    request: HttpRequest, enrollment: Enrollment, action: str, number: int | None
) -> Callable[[], object]:
    now, actor = timezone.now(), _actor(request)
    if action in ("done", "cancelled", "scheduled"):
        if number is None:
            raise Http404("which infusion?")
        return lambda: service.mark_infusion(enrollment, number, action, now=now, actor=actor)
    if action == "end-after":
        if number is None:
            raise Http404("after which infusion?")
        return lambda: service.end_series_after(enrollment, number, now=now, actor=actor)
    status_change = {"pause": service.pause, "resume": service.resume, "end": service.end}[action]
    return lambda: status_change(enrollment, now=now, actor=actor)


@staff_required
def change(
    request: HttpRequest, enrollment_id: int, action: str, number: int | None = None
) -> HttpResponse:
    """Show what an action changes (GET), do it (POST with the state token)."""
    if action not in ACTIONS:
        raise Http404("no such action")
    enrollment = _enrollment(enrollment_id)
    button, done_words = (w.format(n=number) for w in ACTIONS[action])
    form = ConfirmForm(posted(request), initial={"state": series.state_token(enrollment)})
    call = _service_call(request, enrollment, action, number)
    error = ""
    try:
        if request.method == "POST" and form.is_valid():
            _apply_if_unchanged(enrollment, form.cleaned_data["state"], call)
            return _done(request, enrollment, done_words)
        changes = series.preview(enrollment, call)
    except EnrollmentError as problem:
        error, changes = str(problem).split(": ", 1)[-1], []
    except Conflict:
        return _conflict(request, enrollment)
    context = {
        "enrollment": enrollment,
        "form": form,
        "button": button,
        "changes": changes,
        "error": error,
        "action": action,
    }
    return render(request, "staff/change.html", context, status=400 if error else 200)


# --- opt-out / opt-in by phone ---------------------------------------------------------------


@staff_required
def consent(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Record what the patient asked for by phone, with their reason (the audit keeps it)."""
    enrollment = (
        Enrollment.objects.select_related("patient")
        .filter(patient_id=patient_id)
        .order_by("-enrolled_at")
        .first()
    )
    if enrollment is None:
        raise Http404("no such patient")
    person = enrollment.patient
    form = ConsentForm(posted(request))
    if request.method == "POST" and form.is_valid():
        channel, wants, reason = (form.cleaned_data[k] for k in ("channel", "wants", "reason"))
        record = service.record_opt_out if wants == "out" else service.record_opt_in
        now, actor = timezone.now(), _actor(request)
        with transaction.atomic():
            record(person, channel, now=now, method="verbal", actor=actor)
            AuditEvent.record(
                actor,
                AuditEvent.Event.CONSENT_REASON,
                at=now,
                patient=person,
                detail={"channel": channel, "asked": f"opt {wants}", "reason": reason},
            )
        label = words.CHANNEL[channel]
        said = f"{label}s stopped" if wants == "out" else f"{label}s will be sent again"
        return _done(
            request,
            enrollment,
            f"{said}, as the patient asked by phone. Pending messages were updated.",
        )
    return render(
        request,
        "staff/consent.html",
        {"patient": person, "form": form},
        status=400 if form.errors else 200,
    )


# --- contact details ----------------------------------------------------------------------------


def _contact_token(person: Patient) -> str:
    values = "|".join(str(getattr(person, f)) for f in contact.CONTACT_FIELDS)
    return hashlib.sha256(values.encode()).hexdigest()[:16]


@staff_required
def edit_contact(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Edit name, phone, email, time zone; pending messages follow (a new zone re-times them)."""
    person = get_object_or_404(Patient, pk=patient_id)
    initial = {f: getattr(person, f) for f in contact.CONTACT_FIELDS}
    form = ContactForm(posted(request), initial={**initial, "state": _contact_token(person)})
    if request.method == "POST" and form.is_valid():
        new = {f: form.cleaned_data[f] for f in contact.CONTACT_FIELDS}
        try:
            with transaction.atomic():
                locked = Patient.objects.select_for_update().get(pk=person.pk)
                if _contact_token(locked) != form.cleaned_data["state"]:
                    raise Conflict
                changed = contact.update_contact(
                    locked, new, now=timezone.now(), actor=_actor(request)
                )
        except EnrollmentError as error:
            form.add_service_error(error)
        except Conflict:
            messages.error(request, CONFLICT.replace("this series", "these details"))
            return redirect("staff:patient", person.pk)
        else:
            names = ", ".join(str(ContactForm.base_fields[f].label).lower() for f in changed)
            said = (
                f"Saved: {names} changed. Pending messages follow."
                if changed
                else "Nothing changed."
            )
            messages.success(request, said)
            return redirect("staff:patient", person.pk)
    context = {"patient": person, "form": form, "zones": zone_names()}
    return render(request, "staff/contact.html", context, status=400 if form.errors else 200)


# --- a message that needs a person -----------------------------------------------------------

RESOLUTIONS = {
    "send-again": (resolve.send_again, "The message will go out again within a minute."),
    "mark-sent": (resolve.mark_unsettled_sent, "The message is recorded as sent."),
    "resend": (resolve.resend_unsettled, "The message will be sent again within a minute."),
}


@staff_required
@require_POST
def resolve_message(request: HttpRequest, patient_id: int, delivery_id: int) -> HttpResponse:
    """Send a failed message again, or settle one left sending (see the message page)."""
    enrollment = _enrollment_of(patient_id, delivery_id)
    if request.POST.get("action") not in RESOLUTIONS:
        raise Http404("no such action")
    do, said = RESOLUTIONS[request.POST["action"]]
    try:
        do(delivery_id, now=timezone.now(), actor=_actor(request))
    except EnrollmentError as error:
        messages.error(request, str(error).split(": ", 1)[-1].capitalize() + ".")
        return redirect("staff:patient", patient_id)
    return _done(request, enrollment, said)


def _enrollment_of(patient_id: int, delivery_id: int) -> Enrollment:
    found = Enrollment.objects.filter(patient_id=patient_id, deliveries__pk=delivery_id).first()
    if found is None:
        raise Http404("no such message")
    return found


# --- after a change -----------------------------------------------------------------------


def _done(request: HttpRequest, enrollment: Enrollment, what: str) -> HttpResponse:
    messages.success(request, what)
    return redirect("staff:patient", enrollment.patient_id)


def _conflict(request: HttpRequest, enrollment: Enrollment) -> HttpResponse:
    messages.error(request, CONFLICT)
    return redirect("staff:patient", enrollment.patient_id)
