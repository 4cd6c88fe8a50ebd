"""Email over SMTP: Django's mail builds the message (multipart text + HTML, one-click
unsubscribe headers); aiosmtplib carries it, on the process's event loop (``io_loop``).

Why not Django's SMTP backend for the transfer: it is smtplib, one blocking thread per
connection, and at a hundred threads the hand-offs cost more CPU than the message (measured:
docs/history.md, "Stack changes").

STARTTLS (``tls``): ``require`` refuses a server that does not offer it, ``opportunistic`` (the
default) upgrades whenever the server offers it, ``off`` never does. The certificate is always
checked once TLS is on: a server offering STARTTLS with a bad certificate fails the send
(transient), it is not silently downgraded to plain text.

Provider answers become our errors: SMTP 4xx -> transient, 5xx -> permanent; a dropped or
refused connection or a timeout -> transient.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
from email.policy import Compat32
from email.utils import parseaddr
from typing import Any, cast

import aiosmtplib
from django.core.mail import EmailMultiAlternatives

from drip.channels import io_loop
from drip.channels.base import OutgoingEmail, Receipt
from drip.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

# SMTP replies often quote the address ("550 5.1.1 <alex@...>: Recipient address rejected");
# the detail is stored on the delivery row and may be printed, so addresses are masked.
_ADDRESS_LIKE = re.compile(r"[^\s<>\"'@]+@[^\s<>\"']+")
# aiosmtplib's start_tls: True = required, None = when the server offers it, False = never.
_START_TLS = {"require": True, "opportunistic": None, "off": False}
# A kept-open connection the server has since closed (idle timeout) fails like this.
_STALE = (aiosmtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


def message_id(delivery_id: int, domain: str) -> str:
    """Derived from the delivery id: a resent copy would carry the same Message-ID."""
    return f"<drip.delivery.{delivery_id}@{domain}>"


class FastFoldingPolicy(Compat32):
    """Python's compat32 policy (Django's), with a shortcut for headers that need no folding
    or encoding: short, printable ASCII, single-spaced. The bytes are the same (tested); the
    general path cost more than half of a message's serialisation, profiled."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (
            isinstance(value, str)
            and len(name) + len(value) + 2 <= (self.max_line_length or 78)
            and value.isascii()
            and value.isprintable()
            and "  " not in value
            and value == value.strip()
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


FAST_FOLDING = FastFoldingPolicy()


class DripEmailMessage(EmailMultiAlternatives):
    """Django's multipart email, serialised faster: the fast-folding policy, and a random
    boundary set up front (Python's generator otherwise compiles a new regular expression for
    every message to check the boundary it picks against the body)."""

    def message(self) -> Any:
        msg = super().message()
        msg.policy = FAST_FOLDING  # the generator uses the root's policy for every part
        if msg.is_multipart():
            msg.set_boundary(
                f"=_drip_{random.getrandbits(128):032x}"
            )  # 128 random bits: in no body
        return msg


def build_email_message(
    message: OutgoingEmail, *, from_email: str, domain: str, reply_to: str = ""
) -> EmailMultiAlternatives:
    """The MIME message SMTP and the file outbox both send: text, an HTML alternative, headers."""
    from_email = message.from_email or from_email
    headers = {
        "From": from_email,
        "To": message.to,
        "Message-ID": message.message_id or message_id(message.delivery_id, domain),
    }
    if reply_to:  # a watched mailbox: a patient's answer reaches a person, not a dead address
        headers["Reply-To"] = reply_to
    if message.unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # The addresses as (name, address) pairs: the SMTP envelope takes the bare addresses from
    # them, no second RFC 5322 parse; the From/To headers carry the text as given.
    mail = DripEmailMessage(
        message.subject,
        message.text,
        _pair(from_email),  # type: ignore[arg-type]  # Django takes pairs (sanitize_address); its stubs say str
        [_pair(message.to)],  # type: ignore[list-item]  # as above
        headers=headers,
    )
    mail.attach_alternative(message.html, "text/html")
    return mail


def _pair(address: str) -> tuple[str, str]:
    name, addr = parseaddr(address)
    if "@" not in addr:
        raise ValueError("not an email address")  # the address is not repeated: it is personal data
    return name, addr


def _envelope(mail: EmailMultiAlternatives) -> tuple[str, list[str]]:
    """The bare sender and recipient addresses of the (name, address) pairs
    ``build_email_message`` gave Django (its stubs type them as strings)."""
    sender = cast(tuple[str, str], mail.from_email)
    recipients = cast(list[tuple[str, str]], mail.to)
    return sender[1], [address for _, address in recipients]


