"""The staff pages that read: Today, Patients, a patient, one message; and Enroll."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from drip.catalog import clinic as clinic_facts
from drip.catalog import versions as catalog
from drip.core.rendering import RenderedSms, render_email, render_sms
from drip.core.segments import count_segments
from drip.delivery.context import context_for
from drip.enrollment.cleaning import clean_infusions, clean_patient, clean_phone
from drip.enrollment.service import PatientInput, enroll, set_series_size
from drip.errors import EnrollmentError
from drip.models import (
    AuditEvent,
    ConsentRecord,
    Delivery,
    Enrollment,
    Infusion,
    Patient,
    ScheduleVersion,
)
from drip.staff import audit, series, words
from drip.staff.access import staff_required, staff_user
from drip.staff.forms import MAX_INFUSIONS, EnrollForm, clinic_zone, posted, zone_names

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations  # types only: a test dependency

D = Delivery.Status


def _now() -> datetime:
    return timezone.now()


# --- Today ---------------------------------------------------------------------------------


@staff_required
def today(request: HttpRequest) -> HttpResponse:
    """What needs a person, what goes out in the next 24 hours, this week's counts."""
    now = _now()
    due = _due_in_24_hours(now)
    context = {
        "due_by_hour": _by_hour(due, clinic_zone()),
        "failures": _failures(now),
        "unsettled": Delivery.objects.filter(
            status=D.SENDING, updated_at__lt=now - timedelta(minutes=10)
        )
        .select_related("enrollment__patient")
        .order_by("updated_at")[:50],
        "opt_outs": Patient.objects.filter(
            Q(sms_opted_out_at__gte=now - timedelta(days=7))
            | Q(email_opted_out_at__gte=now - timedelta(days=7))
        ).order_by("-sms_opted_out_at")[:50],
        "counts": _week_counts(now),
        "zone": clinic_zone(),
    }
    return render(request, "staff/today.html", context)


def _due_in_24_hours(now: datetime) -> list[Delivery]:
    """Scheduled and queued rows due in the next 24 hours, first 200. Two queries, each on its
    partial index (one ``status IN`` query read every row: 300 ms at 2.2 million)."""
    window = {"due_at__gte": now, "due_at__lt": now + timedelta(hours=24)}
    rows = Delivery.objects.select_related("enrollment__patient").order_by("due_at")
    scheduled = list(rows.filter(status=D.SCHEDULED, **window)[:200])
    queued = list(rows.filter(status=D.QUEUED, queued_at__isnull=False, **window)[:200])
    return sorted(scheduled + queued, key=lambda d: d.due_at)[:200]


def _by_hour(due: list[Delivery], zone: str) -> list[tuple[str, list[Delivery]]]:
    groups: dict[str, list[Delivery]] = {}
    for d in due:
        local = d.due_at.astimezone(ZoneInfo(zone))
        hour = local.replace(minute=0)
        groups.setdefault(words.local_time(hour, zone), []).append(d)
    return list(groups.items())


def _failures(now: datetime) -> QuerySet[Delivery]:
    """Failed for good in the last two weeks: a person should call or fix the contact."""
    return (
        Delivery.objects.filter(
            status__in=(D.FAILED, D.UNDELIVERED), updated_at__gte=now - timedelta(days=14)
        )
        .select_related("enrollment__patient")
        .order_by("-updated_at")[:50]
    )


def _week_counts(now: datetime) -> dict[str, int]:
    week = now - timedelta(days=7)
    # One count each, on its own index: one aggregate with four filters read every row.
    rows = Delivery.objects
    counts = {
        "sent": rows.filter(sent_at__gte=week).count(),
        "delivered": rows.filter(delivered_at__gte=week).count(),
        "failed": rows.filter(status__in=(D.FAILED, D.UNDELIVERED), updated_at__gte=week).count(),
        "skipped": rows.filter(status=D.SKIPPED, updated_at__gte=week).count(),
    }
    counts["opted_out"] = Patient.objects.filter(
        Q(sms_opted_out_at__gte=week) | Q(email_opted_out_at__gte=week)
    ).count()
    return counts


# --- Patients ------------------------------------------------------------------------------

