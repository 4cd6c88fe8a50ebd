"""Inbound SMS from Twilio: ``POST /webhooks/twilio/inbound``.

Signed (RequestValidator over every posted field and the PUBLIC url) or 403 with nothing
changed. The reply goes back in this response's own TwiML, built with the SDK's
``MessagingResponse``: immediate, and independent of the broker. A crisis alert is stored with
the message (drip.inbound.alerts) and then handed to Celery; if the broker is down the hand-off
fails fast and the dispatcher tick sends it instead.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from drip.inbound.service import receive_sms
from drip.webhooks.signature import signed_by_twilio

log = logging.getLogger("drip.webhooks.inbound")


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """Store the message, act on it, and answer in TwiML (empty when there is nothing to say)."""
    if not signed_by_twilio(request):
        log.warning("twilio.inbound.forged")
        return HttpResponseForbidden("invalid signature")
    sid = request.POST.get("MessageSid", "")
    if not sid:
        return HttpResponseBadRequest("MessageSid is missing")
    received = receive_sms(
        message_sid=sid,
        from_phone=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        now=timezone.now(),
    )
    if received.alert_id is not None:
        _enqueue_alert(received.alert_id)
    twiml = MessagingResponse()
    if received.reply:
        twiml.message(received.reply)
    return HttpResponse(str(twiml), content_type="text/xml")


def _enqueue_alert(alert_id: int) -> None:
    from drip.celery import enqueue_now
    from drip.tasks import send_alert

    # The patient's answer must not wait for a broker that is down: the notice rows are safe in
    # the database and the dispatcher tick sends them.
    if not enqueue_now(send_alert, alert_id):
        log.warning("alert.enqueue_failed alert_id=%s", alert_id)
