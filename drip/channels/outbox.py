"""A file outbox for development and demos: emails as .eml files, SMS as JSON lines.

Several worker processes may append at once: each SMS is one ``os.write`` on an O_APPEND file,
which the kernel keeps whole. Nothing is deduplicated here, so a double send would show.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from drip.channels.base import OutgoingEmail, OutgoingSms, Receipt
from drip.channels.email import build_email_message


class OutboxSms:
    """SMS as JSON lines in ``sms.jsonl``: delivery_id, to, body and a made-up sid."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "sms.jsonl"
        directory.mkdir(parents=True, exist_ok=True)

    async def deliver(self, message: OutgoingSms) -> Receipt:
        return self.send(message)  # a local file append: too quick to need a thread

    async def find_accepted(self, message: OutgoingSms, *, since: datetime) -> Receipt | None:
        return None  # a file append has no lost answers

    def send(self, message: OutgoingSms) -> Receipt:
        sid = f"OUTBOX{message.delivery_id:026d}"
        line = json.dumps(
            {"delivery_id": message.delivery_id, "to": message.to, "body": message.body, "sid": sid}
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return Receipt(provider_id=sid)


class OutboxEmail:
    """Each email as a full MIME file, with the headers SMTP would carry."""

    def __init__(
        self, directory: Path, *, from_email: str, message_id_domain: str, reply_to: str = ""
    ) -> None:
        self.directory = directory
        self.from_email = from_email
        self.reply_to = reply_to
        self.domain = message_id_domain
        directory.mkdir(parents=True, exist_ok=True)

    async def deliver(self, message: OutgoingEmail) -> Receipt:
        return self.send(message)  # a local file write: too quick to need a thread

    def send(self, message: OutgoingEmail) -> Receipt:
        mail = build_email_message(
            message, from_email=self.from_email, domain=self.domain, reply_to=self.reply_to
        )
        fd = self._create_new(message.delivery_id)
        try:
            os.write(fd, mail.message().as_bytes())
        finally:
            os.close(fd)
        return Receipt(provider_id=mail.extra_headers["Message-ID"])

    def _create_new(self, delivery_id: int) -> int:
        """``email-<id>.eml``, or ``email-<id>.<n>.eml`` for a second send: never overwritten.

        O_EXCL makes the name check and the creation one step, so two processes sending the
        same delivery both leave a file.
        """
        copy = 1
        while True:
            name = f"email-{delivery_id}.eml" if copy == 1 else f"email-{delivery_id}.{copy}.eml"
            try:
                return os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                copy += 1