class SmtpEmail:
    """A pool of kept-open SMTP connections, used from the process's event loop: ``deliver`` is
    the coroutine, ``send`` the same from any other thread. A connection serves one message at
    a time; as many open as messages are in flight (the sender bounds that)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        tls: str = "opportunistic",
        tls_context: ssl.SSLContext | None = None,
        timeout_s: float = 10.0,
        from_email: str,
        message_id_domain: str,
        reply_to: str = "",
    ) -> None:
        self._options: dict[str, Any] = dict(
            hostname=host,
            port=port,
            username=username or None,
            password=password or None,
            start_tls=_START_TLS[tls],
            tls_context=tls_context,  # None: the system's trusted certificates
            timeout=timeout_s,
        )
        self.from_email = from_email
        self.reply_to = reply_to
        self.domain = message_id_domain
        self._idle: list[aiosmtplib.SMTP] = []  # touched only on the loop's thread
        self._loop: asyncio.AbstractEventLoop | None = (
            None  # the loop the idle connections belong to
        )
        io_loop.close_when_collected(self, _quit_all, self._idle)

    def close(self) -> None:
        """QUIT every idle connection (new ones open on the next send)."""
        if io_loop.in_running_loop():
            io_loop.run(_quit_all(self._idle))

    def send(self, message: OutgoingEmail) -> Receipt:
        return io_loop.run(self.deliver(message))

    async def deliver(self, message: OutgoingEmail) -> Receipt:
        mail = build_email_message(
            message, from_email=self.from_email, domain=self.domain, reply_to=self.reply_to
        )
        raw = mail.message().as_bytes(linesep="\r\n")
        envelope = _envelope(mail)
        connection = None
        try:
            connection, reused = await self._take()
            try:
                await connection.sendmail(*envelope, raw)
            except _STALE as error:
                if not reused or _timed_out(error):
                    raise  # a fresh connection failing, or a stall: not a stale connection
                # The server closed our idle connection; nothing was accepted. Once more, fresh.
                connection.close()
                connection, _ = await self._take(fresh=True)
                await connection.sendmail(*envelope, raw)
        except Exception as error:
            if connection is not None:
                connection.close()  # after any error: the next message starts on a clean one
            translated = _translate(error)
            if translated is None:
                raise
            raise translated from None  # the chain would repeat the recipient address
        self._idle.append(connection)
        return Receipt(provider_id=mail.extra_headers["Message-ID"])

    async def _take(self, *, fresh: bool = False) -> tuple[aiosmtplib.SMTP, bool]:
        """An idle connection that is still open, else a new one: (connection, reused)."""
        if self._loop is not asyncio.get_running_loop():  # e.g. forked: the parent's are not ours
            self._idle.clear()
            self._loop = asyncio.get_running_loop()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.is_connected:
                return connection, True
        connection = aiosmtplib.SMTP(**self._options)
        try:
            await connection.connect()  # EHLO, STARTTLS and login as configured
        except BaseException:
            connection.close()
            raise
        return connection, False


async def _quit_all(idle: list[aiosmtplib.SMTP]) -> None:
    """QUIT politely where the server is still there; in any case release the sockets."""
    closing = list(idle)
    idle.clear()
    for connection in closing:
        try:
            await connection.quit()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
            connection.close()


def _translate(error: Exception) -> DeliveryError | None:
    code = _smtp_code(error)
    if code is not None:
        kind = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
        return kind(f"smtp-{code}", _smtp_text(error))
    if _timed_out(error):
        return TransientDeliveryError("timeout", "SMTP server did not answer in time")
    if isinstance(error, (aiosmtplib.SMTPException, OSError)):
        return TransientDeliveryError("connection", type(error).__name__)
    return None


def _timed_out(error: BaseException) -> bool:
    return isinstance(error, TimeoutError)  # aiosmtplib's timeouts are TimeoutErrors


def _refusal(error: Exception) -> aiosmtplib.SMTPResponseException | None:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return error
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        return error.recipients[0]
    return None


def _smtp_code(error: Exception) -> int | None:
    refusal = _refusal(error)
    return int(refusal.code) if refusal is not None else None


def _smtp_text(error: Exception) -> str:
    refusal = _refusal(error)
    text = refusal.message if refusal is not None else type(error).__name__
    return _ADDRESS_LIKE.sub("[address]", text)[:300]
