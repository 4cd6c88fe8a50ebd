"""Twilio status callbacks: ``POST /webhooks/twilio/status?delivery=<id>``.

Callbacks are checked with the SDK's RequestValidator over every posted field and the
PUBLIC url (behind a proxy Django's own idea of the host is wrong). A forged one gets 403 and
changes nothing. Status only moves forward, by compare-and-set; a callback can settle a row left
'sending' by a worker that died after Twilio accepted the message (DESIGN §4).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from drip.channels import twilio_codes
from drip.enrollment.service import record_opt_out
from drip.models import Delivery, Patient
from drip.webhooks.signature import signed_by_twilio

log = logging.getLogger("drip.webhooks.twilio")
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


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Record a Twilio status callback for ``?delivery=<id>``. Always 2xx once signed: Twilio
    retries anything else, and an unknown or stale callback will not get better by retrying."""
    if not signed_by_twilio(request):
        log.warning("twilio.status.forged")
        return HttpResponseForbidden("invalid signature")
    delivery_id = _delivery_id(request.GET.get("delivery", ""))
    if delivery_id is None:  # we never mint such a URL: a bug or a probe, not worth a retry
        log.warning("twilio.status.bad_delivery_id")
        return HttpResponseBadRequest("delivery must be a delivery id")
    status = _TWILIO_STATUS.get(request.POST.get("MessageStatus", ""))
    sid = request.POST.get("MessageSid", "")
    if status is not None and sid:  # queued/sending/accepted: nothing to record
        with transaction.atomic():  # the status and a 21610 opt-out land together or not at all
            _apply_status(delivery_id, status, sid, request.POST.get("ErrorCode", ""))
    return HttpResponse(status=204)


_MAX_ID = 2**63 - 1  # a bigint primary key


def _delivery_id(text: str) -> int | None:
    """ASCII digits only ('²'.isdigit() is true, int('٣') is 3), within a bigint."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= _MAX_ID else None


def _apply_status(delivery_id: int, status: Delivery.Status, sid: str, error_code: str) -> None:
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
    if twilio_codes.parse_code(error_code) == twilio_codes.OPTED_OUT and (advanced or settled):
        patient = Patient.objects.get(enrollments__deliveries__pk=delivery_id)
        record_opt_out(patient, "sms", now=now, method="provider", actor="twilio")
        log.info("twilio.status.opted_out delivery_id=%s patient_id=%s", delivery_id, patient.pk)
