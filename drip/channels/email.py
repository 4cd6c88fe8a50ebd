"""Email over SMTP with Django's mail: multipart text + HTML, one-click unsubscribe headers.

Provider answers become our errors: SMTP 4xx -> transient, 5xx -> permanent; a dropped or
refused connection or a timeout -> transient.
"""

from __future__ import annotations

import smtplib
import socket
import threading

from django.core.mail import EmailMultiAlternatives, get_connection

from drip.channels.base import OutgoingEmail, Receipt
from drip.errors import PermanentDeliveryError, TransientDeliveryError


def message_id(delivery_id: int, domain: str) -> str:
    """Derived from the delivery id: a resent copy would carry the same Message-ID."""
    return f"<drip.delivery.{delivery_id}@{domain}>"


def build_email_message(message: OutgoingEmail, *, from_email: str, domain: str) -> EmailMultiAlternatives:
    headers = {"Message-ID": message_id(message.delivery_id, domain)}
    if message.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail = EmailMultiAlternatives(message.subject, message.text, from_email, [message.to], headers=headers)
    mail.attach_alternative(message.html, "text/html")
    return mail


class SmtpEmail:
    """Thread-safe: one SMTP connection per thread, kept open and reopened after an error."""

    def __init__(self, *, host: str, port: int, username: str = "", password: str = "",
                 use_tls: bool = False, timeout_s: float = 10.0, from_email: str,
                 message_id_domain: str) -> None:
        self._options = dict(host=host, port=port, username=username, password=password,
                             use_tls=use_tls, timeout=timeout_s)
        self.from_email = from_email
        self.domain = message_id_domain
        self._local = threading.local()

    def send(self, message: OutgoingEmail) -> Receipt:
        mail = build_email_message(message, from_email=self.from_email, domain=self.domain)
        mail.connection = self._connection()
        try:
            mail.send(fail_silently=False)
        except Exception as error:
            self._drop_connection()
            raise _translate(error) from error
        return Receipt(provider_id=mail.extra_headers["Message-ID"])

    def _connection(self):  # type: ignore[no-untyped-def]
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = get_connection("django.core.mail.backends.smtp.EmailBackend",
                                        fail_silently=False, **self._options)
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
                pass


def _translate(error: Exception) -> Exception:
    code = _smtp_code(error)
    if code is not None:
        kind = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
        return kind(f"smtp-{code}", _smtp_text(error))
    if isinstance(error, (socket.timeout, TimeoutError)):
        return TransientDeliveryError("timeout", "SMTP server did not answer in time")
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return TransientDeliveryError("connection", type(error).__name__)
    return error


def _smtp_code(error: Exception) -> int | None:
    if isinstance(error, smtplib.SMTPResponseException):
        return int(error.smtp_code)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        return int(next(iter(error.recipients.values()))[0])
    return None


def _smtp_text(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        raw = error.smtp_error
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:300]
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        raw = next(iter(error.recipients.values()))[1]
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:300]
    return type(error).__name__
