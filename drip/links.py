"""Signed links in messages: one-click email unsubscribe."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "drip.unsubscribe"


def unsubscribe_url(patient_id: int, channel: str = "email") -> str:
    token = signing.dumps({"p": patient_id, "c": channel}, salt=_SALT, compress=True)
    return f"{settings.DRIP_PUBLIC_BASE_URL}/u/{token}"


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    """(patient_id, channel); raises signing.BadSignature for a forged or damaged token."""
    data = signing.loads(token, salt=_SALT)
    return int(data["p"]), str(data["c"])
