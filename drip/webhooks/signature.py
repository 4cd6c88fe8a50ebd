"""Is this request from Twilio? One check for every Twilio webhook."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator


def signed_by_twilio(request: HttpRequest) -> bool:
    """The SDK's RequestValidator over every posted field and the PUBLIC url.

    Behind a proxy Django's own idea of the host is wrong, so the url is rebuilt from
    DRIP_PUBLIC_BASE_URL. An empty auth token signs nothing: anyone can sign with "".
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    url = settings.DRIP_PUBLIC_BASE_URL + request.get_full_path()
    # The QueryDict itself, so a repeated field is signed with every value (the SDK reads getlist).
    return bool(signature and token) and RequestValidator(token).validate(
        url, request.POST, signature
    )
