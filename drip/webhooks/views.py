"""Endpoints the outside world calls: Twilio status callbacks and one-click email unsubscribe.

Twilio callbacks are checked with the SDK's RequestValidator over every posted field and the
PUBLIC url (behind a proxy Django's own idea of the host is wrong). A forged one gets 403 and
changes nothing. Status only moves forward, by compare-and-set; a callback can settle a row left
'sending' by a worker that died after Twilio accepted the message (DESIGN §4).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from twilio.request_validator import RequestValidator

from drip.delivery import links
from drip.enrollment.service import record_opt_out
from drip.models import Delivery, Patient

log = logging.getLogger("drip.webhooks.views")
S = Delivery.Status
_TWILIO_STATUS = {
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
}
# A row whose sid we know moves forward only: sent -> delivered | undelivered | failed.
_FORWARD_FROM = {S.SENT: (), S.DELIVERED: (S.SENT,), S.UNDELIVERED: (S.SENT,), S.FAILED: (S.SENT,)}
# drip/channels/sms.py fails a send whose 2xx answer had no readable sid with this code and
# leaves it to the callback to say what happened; like 'sending', it is not a provider verdict.
UNREADABLE_RESPONSE = "unreadable-response"
OPTED_OUT_CODE = "21610"


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Record a Twilio status callback for ``?delivery=<id>``. Always 2xx once signed: Twilio
    retries anything else, and an unknown or stale callback will not get better by retrying."""
    if not _signed_by_twilio(request):
        log.warning("twilio.status.forged")
        return HttpResponseForbidden("invalid signature")
    delivery_id = request.GET.get("delivery", "")
    status = _TWILIO_STATUS.get(request.POST.get("MessageStatus", ""))
    sid = request.POST.get("MessageSid", "")
    if (
        delivery_id.isdigit() and status is not None and sid
    ):  # queued/sending/accepted: nothing to record
        with transaction.atomic():  # the status and a 21610 opt-out land together or not at all
            _apply_status(int(delivery_id), status, sid, request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


def _signed_by_twilio(request: HttpRequest) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.DRIP_PUBLIC_BASE_URL + request.get_full_path()
    # The QueryDict itself, so a repeated field is signed with every value (the SDK reads getlist).
    return bool(signature) and RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(
        url, request.POST, signature
    )


def _apply_status(delivery_id: int, status: str, sid: str, error_code: str) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"status": status, "error_code": "", "error_text": ""}
    if status == S.DELIVERED:
        fields["delivered_at"] = now
    if status in (S.UNDELIVERED, S.FAILED):
        fields["error_code"], fields["error_text"] = error_code[:30], f"carrier reported {status}"
    row = Delivery.objects.filter(pk=delivery_id)
    advanced = row.filter(status__in=_FORWARD_FROM[status], provider_id=sid).update(**fields)
    unsettled = Q(status=S.SENDING, provider_id__in=("", sid)) | Q(
        status=S.FAILED, error_code=UNREADABLE_RESPONSE, provider_id=""
    )
    settled = (
        0 if advanced else row.filter(unsettled).update(provider_id=sid, sent_at=now, **fields)
    )
    log.info(
        "twilio.status delivery_id=%s status=%s advanced=%s settled=%s",
        delivery_id,
        status,
        advanced,
        settled,
    )
    if error_code == OPTED_OUT_CODE and (advanced or settled):
        patient = Patient.objects.get(enrollments__deliveries__pk=delivery_id)
        record_opt_out(patient, "sms", now=now, method="provider", actor="twilio")
        log.info("twilio.status.opted_out delivery_id=%s patient_id=%s", delivery_id, patient.pk)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click: POST unsubscribes (no login, no redirect, idempotent); GET only asks,
    because mail scanners follow links. Any POST counts, with or without the one-click body."""
    context = {
        "clinic_name": settings.DRIP_CLINIC["clinic_name"],
        "clinic_phone": settings.DRIP_CLINIC["clinic_phone"],
    }
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


def healthz(request: HttpRequest) -> HttpResponse:
    """For the container healthcheck: the process answers and the database is reachable."""
    Delivery.objects.exists()
    return HttpResponse("ok", content_type="text/plain")
