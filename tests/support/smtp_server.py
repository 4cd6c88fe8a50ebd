"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and can refuse.

Runs in-process (``SmtpServer().start()``) or as a process for benchmarks and fault tests:
``python -m tests.support.smtp_server --port 0 --fail-451-rate 0.3 [--fail-550-rate R] --record FILE``
prints its port on the first line and appends one JSON line per accepted message to FILE:
{"message_id", "arrived" (epoch seconds)}.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import fnmatch
import json
import random
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.event_loop import new_event_loop

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)
TRY_LATER = "451 4.3.0 Try again later"
NO_SUCH_USER = "550 5.1.1 No such user"


@dataclass
class Accepted:
    """One accepted message: raw bytes, arrival (time.monotonic()), envelope, client address."""

    raw: bytes
    arrived: float
    rcpt_tos: list[str] = field(default_factory=list)
    peer: tuple[str, int] | None = None  # the client's (host, port): one per SMTP connection
    tls: bool = False  # arrived over STARTTLS

    @property
    def message(self) -> EmailMessage:
        """Parsed on demand: full MIME parsing costs more than the rest of the server together."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        found = _MESSAGE_ID.search(self.raw.split(b"\r\n\r\n", 1)[0])
        return found.group(1).decode() if found else ""

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def parts(self) -> dict[str, str]:
        """Content type -> decoded content of each leaf part (text/plain, text/html)."""
        return {
            part.get_content_type(): part.get_content()
            for part in self.message.walk()
            if not part.is_multipart()
        }


@dataclass
class SmtpServer:
    """The server's state and failure policy; ``start()`` serves it on 127.0.0.1.

    Refusals, checked in this order: ``refusals`` (recipient pattern -> reply, at RCPT, always;
    fnmatch patterns such as ``*@bounce.test``), ``refuse_next`` (the next N messages, at
    DATA), then seeded random ones: ``fail_rate`` answers 451, ``fail_550_rate`` answers 550.
    """

    received: list[Accepted] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)  # recipient pattern -> reply
    fail_rate: float = 0.0  # 451 at this rate
    fail_550_rate: float = 0.0
    seed: int = 1
    tls_context: ssl.SSLContext | None = None  # set: the server offers STARTTLS
    _scripted: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0) -> SmtpServer:
        self._rng = random.Random(self.seed)
        self.port = port or _free_port()
        # uvloop: in benchmarks this server shares the CPU with what is measured.
        tls = {"tls_context": self.tls_context} if self.tls_context else {}
        self._controller = _Controller(
            self, hostname="127.0.0.1", port=self.port, loop=new_event_loop(), **tls
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def refuse_next(self, n: int, reply: str) -> None:
        with self._lock:
            self._scripted.extend([reply] * n)

    def message_ids(self) -> list[str]:
        with self._lock:
            return [a.message_id for a in self.received]

    def refuse_recipients(self, pattern: str, reply: str) -> None:
        """Refuse every recipient matching ``pattern`` (fnmatch, case-insensitive) with ``reply``."""
        self.refusals[pattern] = reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:  # noqa: N802
        for pattern, reply in list(self.refusals.items()):
            if fnmatch.fnmatchcase(address.lower(), pattern.lower()):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        arrived = time.monotonic()
        with self._lock:
            scripted = self._scripted.pop(0) if self._scripted else None
            draw = self._rng.random() if (self.fail_rate or self.fail_550_rate) else 1.0
        if scripted:
            return scripted
        if draw < self.fail_rate:
            return TRY_LATER
        if draw < self.fail_rate + self.fail_550_rate:
            return NO_SUCH_USER
        tls = session.ssl is not None
        self.on_accept(
            Accepted(envelope.content, arrived, list(envelope.rcpt_tos), session.peer, tls)
        )
        return "250 Message accepted for delivery"

    def on_accept(self, accepted: Accepted) -> None:
        with self._lock:
            self.received.append(accepted)


_ADDRESS = re.compile(r"\s*<([^<>]*)>(.*)$|\s*(\S+)(.*)$", re.DOTALL)


class _LeanSMTP(SMTP):
    """aiosmtpd's server, parsing MAIL FROM / RCPT TO addresses with one regular expression
    instead of the email package's full RFC 5322 parser (a quarter of this server's CPU per
    message, profiled; in benchmarks that CPU is taken from what is measured). Test
    addresses are plain ``<local@domain>``; anything unparsable is still refused (553)."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        if not arg:
            return "", ""
        found = _ADDRESS.match(arg)
        if found is None:
            return None, None
        address, rest = (
            (found.group(1), found.group(2))
            if found.group(1) is not None
            else (found.group(3), found.group(4))
        )
        if address and ("@" not in address or any(c.isspace() for c in address)):
            return None, None
        return address, rest


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LeanSMTP(self.handler, **self.SMTP_kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-451-rate", type=float, default=0.0)
    parser.add_argument("--fail-550-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    record_file = open(args.record, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    class Recording(SmtpServer):
        def on_accept(self, accepted: Accepted) -> None:
            wall = time.time() - (time.monotonic() - accepted.arrived)
            record_file.write(
                json.dumps({"message_id": accepted.message_id, "arrived": wall}) + "\n"
            )

    server = Recording(
        fail_rate=args.fail_451_rate, fail_550_rate=args.fail_550_rate, seed=args.seed
    ).start(args.port)
    print(server.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
