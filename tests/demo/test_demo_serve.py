"""`drip demo --serve` (the README's third command): the staff pages on the demo's data, signed in
over HTTP with the account it prints, show the sample patient's series."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def drip(tmp_path: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIP_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "drip.cli", "demo", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        **popen,
    )  # fmt: skip


def printed_lines_until_ready(server: subprocess.Popen[str], deadline_s: float) -> str:
    """What the command printed, up to gunicorn's "Booting worker" line."""
    assert server.stdout is not None
    seen = ""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and "Booting worker" not in seen:
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            break
        seen += line
    return seen


def test_serving_the_demo_signs_in_with_the_printed_account_and_shows_the_patient(
    tmp_path: Path,
) -> None:
    with drip(tmp_path, "--quiet") as demo:
        assert demo.wait(timeout=180) == 0, demo.stdout.read() if demo.stdout else ""
    port = free_port()
    with drip(tmp_path, "--serve", "--bind", f"127.0.0.1:{port}") as server:
        printed = printed_lines_until_ready(server, deadline_s=60)
        account = re.search(r"sign in\s+(\S+) / (\S+)", printed)
        patient_url = re.search(r"\((http://127\.0\.0\.1:\d+/patients/\d+)\)", printed)
        assert account and patient_url, printed
        browser = build_opener(HTTPCookieProcessor(CookieJar()))
        base = f"http://127.0.0.1:{port}"
        form = browser.open(f"{base}/sign-in", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token, form[:500]
        signed_in = browser.open(
            f"{base}/sign-in",
            urlencode(
                {"csrfmiddlewaretoken": token[1], "username": account[1], "password": account[2]}
            ).encode(),
            timeout=10,
        )
        assert "Today" in signed_in.read().decode()
        page = browser.open(patient_url[1], timeout=10).read().decode()
        server.terminate()
    assert "<h1>Alex Rivera</h1>" in page and 'class="timeline"' in page
    assert "Infusion 6" in page and page.count('<li class="message">') == 22


def test_serving_before_the_demo_ran_says_what_to_run(tmp_path: Path) -> None:
    with drip(tmp_path, "--serve", "--bind", f"127.0.0.1:{free_port()}") as server:
        said = server.communicate(timeout=60)[0]
    assert server.returncode == 1 and "run `make demo` (or `drip demo`) first" in said


def test_serving_the_demo_refuses_an_address_beyond_this_machine(tmp_path: Path) -> None:
    with drip(tmp_path, "--serve", "--bind", "0.0.0.0:8000") as server:
        said = server.communicate(timeout=60)[0]
    assert server.returncode == 1 and "loopback only" in said
