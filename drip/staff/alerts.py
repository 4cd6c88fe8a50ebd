"""Crisis alerts on the staff pages: the red band on every page until someone acknowledges,
the alert page (who, what, when, who was told) with its Acknowledge button, and the list."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from drip.models import Alert, AuditEvent, InboundMessage
from drip.staff import conversation, words
from drip.staff.access import staff_required, staff_user
from drip.staff.forms import clinic_zone

BANNER_MAX = 3  # alerts named in the band; more are counted with a link to the list


def banner(request: HttpRequest) -> dict[str, Any]:
    """Context for every staff page: the open alerts (one query, only when a page shows them)
    and the inbox's unread count. Only for people past staff_required's checks."""
    if not getattr(request, "drip_staff_member", False):
        return {}
    return {"waiting": SimpleLazyObject(_waiting)}


def _waiting() -> dict[str, Any]:
    """``open_alerts``: the newest BANNER_MAX + 1 not acknowledged; ``inbox_unread``: a count."""
    found = Alert.objects.filter(acknowledged_at__isnull=True).select_related("patient")
    return {
        "open_alerts": list(found.order_by("-created_at")[: BANNER_MAX + 1]),
        "inbox_unread": InboundMessage.objects.filter(status=InboundMessage.Status.UNREAD).count(),
    }


@staff_required
def alert_list(request: HttpRequest) -> HttpResponse:
    """Every alert, the ones not yet acknowledged first, newest first; 25 a page."""
    unacknowledged_first = Case(When(acknowledged_at__isnull=True, then=0), default=1)
    alerts = Alert.objects.select_related("patient").order_by(
        unacknowledged_first, "-created_at", "-pk"
    )
    page = Paginator(alerts, settings.DRIP_STAFF_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {"alert": a, "when": words.local_time(a.created_at, _zone(a)), "status": _status(a)}
        for a in page.object_list
    ]
    return render(request, "staff/alerts.html", {"page": page, "rows": rows})


@staff_required
def alert_page(request: HttpRequest, alert_id: int) -> HttpResponse:
    """The patient (or number), the message, when, who was told and how; Acknowledge."""
    alert = get_object_or_404(Alert.objects.select_related("patient", "inbound"), pk=alert_id)
    zone = _zone(alert)
    context = {
        "alert": alert,
        "when": words.local_time(alert.created_at, zone),
        "zone": zone,
        "status": _status(alert),
        "notices": list(alert.notices.order_by("channel", "pk")),
    }
    return render(request, "staff/alert.html", context)


@staff_required
@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Record who acknowledged and when (the first person only: compare-and-set), audited."""
    alert = get_object_or_404(Alert, pk=alert_id)
    actor, now = request.user.get_username(), timezone.now()
    with transaction.atomic():
        won = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=actor, acknowledged_at=now
        )
        if won:
            AuditEvent.record(
                staff_user(request),
                AuditEvent.Event.ALERT_ACKNOWLEDGED,
                at=now,
                patient_id=alert.patient_id,
                detail={"alert_id": alert.pk, "inbound_id": alert.inbound_id},
            )
    alert.refresh_from_db()
    if won:
        messages.success(
            request, f"Alert #{alert.pk} acknowledged by you at {_status_time(alert)}."
        )
    else:
        messages.info(request, f"Already acknowledged: {_status(alert)}.")
    return redirect("staff:alert", alert.pk)


def notice_link(request: HttpRequest, alert_id: int) -> HttpResponse:
    """/staff/alerts/<id>, the address the on-call notices carry: the alert page."""
    return redirect("staff:alert", alert_id)


def _zone(alert: Alert) -> str:
    return alert.patient.time_zone if alert.patient is not None else clinic_zone()


def _status(alert: Alert) -> str:
    return conversation.alert_status(alert, _zone(alert))


def _status_time(alert: Alert) -> str:
    assert alert.acknowledged_at is not None
    return words.local_time(alert.acknowledged_at, _zone(alert))
