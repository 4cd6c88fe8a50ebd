"""Signed links in messages: one-click email unsubscribe."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "drip.unsubscribe"


def unsubscribe_url(patient_id: int, channel: str = "email") -> str:
    """``/u/<patient>.<channel>:<HMAC>``: Django's Signer (an HMAC only; one per email sent, so
    the lighter form rather than ``signing.dumps``' JSON and compression)."""
    token = signing.Signer(salt=_SALT).sign(f"{patient_id}.{channel}")
    return f"{settings.DRIP_PUBLIC_BASE_URL}/u/{token}"


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    """(patient_id, channel); raises signing.BadSignature for a forged or damaged token."""
    patient, _, channel = signing.Signer(salt=_SALT).unsign(token).partition(".")
    return int(patient), channel
