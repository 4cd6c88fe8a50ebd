"""SMS through Twilio's Messages API with the ``twilio`` SDK.

Provider answers become our errors (DESIGN §6): 20429, 429 and 5xx -> transient; 21610 (the
recipient replied STOP to the carrier) -> opted out; 21211, 21614, 21606, 21408 and any other
4xx -> permanent; timeouts and dropped connections -> transient.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from drip.channels.base import OutgoingSms, Receipt
from drip.errors import PermanentDeliveryError, RecipientOptedOutError, TransientDeliveryError

log = logging.getLogger("drip.channels.sms")
OPTED_OUT = 21610
RATE_LIMITED = 20429


class TwilioSms:
    """Thread-safe: one Twilio client (and keep-alive connection pool) per thread."""

    def __init__(self, account_sid: str, auth_token: str, *, from_number: str = "",
                 messaging_service_sid: str = "", status_callback_url: Callable[[int], str],
                 timeout_s: float = 10.0, api_base_url: str = "") -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSms needs a From number or a Messaging Service SID")
        self._sid, self._token = account_sid, auth_token
        self._sender = {"messaging_service_sid": messaging_service_sid} if messaging_service_sid else {"from_": from_number}
        self._callback = status_callback_url
        self._timeout_s = timeout_s
        self._base_url = api_base_url
        self._local = threading.local()

    def send(self, message: OutgoingSms) -> Receipt:
        try:
            created = self._client().messages.create(
                to=message.to, body=message.body,
                status_callback=self._callback(message.delivery_id), **self._sender,
            )
        except TwilioRestException as error:
            raise _translate(error) from None
        except requests.Timeout:
            raise TransientDeliveryError("timeout", f"no answer within {self._timeout_s} s") from None
        except requests.RequestException as error:
            raise TransientDeliveryError("connection", type(error).__name__) from None
        return Receipt(provider_id=str(created.sid))

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http = TwilioHttpClient(timeout=self._timeout_s, proxy=self._proxies())
            # requests re-reads proxy variables from the environment on every call (a third of
            # the SDK's CPU per message, profiled); they are read once, above, instead.
            http.session.trust_env = False
            client = Client(self._sid, self._token, http_client=http)
            if self._base_url:
                client.api.base_url = self._base_url.rstrip("/")
            self._local.client = client
        return client


    def _proxies(self) -> dict[str, str] | None:
        url = self._base_url or "https://api.twilio.com"
        return requests.utils.get_environ_proxies(url) or None


def _translate(error: TwilioRestException) -> Exception:
    code = error.code
    detail = str(error.msg)[:300] if error.msg else ""
    if code == OPTED_OUT:
        return RecipientOptedOutError(str(code), detail)
    if code == RATE_LIMITED or error.status == 429 or error.status >= 500:
        return TransientDeliveryError(str(code or error.status), detail)
    return PermanentDeliveryError(str(code or error.status), detail)
