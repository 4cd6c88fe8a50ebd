"""Email over SMTP with Django's mail: multipart text + HTML, one-click unsubscribe headers.

Provider answers become our errors: SMTP 4xx -> transient, 5xx -> permanent; a dropped or
refused connection or a timeout -> transient.
"""

from __future__ import annotations

import random
import re
import smtplib
import threading
import weakref
from email.policy import Compat32
from email.utils import parseaddr
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend

from drip.channels.base import OutgoingEmail, Receipt
from drip.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

# SMTP replies often quote the address ("550 5.1.1 <alex@...>: Recipient address rejected");
# the detail is stored on the delivery row and may be printed, so addresses are masked.
_ADDRESS_LIKE = re.compile(r"[^\s<>\"'@]+@[^\s<>\"']+")
# A kept-open connection the server has since closed (idle timeout) fails like this.
_STALE = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


def message_id(delivery_id: int, domain: str) -> str:
    """Derived from the delivery id: a resent copy would carry the same Message-ID."""
    return f"<drip.delivery.{delivery_id}@{domain}>"


class FastFoldingPolicy(Compat32):
    """Python's compat32 policy (Django's), with a shortcut for headers that need no folding
    or encoding: short, printable ASCII, single-spaced. The bytes are the same (tested); the
    general path cost more than half of a message's serialisation, profiled."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (isinstance(value, str) and len(name) + len(value) + 2 <= (self.max_line_length or 78)
                and value.isascii() and value.isprintable() and "  " not in value and value == value.strip()):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)  # type: ignore[no-any-return]


FAST_FOLDING = FastFoldingPolicy()


class DripEmailMessage(EmailMultiAlternatives):
    """Django's multipart email, serialised faster: the fast-folding policy, and a random
    boundary set up front (Python's generator otherwise compiles a new regular expression for
    every message to check the boundary it picks against the body)."""

    def message(self) -> Any:
        msg = super().message()
        msg.policy = FAST_FOLDING  # the generator uses the root's policy for every part
        if msg.is_multipart():
            msg.set_boundary(f"=_drip_{random.getrandbits(128):032x}")  # 128 random bits: in no body
        return msg


def build_email_message(message: OutgoingEmail, *, from_email: str, domain: str) -> EmailMultiAlternatives:
    """The MIME message SMTP and the file outbox both send: text, an HTML alternative, headers."""
    headers = {"From": from_email, "To": message.to, "Message-ID": message_id(message.delivery_id, domain)}
    if message.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # The envelope addresses as (name, address) pairs: Django's SMTP backend then skips its full
    # RFC 5322 parse of each (a fifth of an email's CPU, profiled); the headers carry the text.
    mail = DripEmailMessage(message.subject, message.text, _pair(from_email), [_pair(message.to)], headers=headers)
    mail.attach_alternative(message.html, "text/html")
    return mail


def _pair(address: str) -> tuple[str, str]:
    name, addr = parseaddr(address)
    if "@" not in addr:
        raise ValueError("not an email address")  # the address is not repeated: it is personal data
    return name, addr


class SmtpEmail:
    """Thread-safe: one SMTP connection per thread, kept open and reopened after an error.

    ``close()`` closes every thread's connection; so does garbage collection of the channel.
    """

    def __init__(self, *, host: str, port: int, username: str = "", password: str = "",
                 use_tls: bool = False, timeout_s: float = 10.0, from_email: str,
                 message_id_domain: str) -> None:
        self._options = dict(host=host, port=port, username=username, password=password,
                             use_tls=use_tls, timeout=timeout_s)
        self.from_email = from_email
        self.domain = message_id_domain
        self._local = threading.local()
        # Every thread's connection, so close() reaches them all; the finalizer closes them if
        # the channel is dropped without close() (a socket must not be left to the collector).
        self._open: set[EmailBackend] = set()
        self._open_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._open, self._open_lock)

    def close(self) -> None:
        """Close every thread's SMTP connection (they reopen on the next send)."""
        _close_all(self._open, self._open_lock)

    def send(self, message: OutgoingEmail) -> Receipt:
        mail = build_email_message(message, from_email=self.from_email, domain=self.domain)
        try:
            try:
                self._send_on(self._connection(), mail)
            except _STALE as error:
                if not self._local.reused or _timed_out(error):
                    raise  # a fresh connection failing, or a stall: not a stale connection
                # The server closed our idle connection; nothing was accepted. Once more, fresh.
                self._drop_connection()
                self._send_on(self._connection(), mail)
        except Exception as error:
            self._drop_connection()
            translated = _translate(error)
            if translated is None:
                raise
            raise translated from None  # the chain would repeat the recipient address
        return Receipt(provider_id=mail.extra_headers["Message-ID"])

    @staticmethod
    def _send_on(connection: EmailBackend, mail: EmailMultiAlternatives) -> None:
        mail.connection = connection
        mail.send(fail_silently=False)

    def _connection(self) -> EmailBackend:
        connection: EmailBackend | None = getattr(self._local, "connection", None)
        # A backend whose socket close() has closed counts as none (it would reconnect per message).
        self._local.reused = connection is not None and connection.connection is not None
        if connection is None or connection.connection is None:
            connection = get_connection("django.core.mail.backends.smtp.EmailBackend",
                                        fail_silently=False, **self._options)
            try:
                # Opened here, so Django's send_messages() does not close it after each message.
                connection.open()
            except BaseException:
                _close_quietly(connection)  # a half-open one (STARTTLS or login failed) holds a socket
                raise
            self._local.connection = connection
            with self._open_lock:
                self._open.add(connection)
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._open_lock:
                self._open.discard(connection)
            _close_quietly(connection)


def _close_all(connections: set[EmailBackend], lock: threading.Lock) -> None:
    with lock:
        closing = list(connections)
        connections.clear()
    for connection in closing:
        _close_quietly(connection)


def _close_quietly(connection: EmailBackend) -> None:
    """QUIT politely if the server is still there; in any case release the socket."""
    # Django 5.2 keeps a half-open connection (STARTTLS or login failed) in _partial_connection.
    sockets = [connection.connection, getattr(connection, "_partial_connection", None)]
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
        for smtp in sockets:
            if smtp is not None:
                smtp.close()  # no I/O: just closes the socket


def _translate(error: Exception) -> DeliveryError | None:
    code = _smtp_code(error)
    if code is not None:
        kind = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
        return kind(f"smtp-{code}", _smtp_text(error))
    if _timed_out(error):
        return TransientDeliveryError("timeout", "SMTP server did not answer in time")
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return TransientDeliveryError("connection", type(error).__name__)
    return None


def _timed_out(error: BaseException) -> bool:
    # smtplib reports a read that timed out as SMTPServerDisconnected, the timeout as its context.
    return isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError)  # socket.timeout too


def _smtp_code(error: Exception) -> int | None:
    if isinstance(error, smtplib.SMTPResponseException):
        return int(error.smtp_code)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        return int(next(iter(error.recipients.values()))[0])
    return None


def _smtp_text(error: Exception) -> str:
    raw: bytes | str = type(error).__name__
    if isinstance(error, smtplib.SMTPResponseException):
        raw = error.smtp_error
    elif isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        raw = next(iter(error.recipients.values()))[1]
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return _ADDRESS_LIKE.sub("[address]", text)[:300]
