"""A file outbox for development and demos: emails as .eml files, SMS as JSON lines.

Several worker processes may append at once: each SMS is one ``os.write`` on an O_APPEND file,
which the kernel keeps whole. Nothing is deduplicated here, so a double send would show.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from drip.channels.base import OutgoingEmail, OutgoingSms, Receipt
from drip.channels.email import build_email_message


class OutboxSms:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "sms.jsonl"
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: OutgoingSms) -> Receipt:
        sid = f"OUTBOX{message.delivery_id:026d}"
        line = json.dumps({"delivery_id": message.delivery_id, "to": message.to, "body": message.body, "sid": sid})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return Receipt(provider_id=sid)


class OutboxEmail:
    def __init__(self, directory: Path, *, from_email: str, message_id_domain: str) -> None:
        self.directory = directory
        self.from_email = from_email
        self.domain = message_id_domain
        directory.mkdir(parents=True, exist_ok=True)

    def send(self, message: OutgoingEmail) -> Receipt:
        mail = build_email_message(message, from_email=self.from_email, domain=self.domain)
        path = self.directory / f"email-{message.delivery_id}.eml"
        if path.exists():  # a second send of one delivery must be visible, never overwritten
            path = self.directory / f"email-{message.delivery_id}-again-{os.getpid()}-{id(mail)}.eml"
        path.write_bytes(mail.message().as_bytes())
        return Receipt(provider_id=mail.extra_headers["Message-ID"])
