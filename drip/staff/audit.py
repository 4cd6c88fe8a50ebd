"""The audit: every staff action in words (who, when, what, before and after), for admins on
one page and for everyone on each patient's page. Records outlive the patients they name."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from drip.models import AuditEvent, Patient
from drip.staff import words
from drip.staff.access import admin_required
from drip.staff.forms import clinic_zone

# Detail keys shown as a change rather than as a plain fact.
_CHANGE_KEYS = ("before", "after")


@admin_required
def audit(request: HttpRequest) -> HttpResponse:
    """Newest first; filter by user, event and patient id; 50 a page; a fixed number of queries."""
    chosen = {k: request.GET.get(k, "").strip() for k in ("user", "event", "patient")}
    found = _filtered(AuditEvent.objects.select_related("user"), chosen)
    page = Paginator(found.order_by("-at", "-pk"), 50).get_page(request.GET.get("page"))
    # Not select_related: a filter on patient_id makes Django join INNER, hiding the rows of a
    # deleted patient (the column keeps its id without a constraint).
    people = Patient.objects.in_bulk({e.patient_id for e in page.object_list} - {None})
    zone = clinic_zone()
    context = {
        "page": page,
        "rows": [_row_with_patient(e, people.get(e.patient_id), zone) for e in page.object_list],
        "chosen": chosen,
        "actors": _actor_names(),
        "events": AuditEvent.Event.choices,
        "query": urlencode({k: v for k, v in chosen.items() if v}),
        "zone": zone,
    }
    return render(request, "staff/audit.html", context)


def _actor_names() -> list[str]:
    """Everyone who can appear as "who": staff usernames, then the system actors."""
    names = get_user_model().objects.order_by("username").values_list("username", flat=True)
    return [*names, *AuditEvent.SYSTEM_ACTORS]


def _filtered(found: QuerySet[AuditEvent], chosen: dict[str, str]) -> QuerySet[AuditEvent]:
    if chosen["user"]:
        found = found.filter(actor=chosen["user"])
    if chosen["event"] in AuditEvent.Event.values:
        found = found.filter(event=chosen["event"])
    if chosen["patient"].isdigit():
        found = found.filter(patient_id=int(chosen["patient"]))
    return found


def _row_with_patient(e: AuditEvent, person: Patient | None, zone: str) -> dict[str, Any]:
    shown = row(e, person.time_zone if person else zone)
    return {**shown, "patient": person}


def for_patient(patient_id: int, zone: str) -> list[dict[str, Any]]:
    """The patient page's audit: their 50 latest records, in their zone."""
    events = AuditEvent.objects.filter(patient_id=patient_id).select_related("user")
    return [row(e, zone) for e in events.order_by("-at", "-pk")[:50]]


def row(e: AuditEvent, zone: str) -> dict[str, Any]:
    """One record in words: when (zone named), who, what, before -> after, other details."""
    return {
        "when": words.local_time(e.at, zone),
        "who": who(e),
        "what": words.EVENT.get(e.event, e.get_event_display()),
        "before": _shown(e.detail.get("before"), zone),
        "after": _shown(e.detail.get("after"), zone),
        "detail": ", ".join(
            f"{k}: {v}" for k, v in sorted(e.detail.items()) if k not in _CHANGE_KEYS
        ),
        "patient_id": e.patient_id,
    }


def who(e: AuditEvent) -> str:
    """The staff member's name and username, or the system actor ("patient", "twilio")."""
    name = e.user.get_full_name() if e.user is not None else ""
    return f"{name} ({e.actor})" if name else str(e.actor)


def _shown(value: object, zone: str) -> str:
    """An ISO time in the zone with the zone named; a status or number as it is."""
    if value is None:
        return ""
    if isinstance(value, str) and "T" in value:
        try:
            return words.local_time(datetime.fromisoformat(value), zone)
        except ValueError:
            return value
    return words.STATUS.get(str(value), str(value).replace("_", " "))
