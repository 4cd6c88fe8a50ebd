"""Twilio's error codes drip acts on, and what each means for a delivery: the one place they live.

A code comes as a JSON number in an API answer and as a form string (``ErrorCode``) in a status
callback; ``parse_code`` reads both, so every comparison is between integers.
https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import enum

RATE_LIMITED = 20429  # too many requests: slow down and try again
INVALID_TO_NUMBER = 21211  # the 'To' number is not a valid phone number
FROM_NOT_CAPABLE = 21606  # the 'From' number cannot send to this destination
REGION_NOT_ENABLED = 21408  # the account may not send SMS to this region
NOT_A_MOBILE_NUMBER = 21614  # the 'To' number cannot receive SMS
OPTED_OUT = 21610  # the recipient replied STOP to the carrier: never send them SMS again

# Named for readers of stored error codes; any other 4xx answer is permanent too.
PERMANENT = frozenset(
    {INVALID_TO_NUMBER, FROM_NOT_CAPABLE, REGION_NOT_ENABLED, NOT_A_MOBILE_NUMBER}
)


class Verdict(enum.Enum):
    """What an error answer means for the delivery."""

    TRANSIENT = "transient"  # retry later, with backoff
    PERMANENT = "permanent"  # fail now with the code
    OPTED_OUT = "opted_out"  # fail, and opt the patient out of SMS


def parse_code(value: object) -> int | None:
    """The code as an integer, from an int or a string of ASCII digits; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() else None


def classify(code: int | None, http_status: int) -> Verdict:
    """Twilio's error ``code`` (None if it sent none) and the HTTP status, as a verdict:
    20429, 429 and 5xx are transient; 21610 is an opt-out; anything else is permanent."""
    if code == OPTED_OUT:
        return Verdict.OPTED_OUT
    if code == RATE_LIMITED or http_status == 429 or http_status >= 500:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT
