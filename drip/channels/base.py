"""The one interface every channel implements: ``send(message) -> Receipt``.

A channel translates its provider's failures into ``TransientDeliveryError`` (retry later),
``PermanentDeliveryError`` (fail now) or ``RecipientOptedOutError`` (patient opted out), each
carrying the provider's error code. Nothing else escapes ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingSms:
    delivery_id: int
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


@dataclass(frozen=True)
class Receipt:
    provider_id: str  # Twilio Message SID, or the email's Message-ID


class SmsChannel(Protocol):
    def send(self, message: OutgoingSms) -> Receipt: ...


class EmailChannel(Protocol):
    def send(self, message: OutgoingEmail) -> Receipt: ...