FILTERS = {
    "": "All",
    "active": "Active",
    "paused": "Paused",
    "ended": "Ended",
    "week": "Infusion this week",
}
# Today's counts link here: the patients behind each count (shown as a chip only when chosen).
LAST_7_DAYS = {
    "sent-7d": "Sent a message in the last 7 days",
    "delivered-7d": "Delivered a message in the last 7 days",
    "failed-7d": "A message failed in the last 7 days",
    "skipped-7d": "A message skipped in the last 7 days",
    "opted-out-7d": "Opted out in the last 7 days",
}


@staff_required
def patients(request: HttpRequest) -> HttpResponse:
    """Search by name, phone or email; filter; 25 a page. htmx asks for the table only."""
    query, shown = request.GET.get("q", "").strip(), request.GET.get("show", "")
    shown = shown if shown in FILTERS or shown in LAST_7_DAYS else ""
    found = _annotated(_search(query, shown))
    page = Paginator(found, settings.DRIP_STAFF_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [_patient_row(p) for p in page.object_list]
    filters = {**FILTERS, **({shown: LAST_7_DAYS[shown]} if shown in LAST_7_DAYS else {})}
    context = {"page": page, "rows": rows, "q": query, "show": shown, "filters": filters}
    template = (
        "staff/_patient_table.html" if request.headers.get("HX-Request") else "staff/patients.html"
    )
    return render(request, template, context)


def _search(query: str, shown: str) -> QuerySet[Patient]:
    found = Patient.objects.all()
    if re.fullmatch(r"[\d\s()+.-]+", query):  # a phone number as typed: match its digits
        digits = re.sub(r"\D", "", query)
        return _filtered(found.filter(phone__contains=digits[-10:]), shown)
    for word in query.split():
        digits = "".join(c for c in word if c.isdigit())
        match = (
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
        found = found.filter(match | Q(phone__contains=digits) if len(digits) >= 3 else match)
    return _filtered(found, shown)


def _filtered(found: QuerySet[Patient], shown: str) -> QuerySet[Patient]:
    # Exists, not joins: no duplicate rows, so no DISTINCT, so the page count skips the
    # annotations (DISTINCT over them took 540 ms at 100,000 patients).
    series = Enrollment.objects.filter(patient=OuterRef("pk"))
    if shown in ("active", "paused"):
        found = found.filter(Exists(series.filter(status=shown)))
    elif shown == "ended":
        found = found.filter(Exists(series.filter(status__in=("ended", "completed"))))
    elif shown == "week":
        infusions = Infusion.objects.filter(
            enrollment__patient=OuterRef("pk"), status="scheduled", starts_at__range=_this_week()
        )
        found = found.filter(Exists(infusions))
    elif shown in LAST_7_DAYS:
        found = found.filter(_last_7_days(shown, _now() - timedelta(days=7)))
    return found.order_by("last_name", "first_name", "pk")


def _last_7_days(shown: str, week: datetime) -> Q:
    """The same conditions Today counts by (``_week_counts``), from the patient's side."""
    sent = Delivery.objects.filter(enrollment__patient=OuterRef("pk"))
    return {
        "sent-7d": Q(Exists(sent.filter(sent_at__gte=week))),
        "delivered-7d": Q(Exists(sent.filter(delivered_at__gte=week))),
        "failed-7d": Q(
            Exists(sent.filter(status__in=(D.FAILED, D.UNDELIVERED), updated_at__gte=week))
        ),
        "skipped-7d": Q(Exists(sent.filter(status=D.SKIPPED, updated_at__gte=week))),
        "opted-out-7d": Q(sms_opted_out_at__gte=week) | Q(email_opted_out_at__gte=week),
    }[shown]


def _this_week() -> tuple[datetime, datetime]:
    local = _now().astimezone(ZoneInfo(clinic_zone()))
    monday = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=local.weekday()
    )
    return monday, monday + timedelta(days=7)


class _Summary(TypedDict):
    """What ``_annotated`` adds to each patient (None: no series, or nothing to come)."""

    series_status: str | None
    version_id: int | None
    series_size: int | None
    next_infusion: datetime | None
    infusions_done: int | None
    next_message: datetime | None


def _annotated(found: QuerySet[Patient]) -> QuerySet[WithAnnotations[Patient, _Summary]]:
    """Latest enrollment's status, next infusion, infusions done, next message: one query."""
    now = _now()
    latest = Enrollment.objects.filter(patient=OuterRef("pk")).order_by("-enrolled_at", "-pk")
    infusions = Infusion.objects.filter(enrollment__patient=OuterRef("pk"))
    done = (
        infusions.filter(status="done")
        .values("enrollment__patient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return found.annotate(
        series_status=Subquery(latest.values("status")[:1]),
        version_id=Subquery(latest.values("schedule_version_id")[:1]),
        series_size=Subquery(latest.values("series_size")[:1]),
        next_infusion=Subquery(
            infusions.filter(status="scheduled", starts_at__gte=now)
            .order_by("starts_at")
            .values("starts_at")[:1]
        ),
        infusions_done=Subquery(done[:1]),
        next_message=Subquery(
            Delivery.objects.filter(enrollment__patient=OuterRef("pk"), status=D.SCHEDULED)
            .order_by("due_at")
            .values("due_at")[:1]
        ),
    )


def _patient_row(p: WithAnnotations[Patient, _Summary]) -> dict[str, object]:
    default = (
        catalog.schedule_of(catalog.version_by_id(p.version_id)).infusions if p.version_id else 0
    )
    size = p.series_size or default
    when: Callable[[datetime | None], str] = lambda t: (  # noqa: E731
        words.local_time(t, p.time_zone) if t else "—"
    )
    return {
        "patient": p,
        "status": dict(Enrollment.Status.choices).get(p.series_status or "", "Not enrolled"),
        "next_infusion": when(p.next_infusion),
        "progress": f"{p.infusions_done or 0} of {size}" if size else "—",
        "next_message": when(p.next_message),
    }


# --- One patient ---------------------------------------------------------------------------


@staff_required
def patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Contact, consent and its history, each series with its timeline, and the audit."""
    person = get_object_or_404(Patient, pk=patient_id)
    now = _now()
    enrollments = list(
        person.enrollments.select_related("patient")
        .prefetch_related("infusions")
        .order_by("-enrolled_at")
    )
    for e in enrollments:
        e.patient = person
    context = {
        "patient": person,
        "consent": _consent(person),
        "series": [_series_view(e, now) for e in enrollments],
        "audit": audit.for_patient(person.pk, person.time_zone),
    }
    return render(request, "staff/patient.html", context)


def _series_view(enrollment: Enrollment, now: datetime) -> dict[str, object]:
    version = catalog.version_by_id(enrollment.schedule_version_id)
    infusions = list(enrollment.infusions.all())
    return {
        "enrollment": enrollment,
        "title": version.title,
        "size": enrollment.series_size or catalog.schedule_of(version).infusions,
        "infusions": infusions,
        "done": sum(i.status == "done" for i in infusions),
        "rows": series.rows(enrollment, infusions, now),
        "open": enrollment.status in ("active", "paused"),
    }


def _consent(person: Patient) -> list[dict[str, object]]:
    """Per channel: the current state in words and the history, newest first."""
    history = list(ConsentRecord.objects.filter(patient=person).order_by("-recorded_at", "-pk"))
    result: list[dict[str, object]] = []
    for channel, label in (("sms", "Texts"), ("email", "Email")):
        records = [r for r in history if r.channel == channel]
        result.append(
            {"label": label, "state": _consent_words(person, channel, records), "history": records}
        )
    return result


def _consent_words(person: Patient, channel: str, records: list[ConsentRecord]) -> str:
    stopped = getattr(person, f"{channel}_opted_out_at")
    latest = records[0] if records else None
    if stopped:
        how = words.STOP_HOW.get(latest.method, "") if latest and not latest.granted else ""
        by = f" (recorded by {latest.recorded_by})" if latest and latest.method == "verbal" else ""
        return f"stopped on {words.local_date(stopped, person.time_zone)}: {how or 'by the patient'}{by}"
    if not getattr(person, f"{channel}_consent"):
        return "no consent"
    if latest is None:
        return "yes"
    how = words.CONSENT_HOW.get(latest.method, latest.get_method_display().lower())
    on = words.local_date(latest.recorded_at, person.time_zone)
    return f"yes, {how}, recorded by {latest.recorded_by} on {on}"


@staff_required
def message(request: HttpRequest, patient_id: int, delivery_id: int) -> HttpResponse:
    """One message: the copy drip kept when the provider accepted it (the words the patient
    got), or else rendered with today's details: as the patient will see it if it has not gone
    out, and as they saw it unless something it is rendered from changed since it went out (a
    message sent before drip kept copies), which the page then says."""
    d = get_object_or_404(
        Delivery.objects.select_related("enrollment__patient"),
        pk=delivery_id,
        enrollment__patient_id=patient_id,
    )
    person = d.enrollment.patient
    page = {
        "patient": person,
        "delivery": d,
        "title": series.step_title(d.step_key),
        "when": words.local_time(d.due_at, person.time_zone),
        "status": words.delivery_status(d.status, d.skip_reason, d.error_code, d.error_text),
        **(_as_sent(d) if d.sent_text else _with_todays_details(d)),
    }
    return render(request, "staff/message.html", page)


def _as_sent(d: Delivery) -> dict[str, object]:
    """The copy kept of a sent message: the SMS text, or the email's subject and plain text."""
    if d.channel == "sms":
        counted = count_segments(d.sent_text)
        sms = RenderedSms(text=d.sent_text, encoding=counted.encoding, segments=counted.segments)
        return {"as_sent": True, "sms": sms, "email": None}
    email = {"subject": d.sent_subject, "text": d.sent_text}
    return {"as_sent": True, "sms": None, "email": email}


def _with_todays_details(d: Delivery) -> dict[str, object]:
    person = d.enrollment.patient
    infusions = {i.number: i for i in d.enrollment.infusions.all()}
    context = context_for(person, series=d.enrollment, infusions=infusions, message=d)
    version = catalog.version_by_id(d.enrollment.schedule_version_id)
    template = catalog.template_of(version, d.message_key)
    return {
        "as_sent": False,
        "sms": render_sms(template, context) if d.channel == "sms" else None,
        "email": render_email(template, context) if d.channel == "email" else None,
        "changed": _changed_since_sent(d, version),
    }


_INFUSION_CHANGED = {
    AuditEvent.Event.INFUSION_MOVED: "was moved",
    AuditEvent.Event.INFUSION_ADDED: "was added",
}


def _changed_since_sent(d: Delivery, version: ScheduleVersion) -> str:
    """Why the page's copy of a message that went out may differ from the patient's, in words
    ("" if nothing it is rendered from changed after it went out, or it has not): a move to
    another schedule version, its infusion's time (moved, or booked after), the clinic's facts.
    At most two queries."""
    if d.status not in Delivery.WENT_OUT:
        return ""
    sent = d.sent_at or d.due_at
    series = d.enrollment
    causes = []
    if series.version_moved_at is not None and series.version_moved_at > sent:
        causes.append(f"the series moved to version {version.version} of the schedule")
    number = d.anchor_infusion or 1  # the infusion the message is about (context_for's rule)
    events = (
        AuditEvent.objects.filter(
            enrollment=series, event__in=_INFUSION_CHANGED, at__gt=sent, detail__infusion=number
        )
        .order_by("event")
        .values_list("event", flat=True)
        .distinct()
    )
    causes += [f"infusion {number} {_INFUSION_CHANGED[AuditEvent.Event(e)]}" for e in events]
    if clinic_facts.saved_since(sent):
        causes.append("the clinic's settings changed")
    if not causes:
        return ""
    what = causes[0] if len(causes) == 1 else f"{', '.join(causes[:-1])} and {causes[-1]}"
    when = words.local_time(sent, d.enrollment.patient.time_zone)
    return (
        f"Shown with today's details. Since this was sent on {when}, {what}, "
        "so the patient's copy may have said something different."
    )


# --- Enroll --------------------------------------------------------------------------------

CONSENT_WORDING = {
    "sms": "I agree to receive appointment reminders and education texts from {clinic}. "
    "Msg & data rates may apply. Message frequency varies. Reply STOP to stop, HELP for help.",
    "email": "I agree to receive appointment reminders and education emails from {clinic}. "
    "Every email has a link to stop them.",
}


@staff_required
def enroll_page(request: HttpRequest) -> HttpResponse:
    """Enroll a patient; nothing is saved until the service accepts all of it."""
    schedules = _schedules()
    form = EnrollForm(
        posted(request),
        schedules=schedules,
        initial={
            "series_size": _size(schedules[0][0]) if schedules else None,
            "time_zone": clinic_zone(),
            "consent_method": "verbal",
            "schedule": schedules[0][0] if schedules else "",
        },
    )
    if request.method == "POST" and form.is_valid():
        done = _enroll(request, form)
        if done is not None:
            return done
    clinic = clinic_facts.current()["clinic_name"]
    context = {
        "form": form,
        "zones": zone_names(),
        "wording": {k: v.format(clinic=clinic) for k, v in CONSENT_WORDING.items()},
        "sizes": {name: _size(name) for name, _ in schedules},
    }
    return render(request, "staff/enroll.html", context, status=400 if form.errors else 200)


def _enroll(request: HttpRequest, form: EnrollForm) -> HttpResponse | None:
    data = form.cleaned_data
    existing = _on_file(data["phone"], data["email"])
    if existing is not None:
        link = reverse("staff:patient", args=[existing.pk])
        form.add_error(
            None,
            format_html(
                '{} {} is already on file with this phone or email. <a href="{}">Open their page</a> instead of adding them twice.',
                existing.first_name,
                existing.last_name,
                link,
            ),
        )
        return None
    person = PatientInput(
        data["first_name"],
        data["last_name"],
        data["email"],
        data["phone"],
        data["time_zone"],
        data["sms_consent"],
        data["email_consent"],
        data["consent_method"],
    )
    if not _checks_pass(form, person, data["schedule"]):
        return None
    actor, now = staff_user(request), _now()
    try:
        with transaction.atomic():  # a refused series size undoes the enrollment too
            enrollment = enroll(
                person, form.infusions(), schedule=data["schedule"], now=now, actor=actor
            )
            size = data["series_size"]
            if size is not None and size != _size(data["schedule"]):
                set_series_size(enrollment, size, now=now, actor=actor)
    except EnrollmentError as error:
        form.add_service_error(error)
        return None
    messages.success(request, _planned_words(enrollment))
    return redirect("staff:patient", enrollment.patient_id)


def _checks_pass(form: EnrollForm, person: PatientInput, schedule: str) -> bool:
    """The service's own checks of the patient and of the infusions, run apart first so the
    page lists a problem in each part at once (enroll() stops at the first)."""
    problems = []
    try:
        zone = clean_patient(person).time_zone
    except EnrollmentError as error:
        problems.append(error)
        zone = clinic_zone()
    try:
        size = _size(schedule) if schedule else MAX_INFUSIONS
        clean_infusions(form.infusions(), zone, max(size, form.cleaned_data["series_size"] or 0))
    except EnrollmentError as error:
        problems.append(error)
    for problem in problems:
        form.add_service_error(problem)
    return not problems


def _on_file(phone: str, email: str) -> Patient | None:
    try:
        phone = clean_phone(phone) if phone.strip() else ""
    except EnrollmentError:
        phone = ""  # the service will say what is wrong with it
    # Lower() and "<> ''" match the partial unique indexes, so this reads one row, not all.
    match = (Q(phone=phone) & ~Q(phone="") if phone else Q()) | (
        Q(email_lower=email.strip().lower()) & ~Q(email="") if email.strip() else Q()
    )
    found = Patient.objects.alias(email_lower=Lower("email")).filter(match)
    return found.order_by("pk").first() if match else None


def _planned_words(enrollment: Enrollment) -> str:
    planned = enrollment.deliveries.filter(status=D.SCHEDULED).order_by("due_at")
    first = planned.first()
    if first is None:
        return "Enrolled. No messages are planned (check consent and infusion dates)."
    what = f"{series.step_title(first.step_key).lower()} {words.CHANNEL[first.channel].lower()}"
    when = words.local_time(first.due_at, enrollment.patient.time_zone)
    return f"Enrolled. {planned.count()} messages planned. The first, the {what}, goes out {when}."


def _schedules() -> list[tuple[str, str]]:
    names = ScheduleVersion.objects.order_by("name").values_list("name", "title").distinct()
    seen: dict[str, str] = {}
    for name, title in names:
        seen.setdefault(name, title)
    return list(seen.items())


def _size(name: str) -> int:
    return catalog.schedule_of(catalog.latest_version(name)).infusions
