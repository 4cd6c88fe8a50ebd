"""`drip demo` (the README's first command) runs a whole series and the outbox holds each message once."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The file outbox names an email ``email-<id>.eml``, and a second send of the same delivery
# ``email-<id>.<n>.eml`` (drip/channels/outbox.py): both count, so a double send shows.
EMAIL_FILE = re.compile(r"email-(\d+)(?:\.\d+)?\.eml")


def outbox_counts(outbox: Path) -> Counter[tuple[str, int]]:
    """How many times each (channel, delivery id) is in the outbox."""
    counts: Counter[tuple[str, int]] = Counter()
    for path in outbox.glob("*.eml"):
        match = EMAIL_FILE.fullmatch(path.name)
        assert match, f"unexpected outbox file {path.name}"
        counts["email", int(match[1])] += 1
    for line in (outbox / "sms.jsonl").read_text().splitlines():
        counts["sms", json.loads(line)["delivery_id"]] += 1
    return counts


def sent_rows(database: Path) -> Counter[tuple[str, int]]:
    """The deliveries the demo's own database records as sent, once each."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT channel, id FROM drip_delivery WHERE status = 'sent'")
        return Counter((channel, pk) for channel, pk in rows)


def test_the_demo_sends_every_planned_message_exactly_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIP_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "drip.cli", "demo", "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exactly the sent messages, once each" in result.stdout
    assert "Deliveries: {'sent': 22}" in result.stdout
    sent = sent_rows(tmp_path / "demo" / "drip.sqlite3")
    assert Counter(channel for channel, _ in sent) == {"email": 11, "sms": 11}
    outbox = tmp_path / "demo" / "outbox"
    assert outbox_counts(outbox) == sent
    for path in outbox.glob("*.eml"):  # as sent: every email, both parts, carries the crisis route
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        for part in ("plain", "html"):
            body = mail.get_body((part,))
            assert body is not None and "call or text 988" in body.get_content(), (path.name, part)
    # The story is the demo's own output: no engine log lines, and none printed twice.
    logged = [line for line in result.stderr.splitlines() if line.strip()]
    assert "batch.done" not in result.stderr and len(logged) == len(set(logged)), logged[-20:]
