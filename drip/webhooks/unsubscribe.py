"""One-click email unsubscribe (RFC 8058): ``GET|POST /u/<token>``, no login."""

from __future__ import annotations

import logging

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from drip.catalog import clinic
from drip.delivery import links
from drip.enrollment.service import record_opt_out
from drip.models import Patient

log = logging.getLogger("drip.webhooks.unsubscribe")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click: POST unsubscribes (no login, no redirect, idempotent); GET only asks,
    because mail scanners follow links. Any POST counts, with or without the one-click body."""
    facts = clinic.current()
    context = {"clinic_name": facts["clinic_name"], "clinic_phone": facts["clinic_phone"]}
    try:
        patient_id, channel = links.read_unsubscribe_token(token)
        patient = Patient.objects.get(pk=patient_id)
    except (signing.BadSignature, Patient.DoesNotExist, KeyError, TypeError, ValueError):
        log.info("unsubscribe.invalid_link")
        return render(request, "drip/unsubscribe_invalid.html", context, status=400)
    if channel != "email":  # these pages only speak of email; no other link is ever minted
        log.warning("unsubscribe.unexpected_channel patient_id=%s", patient_id)
        return render(request, "drip/unsubscribe_invalid.html", context, status=400)
    if request.method == "GET":
        return render(request, "drip/unsubscribe_confirm.html", context)
    record_opt_out(patient, "email", now=timezone.now(), method="email_link", actor="patient")
    log.info("unsubscribe.done patient_id=%s", patient_id)
    return render(request, "drip/unsubscribed.html", context)
