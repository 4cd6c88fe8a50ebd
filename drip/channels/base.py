"""The one interface every channel implements: ``async deliver(message) -> Receipt``, run on
the process's event loop (``io_loop``) by the sender, and ``send(message)``, the same call for
any other thread (tests, commands).

A channel translates its provider's failures into ``TransientDeliveryError`` (retry later),
``PermanentDeliveryError`` (fail now) or ``RecipientOptedOutError`` (patient opted out), each
carrying the provider's error code. Nothing else escapes ``deliver``/``send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class OutgoingSms:
    delivery_id: int  # 0: not a delivery (a staff alert): no status callback
    to: str  # E.164
    body: str


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int
    to: str
    subject: str
    text: str
    html: str
    unsubscribe_url: str  # https link with a signed token (List-Unsubscribe, RFC 8058)
    # Set for mail that is not a delivery (staff alerts); otherwise derived from delivery_id.
    message_id: str = ""
    # The clinic settings' From address; empty: the channel's own (DEFAULT_FROM_EMAIL).
    from_email: str = ""


@dataclass(frozen=True)
class Receipt:
    provider_id: str  # Twilio Message SID, or the email's Message-ID


class SmsChannel(Protocol):
    async def deliver(self, message: OutgoingSms) -> Receipt: ...
    def send(self, message: OutgoingSms) -> Receipt: ...
    # The copy the provider already took after an answer was lost (timeout), if any.
    async def find_accepted(self, message: OutgoingSms, *, since: datetime) -> Receipt | None: ...


class EmailChannel(Protocol):
    async def deliver(self, message: OutgoingEmail) -> Receipt: ...
    def send(self, message: OutgoingEmail) -> Receipt: ...
