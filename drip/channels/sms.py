"""SMS through Twilio's Messages API with the ``twilio`` SDK.

Provider answers become our errors (DESIGN §6): 20429, 429 and 5xx -> transient; 21610 (the
recipient replied STOP to the carrier) -> opted out; 21211, 21614, 21606, 21408 and any other
4xx -> permanent; timeouts and dropped connections -> transient. Both of Twilio's error
formats are understood: the legacy JSON (``TwilioRestException``) and RFC 9457 problem
details (``TwilioServiceException``, which is not a subclass of the former).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client

from drip.channels import io_loop
from drip.channels.base import OutgoingSms, Receipt
from drip.channels.twilio_http import AiohttpClient
from drip.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientOptedOutError,
    TransientDeliveryError,
)

T = TypeVar("T")
log = logging.getLogger("drip.channels.sms")
OPTED_OUT = 21610
RATE_LIMITED = 20429
# Twilio's error messages quote the number ("The 'To' number +1212... is not valid"); the
# detail is stored on the delivery row and may be printed, so numbers are masked.
_PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")


class TwilioSms:
    """One Twilio client and keep-alive connection pool, used from the process's event loop
    (``io_loop``): ``deliver`` is the coroutine, ``send`` the same from any other thread.

    ``status_callback_url`` is a function of the delivery id, or a string with a
    ``{delivery_id}`` placeholder; either way the URL identifies the delivery.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str = "",
        messaging_service_sid: str = "",
        status_callback_url: Callable[[int], str] | str,
        timeout_s: float = 10.0,
        api_base_url: str = "",
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSms needs a From number or a Messaging Service SID")
        if isinstance(status_callback_url, str) and "{delivery_id}" not in status_callback_url:
            raise ValueError("status_callback_url needs a {delivery_id} placeholder")
        self._sender = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number}
        )
        self._callback = status_callback_url
        self._timeout_s = timeout_s
        self.transport = AiohttpClient(
            timeout=timeout_s, api_url=api_base_url or "https://api.twilio.com"
        )
        self._client = Client(account_sid, auth_token, http_client=self.transport)
        # The SDK reads TWILIO_EDGE/TWILIO_REGION from the environment and rewrites the API
        # host with them; drip talks to the plain host (or api_base_url), so leave them unset.
        self._client.edge = self._client.region = None
        if api_base_url:
            self._client.api.base_url = api_base_url.rstrip("/")

    def close(self) -> None:
        """Close the keep-alive connections (they reopen on the next send)."""
        if io_loop.in_running_loop():
            io_loop.run(self.transport.close())

    def status_callback_for(self, delivery_id: int) -> str:
        if isinstance(self._callback, str):
            return self._callback.format(delivery_id=delivery_id)
        return self._callback(delivery_id)

    def send(self, message: OutgoingSms) -> Receipt:
        return io_loop.run(self.deliver(message))

    async def deliver(self, message: OutgoingSms) -> Receipt:
        # A staff alert (delivery_id 0) is no delivery row: no status callback to record.
        callback = (
            {"status_callback": self.status_callback_for(message.delivery_id)}
            if message.delivery_id
            else {}
        )
        created = await self._ask(
            message,
            self._client.messages.create_async(
                to=message.to, body=message.body, **callback, **self._sender
            ),
        )
        if not created.sid:
            raise _unreadable(message.delivery_id)
        return Receipt(provider_id=str(created.sid))

    async def find_accepted(self, message: OutgoingSms, *, since: datetime) -> Receipt | None:
        """The message Twilio already took for this recipient, from our sender, with exactly this
        text, created since ``since``; None if there is none. Asked before sending again when an
        earlier attempt's answer was lost (a timeout, a dropped connection): Twilio may have
        accepted it, and a blind resend would reach the patient twice."""
        sender = {"from_": self._sender["from_"]} if "from_" in self._sender else {}
        recent = await self._ask(
            message,
            self._client.messages.list_async(to=message.to, limit=20, page_size=20, **sender),
        )
        for sent in recent:
            created = sent.date_created
            if sent.body == message.body and isinstance(created, datetime) and created >= since:
                return Receipt(provider_id=str(sent.sid))
        return None

    async def _ask(self, message: OutgoingSms, call: Awaitable[T]) -> T:
        """Await a call to Twilio; its failures become our errors."""
        try:
            return await call
        except (TwilioRestException, TwilioServiceException) as error:
            raise _translate(error) from None
        except aiohttp.ClientConnectorError:  # refused or unreachable
            raise TransientDeliveryError("connection", "could not connect to Twilio") from None
        except TimeoutError:
            raise TransientDeliveryError(
                "timeout", f"no answer within {self._timeout_s} s"
            ) from None
        except aiohttp.ClientError as error:  # reset, dropped, protocol error
            raise TransientDeliveryError("connection", type(error).__name__) from None
        except (
            TwilioException
        ) as error:  # a list page that did not load: ("Unable to fetch page", response)
            status = (
                int(getattr(error.args[1], "status_code", 0) or 0) if len(error.args) > 1 else 0
            )
            kind = (
                TransientDeliveryError
                if status in (0, 429) or status >= 500
                else PermanentDeliveryError
            )
            raise kind(str(status or "lookup"), "Twilio's message list did not load") from None
        except ValueError:  # a 2xx whose body is not JSON: the provider may have sent it
            raise _unreadable(message.delivery_id) from None


def _translate(error: TwilioRestException | TwilioServiceException) -> DeliveryError:
    status = int(error.status or 0)
    code = int(error.code) if str(error.code or "").isdigit() else None
    if isinstance(error, TwilioServiceException):
        raw = error.detail or error.title
    else:
        raw = error.msg
    detail = _PHONE_LIKE.sub("[number]", str(raw or ""))[:300]
    label = str(code or status)
    if code == OPTED_OUT:
        return RecipientOptedOutError(label, detail)
    if code == RATE_LIMITED or status == 429 or status >= 500:
        return TransientDeliveryError(label, detail)
    return PermanentDeliveryError(label, detail)


def _unreadable(delivery_id: int) -> PermanentDeliveryError:
    # Not transient: the provider answered 2xx, so the message may be on its way; a resend
    # could duplicate it. The status callback (it names the delivery) settles what happened.
    log.warning("sms.unreadable_response delivery_id=%s", delivery_id)
    return PermanentDeliveryError(
        "unreadable-response", "Twilio answered 2xx without a message SID"
    )
