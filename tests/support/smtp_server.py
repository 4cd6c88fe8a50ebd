"""A real SMTP server on loopback (aiosmtpd) that records what it accepts and can refuse.

Runs in-process (``SmtpServer().start()``) or as a process for benchmarks and fault tests:
``python -m tests.support.smtp_server --port 0 --fail-451-rate 0.3 --record FILE`` prints its
port on the first line and appends one JSON line per accepted message to FILE.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)
TRY_LATER = "451 4.3.0 Try again later"
NO_SUCH_USER = "550 5.1.1 No such user"


@dataclass
class Accepted:
    raw: bytes
    arrived: float

    @property
    def message(self) -> EmailMessage:
        """Parsed on demand: full MIME parsing costs more than the rest of the server together."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def message_id(self) -> str:
        found = _MESSAGE_ID.search(self.raw.split(b"\r\n\r\n", 1)[0])
        return found.group(1).decode() if found else ""


@dataclass
class SmtpServer:
    """``refuse_next`` answers the next N messages with a code; ``fail_rate`` at random."""

    received: list[Accepted] = field(default_factory=list)
    refusals: dict[str, str] = field(default_factory=dict)  # recipient -> reply, always
    fail_rate: float = 0.0
    seed: int = 1
    _scripted: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0) -> SmtpServer:
        self._rng = random.Random(self.seed)
        self.port = port or _free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
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

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            scripted = self._scripted.pop(0) if self._scripted else None
            random_fail = self.fail_rate and self._rng.random() < self.fail_rate
        if scripted:
            return scripted
        if random_fail:
            return TRY_LATER
        self.on_accept(Accepted(envelope.content, time.monotonic()))
        return "250 Message accepted for delivery"

    def on_accept(self, accepted: Accepted) -> None:
        with self._lock:
            self.received.append(accepted)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-451-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    record_file = open(args.record, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    class Recording(SmtpServer):
        def on_accept(self, accepted: Accepted) -> None:
            record_file.write(json.dumps({"message_id": accepted.message_id, "arrived": time.time()}) + "\n")

    server = Recording(fail_rate=args.fail_451_rate, seed=args.seed).start(args.port)
    print(server.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
