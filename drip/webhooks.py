"""Endpoints the outside world calls: Twilio status callbacks and one-click email unsubscribe.

Twilio callbacks are checked with the SDK's RequestValidator over every posted field and the
PUBLIC url (behind a proxy Django's own idea of the host is wrong). A forged one gets 403 and
changes nothing. Status only moves forward; a callback can settle a row left 'sending' by a
worker that died after Twilio accepted the message.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from twilio.request_validator import RequestValidator

from drip import links
from drip.enrollment import record_opt_out
from drip.models import Delivery, Patient

log = logging.getLogger("drip.webhooks")
S = Delivery.Status
# For each status a callback may report: the statuses it may move a row from (forward only).
_MOVES_FROM = {
    S.SENT: (S.SENDING,),
    S.DELIVERED: (S.SENDING, S.SENT),
    S.UNDELIVERED: (S.SENDING, S.SENT),
    S.FAILED: (S.SENDING, S.SENT),
}
_TWILIO_STATUS = {"sent": S.SENT, "delivered": S.DELIVERED, "undelivered": S.UNDELIVERED, "failed": S.FAILED}


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    if not _signed_by_twilio(request):
        log.warning("twilio.status.forged")
        return HttpResponseForbidden("invalid signature")
    delivery_id = request.GET.get("delivery", "")
    status = _TWILIO_STATUS.get(request.POST.get("MessageStatus", ""))
    if not delivery_id.isdigit() or status is None:
        return HttpResponse(status=204)  # queued/sending/accepted: nothing to record
    _apply_status(int(delivery_id), status, request.POST.get("MessageSid", ""), request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


def _signed_by_twilio(request: HttpRequest) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.DRIP_PUBLIC_BASE_URL + request.get_full_path()
    params = {key: request.POST.get(key) for key in request.POST}
    return bool(signature) and RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature)


def _apply_status(delivery_id: int, status: str, sid: str, error_code: str) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"status": status}
    if status == S.DELIVERED:
        fields["delivered_at"] = now
    if status in (S.UNDELIVERED, S.FAILED) and error_code:
        fields["error_code"] = error_code[:30]
        fields["error_text"] = f"carrier reported {status}"
    rows = Delivery.objects.filter(pk=delivery_id, status__in=_MOVES_FROM[status])
    # The sid must match the row's own, unless the row never recorded one (died before commit).
    matched = rows.filter(provider_id=sid).update(**fields)
    settled = 0 if matched else rows.filter(status=S.SENDING, provider_id="").update(
        provider_id=sid, sent_at=now, **fields)
    log.info("twilio.status delivery_id=%s status=%s changed=%s settled=%s", delivery_id, status, matched, settled)
    if error_code == "21610" and (matched or settled):
        patient = Patient.objects.get(enrollments__deliveries__pk=delivery_id)
        record_opt_out(patient, "sms", now=now, method="provider", actor="twilio")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click: POST unsubscribes (no login, no redirect, idempotent); GET only asks,
    because mail scanners follow links."""
    try:
        patient_id, channel = links.read_unsubscribe_token(token)
        patient = Patient.objects.get(pk=patient_id)
    except (signing.BadSignature, Patient.DoesNotExist, KeyError, ValueError):
        return render(request, "drip/unsubscribe_invalid.html", status=400)
    context = {"clinic_name": settings.DRIP_CLINIC["clinic_name"], "clinic_phone": settings.DRIP_CLINIC["clinic_phone"]}
    if request.method == "GET":
        return render(request, "drip/unsubscribe_confirm.html", context)
    record_opt_out(patient, channel, now=timezone.now(), method="email_link", actor="patient")
    log.info("unsubscribe.done patient_id=%s channel=%s", patient_id, channel)
    return render(request, "drip/unsubscribed.html", context)


def healthz(request: HttpRequest) -> HttpResponse:
    """For the container healthcheck: the process answers and the database is reachable."""
    Delivery.objects.exists()
    return HttpResponse("ok", content_type="text/plain")
