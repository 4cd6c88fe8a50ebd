"""The Twilio-speaking test server itself: concurrency, stalls, stopping, the process mode."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.twilio_server import FakeTwilio

FORM = {
    "To": "+15005550100",
    "Body": "hello",
    "From": "+15005550006",
    "StatusCallback": "https://drip.clinic.test/webhooks/twilio/status?delivery=7",
}


def post(
    fake: FakeTwilio,
    form: dict[str, str] = FORM,
    *,
    timeout: float = 5.0,
    token: str | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, str, dict[str, object]]:
    """POST a message; the status, the Content-Type and the JSON body."""
    auth = base64.b64encode(f"{fake.account_sid}:{token or fake.auth_token}".encode()).decode()
    conn = connection or http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
            urllib.parse.urlencode(form),
            {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), json.loads(response.read())
    finally:
        if connection is None:
            conn.close()


def test_answers_like_twilio_and_records_the_peer_of_each_keep_alive_connection(twilio_server):
    conn = http.client.HTTPConnection("127.0.0.1", twilio_server.port, timeout=5)
    try:
        first = post(twilio_server, connection=conn)
        second = post(twilio_server, connection=conn)
        client = conn.sock.getsockname()
    finally:
        conn.close()
    assert first[:2] == second[:2] == (201, "application/json")
    assert [r.sid for r in twilio_server.received] == [first[2]["sid"], second[2]["sid"]]
    assert [r.peer for r in twilio_server.received] == [client, client]
    assert twilio_server.delivery_ids() == [7, 7]
    assert post(twilio_server, token="wrong")[::2] == (
        401,
        {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 400,
        },
    )
    assert post(twilio_server, {"To": "+15005550100"})[2]["code"] == 21604
    twilio_server.error_format = "rfc9457"
    twilio_server.fail_next(1, 429, 20429)
    assert post(twilio_server)[::2] == (
        429,
        {
            "type": "https://www.twilio.com/docs/errors/20429",
            "title": "Too Many Requests",
            "status": 429,
            "code": 20429,
            "detail": "Too Many Requests",
            "instance": None,
        },
    )
    assert twilio_server.attempts == 3 and len(twilio_server.received) == 2


def test_delayed_answers_are_served_concurrently(twilio_server):
    twilio_server.delay_s = 0.3
    started = time.monotonic()
    with ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(lambda _: post(twilio_server)[0], range(100)))
    elapsed = time.monotonic() - started
    assert statuses == [201] * 100
    assert elapsed < 2.0, elapsed  # one after the other would take 30 s
    assert all(
        r.arrived <= started + elapsed - 0.3 for r in twilio_server.received
    )  # before the delay


def test_a_stall_past_the_client_timeout_is_not_accepted_and_not_noisy(twilio_server, caplog):
    caplog.set_level(logging.DEBUG)
    twilio_server.set_fault_rates(stall_rate=1.0, stall_s=0.3)
    with pytest.raises(TimeoutError):
        post(twilio_server, timeout=0.1)
    time.sleep(0.4)  # the stall ends and answers a client that is gone
    twilio_server.policy = None
    assert post(twilio_server)[0] == 201
    assert len(twilio_server.received) == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_stop_is_quick_with_a_request_in_flight_and_the_server_restarts():
    fake = FakeTwilio(delay_s=30).start()
    threads = set(threading.enumerate())
    client = socket.create_connection(("127.0.0.1", fake.port))
    try:
        client.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")  # answered: 404
        assert client.recv(100).startswith(b"HTTP/1.1 404")
        fake.delay_s = 0
        fake.fail_next(1, 201, None, delay_s=30)
        pool = ThreadPoolExecutor(1)
        pending = pool.submit(post, fake)
        while fake.attempts == 0:
            time.sleep(0.01)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(ConnectionError):
            pending.result(timeout=5)
        pool.shutdown()
        assert set(threading.enumerate()) < threads
        assert fake.received == []
        fake.start()
        assert post(fake)[0] == 201
    finally:
        client.close()
        fake.stop()


def test_the_process_prints_its_port_and_records_accepted_messages(tmp_path: Path):
    record = tmp_path / "sms.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.twilio_server",
            "--port",
            "0",
            "--auth-token",
            "proc-token",
            "--record",
            str(record),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        fake = FakeTwilio(auth_token="proc-token")
        fake._port = port  # a client-side stand-in: post() only needs the port and the credentials
        before = time.time()
        status, _, body = post(fake)
        assert status == 201
        (line,) = record.read_text().splitlines()
        assert json.loads(line)["sid"] == body["sid"]
        assert json.loads(line)["delivery_id"] == 7
        assert before - 1 < json.loads(line)["arrived"] <= time.time()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
