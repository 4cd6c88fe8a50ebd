"""`drip demo` (the README's first command) runs a whole series and the outbox holds each message once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
    outbox = tmp_path / "demo" / "outbox"
    sms_ids = [
        json.loads(line)["delivery_id"] for line in (outbox / "sms.jsonl").read_text().splitlines()
    ]
    emails = sorted(p.name for p in outbox.glob("*.eml"))
    assert len(sms_ids) == len(set(sms_ids)) == 11
    assert len(emails) == 11 and not any("again" in name for name in emails)
    assert "Deliveries: {'sent': 22}" in result.stdout
    for path in outbox.glob("*.eml"):  # as sent: every email, both parts, carries the crisis route
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        for part in ("plain", "html"):
            body = mail.get_body((part,))
            assert body is not None and "call or text 988" in body.get_content(), (path.name, part)
    # The story is the demo's own output: no engine log lines, and none printed twice.
    logged = [line for line in result.stderr.splitlines() if line.strip()]
    assert "batch.done" not in result.stderr and len(logged) == len(set(logged)), logged[-20:]
