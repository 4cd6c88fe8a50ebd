"""A local HTTP server that speaks Twilio's Messages API (the part drip uses).

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with Basic auth and form fields To, Body,
From or MessagingServiceSid, StatusCallback -> 201 and a message resource, like Twilio. Faults
are programmable: error answers (Twilio's error JSON), stalls, a delay on every answer.

The transport is a low-level aiohttp server on a uvloop event loop (plain asyncio without
uvloop): in benchmarks this server shares the CPU with what is measured, so it should spend as
little as it can per request. Delays are ``asyncio.sleep``, so hundreds of delayed requests are
served at once. ``FakeTwilio.start()`` runs the loop in a daemon thread, for synchronous tests.

Also runs as a process for benchmarks and fault tests:
``python -m tests.support.twilio_server --port 0 --delay-ms 200 --error-rate 0.3 --stall-rate 0.05
--stall-s 15 --record FILE`` prints its port on the first line and appends one JSON line per
accepted message to FILE: {"delivery_id", "sid", "to", "arrived" (epoch seconds)}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import json
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.support.event_loop import new_event_loop

_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32}|[A-Za-z0-9]+)/Messages\.json$")
# Twilio's own wording; like Twilio's, some quote the number (the channel must mask it).
ERROR_MESSAGES = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "To number: {to}, is not a mobile number",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
}


@dataclass(frozen=True)
class Reply:
    status: int = 201
    code: int | None = None  # Twilio error code for non-2xx
    delay_s: float = 0.0
    # Create the message first, then delay the answer: a client that times out meanwhile does
    # not know the message exists (the case where a blind retry would send it twice).
    accept_first: bool = False


@dataclass
class Received:
    """One accepted message: the SID we issued, the posted form, when the request arrived."""

    sid: str
    form: dict[str, str]
    arrived: float  # time.monotonic() when the request arrived, before any simulated delay
    peer: tuple[str, int] | None = None  # the client's (host, port): one per keep-alive connection
    created: str = ""  # date_created, RFC 2822, by the server's clock

    @property
    def delivery_id(self) -> int | None:
        query = urllib.parse.urlsplit(self.form.get("StatusCallback", "")).query
        value = urllib.parse.parse_qs(query).get("delivery", [""])[0]
        return int(value) if value.isdigit() else None


@dataclass
class FakeTwilio:
    """The server's state and fault programme; ``start()`` serves it on 127.0.0.1, a free port.

    Answers, in order of precedence: scripted ones (``fail_next``), then ``policy(index, form)``
    (``set_fault_rates`` installs a seeded random one), then 201. ``delay_s`` delays every
    answer, like the real API's 100-300 ms. ``error_format="rfc9457"`` answers errors as RFC
    9457 problem details, the format Twilio's newer APIs use, instead of the legacy JSON.
    """

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token"
    delay_s: float = 0.0
    policy: Callable[[int, dict[str, str]], Reply] | None = None
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    error_format: str = "legacy"  # or "rfc9457"
    clock: Callable[[], float] = (
        time.time
    )  # date_created of accepted messages (tests set a virtual one)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _scripted: list[Reply] = field(default_factory=list)

    def start(self) -> FakeTwilio:
        ready: concurrent.futures.Future[tuple[int, Callable[[], None]]] = (
            concurrent.futures.Future()
        )
        self._thread = threading.Thread(
            target=_run_in_thread, args=(self, ready), name="fake-twilio", daemon=True
        )
        self._thread.start()
        self._port, self._stop = ready.result()
        return self

    def stop(self) -> None:
        """Stop listening, close every connection (requests still in flight are cancelled)."""
        self._stop()
        self._thread.join()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(
        self,
        n: int,
        status: int,
        code: int | None = None,
        delay_s: float = 0.0,
        accept_first: bool = False,
    ) -> None:
        """The next ``n`` requests get this answer (then the policy or success again)."""
        with self._lock:
            self._scripted.extend([Reply(status, code, delay_s, accept_first)] * n)

    def set_fault_rates(
        self,
        *,
        error_rate: float = 0.0,
        error_statuses: tuple[int, ...] = (500, 503, 429),
        stall_rate: float = 0.0,
        taken_stall_rate: float = 0.0,
        stall_s: float = 0.0,
        seed: int = 1,
    ) -> None:
        rng = random.Random(seed)

        def policy(index: int, form: dict[str, str]) -> Reply:
            draw = rng.random()
            if draw < stall_rate:
                return Reply(503, 20503, stall_s)  # a stall before the message is created
            if draw < stall_rate + taken_stall_rate:
                return Reply(
                    201, None, stall_s, accept_first=True
                )  # created, then the answer stalls
            if draw < stall_rate + taken_stall_rate + error_rate:
                status = rng.choice(error_statuses)
                return Reply(status, {429: 20429, 500: 20500, 503: 20503}.get(status))
            return Reply()

        self.policy = policy

    def delivery_ids(self) -> list[int | None]:
        with self._lock:
            return [r.delivery_id for r in self.received]

    def reply_for(self, form: dict[str, str]) -> Reply:
        with self._lock:
            index = self.attempts
            self.attempts += 1
            if self._scripted:
                return self._scripted.pop(0)
        return self.policy(index, form) if self.policy else Reply()

    def accept(
        self, form: dict[str, str], arrived: float, peer: tuple[str, int] | None = None
    ) -> Received:
        created = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(self.clock()))
        record = Received("SM" + secrets.token_hex(16), form, arrived, peer, created)
        with self._lock:
            self.received.append(record)
        return record

    def find(self, which: Received | str | int) -> Received:
        """An accepted message by record, Message SID ("SM...") or delivery id."""
        if isinstance(which, Received):
            return which
        with self._lock:
            for record in self.received:
                if record.sid == which or (isinstance(which, int) and record.delivery_id == which):
                    return record
        raise LookupError(f"no accepted message for {which!r}")

    def status_callback_params(
        self,
        which: Received | str | int,
        status: str = "delivered",
        error_code: int | str | None = None,
    ) -> dict[str, str]:
        """The form Twilio posts to a StatusCallback (all of it is covered by the signature)."""
        record = self.find(which)
        params = {
            "MessageSid": record.sid,
            "SmsSid": record.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "To": record.form["To"],
            "ApiVersion": "2010-04-01",
        }
        if record.form.get("From"):
            params["From"] = record.form["From"]
        if record.form.get("MessagingServiceSid"):
            params["MessagingServiceSid"] = record.form["MessagingServiceSid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    def send_status_callback(
        self,
        which: Received | str | int,
        status: str = "delivered",
        error_code: int | str | None = None,
        *,
        auth_token: str | None = None,
        url: str | None = None,
    ) -> int:
        """POST a Twilio-signed status callback to the message's StatusCallback (or ``url``).

        ``which`` is a record, a Message SID or a delivery id. The X-Twilio-Signature is made
        with ``auth_token`` (default: this server's), so a test can also send a forged one.
        Returns the HTTP status the webhook answered (4xx/5xx included, not raised).
        """
        record = self.find(which)
        target = url or record.form["StatusCallback"]
        params = self.status_callback_params(record, status, error_code)
        signature = RequestValidator(auth_token or self.auth_token).compute_signature(
            target, params
        )
        request = urllib.request.Request(
            target,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


_Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
_JSON = {"Content-Type": "application/json"}


def _handler_for(fake: FakeTwilio) -> _Handler:
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()
        if request.method not in ("POST", "GET"):
            return web.Response(status=501)  # like http.server's answer to an unsupported method
        form = dict(urllib.parse.parse_qsl((await request.read()).decode()))
        match = _PATH.match(request.path)
        if not match or match.group(1) != fake.account_sid:
            return _json(404, _error(20404, "The requested resource was not found"))
        if not _authorized(fake, request.headers.get("Authorization", "")):
            return _json(401, _error(20003, "Authenticate"))
        if request.method == "GET":
            return _json(200, _page(fake, dict(request.query)))
        if (
            not form.get("To")
            or not form.get("Body")
            or not (form.get("From") or form.get("MessagingServiceSid"))
        ):
            return _json(
                400,
                _error(21604, "A 'To', 'Body' and 'From' or 'MessagingServiceSid' are required"),
            )
        # Now, not after the delay: a client that gave up meanwhile has no transport left.
        peername = request.transport.get_extra_info("peername") if request.transport else None
        reply = fake.reply_for(form)
        accepted = (
            fake.accept(form, arrived, tuple(peername[:2]) if peername else None)
            if reply.accept_first
            else None
        )
        if reply.delay_s or fake.delay_s:
            await asyncio.sleep(reply.delay_s or fake.delay_s)  # the provider's latency, simulated
        if accepted is not None:
            return _json(201, _resource(fake.account_sid, accepted))  # the client may have given up
        if reply.status >= 300:
            code = reply.code or reply.status
            message = ERROR_MESSAGES.get(code, "error").format(to=form["To"])
            body = (
                _problem(code, message, reply.status)
                if fake.error_format == "rfc9457"
                else _error(code, message, reply.status)
            )
            return _json(reply.status, body)
        record = fake.accept(form, arrived, tuple(peername[:2]) if peername else None)
        return _json(201, _resource(fake.account_sid, record))

    return handle


def _authorized(fake: FakeTwilio, authorization: str) -> bool:
    expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    return authorization == f"Basic {expected}"


def _json(status: int, body: dict[str, object]) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), headers=_JSON)


async def _serve(
    fake: FakeTwilio, port: int, ready: Callable[[int, Callable[[], None]], None]
) -> None:
    """Serve ``fake`` on 127.0.0.1:``port`` (0: a free one) until told to stop.

    ``ready(port, stop)`` is called once listening; ``stop()``, from any thread, ends the serving.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    # The low-level server: no router or middlewares to run per request. No access log. In-flight
    # requests (a stall) are cancelled at once on stop instead of awaited.
    runner = web.ServerRunner(
        web.Server(_handler_for(fake), access_log=None), shutdown_timeout=0.01
    )
    await runner.setup()
    try:
        # A deep backlog: benchmarks open hundreds of connections at once.
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()

        def stop() -> None:
            loop.call_soon_threadsafe(stopping.set)

        ready(runner.addresses[0][1], stop)
        await stopping.wait()
    finally:
        await runner.cleanup()


def _run_in_thread(
    fake: FakeTwilio, ready: concurrent.futures.Future[tuple[int, Callable[[], None]]]
) -> None:
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(fake, 0, lambda port, stop: ready.set_result((port, stop))))
    except BaseException as error:
        if ready.done():
            raise
        ready.set_exception(error)  # start() raises it


def _error(code: int, message: str, status: int = 400) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _problem(code: int, message: str, status: int) -> dict[str, object]:
    """RFC 9457 problem details, as Twilio's newer APIs answer (the SDK's TwilioServiceException)."""
    return {
        "type": f"https://www.twilio.com/docs/errors/{code}",
        "title": message.split(".")[0],
        "status": status,
        "code": code,
        "detail": message,
        "instance": None,
    }


def _page(fake: FakeTwilio, query: dict[str, str]) -> dict[str, object]:
    """GET Messages.json: the accepted messages, newest first, filtered by To and From, one page."""
    with fake._lock:
        found = [
            r
            for r in reversed(fake.received)
            if r.form.get("To") == query.get("To", r.form.get("To"))
            and r.form.get("From") == query.get("From", r.form.get("From"))
        ]
    size = int(query.get("PageSize", 50))
    uri = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    return {
        "messages": [_resource(fake.account_sid, r) for r in found[:size]],
        "page": 0,
        "page_size": size,
        "start": 0,
        "end": max(0, min(size, len(found)) - 1),
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
    }


def _resource(account_sid: str, record: Received) -> dict[str, object]:
    now = record.created
    return {
        "sid": record.sid,
        "account_sid": account_sid,
        "to": record.form["To"],
        "from": record.form.get("From"),
        "messaging_service_sid": record.form.get("MessagingServiceSid"),
        "body": record.form["Body"],
        "status": "queued",
        "num_segments": "1",
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{record.sid}.json",
        "subresource_uris": {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="test-auth-token")
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--error-rate", type=float, default=0)
    parser.add_argument("--stall-rate", type=float, default=0)
    parser.add_argument("--taken-stall-rate", type=float, default=0)
    parser.add_argument("--stall-s", type=float, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--error-format", choices=("legacy", "rfc9457"), default="legacy")
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    fake = FakeTwilio(
        args.account_sid,
        args.auth_token,
        delay_s=args.delay_ms / 1000,
        error_format=args.error_format,
    )
    if args.error_rate or args.stall_rate or args.taken_stall_rate:
        fake.set_fault_rates(
            error_rate=args.error_rate,
            stall_rate=args.stall_rate,
            taken_stall_rate=args.taken_stall_rate,
            stall_s=args.stall_s,
            seed=args.seed,
        )
    record_file = open(args.record, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    original_accept = fake.accept

    def accept_and_record(
        form: dict[str, str], arrived: float, peer: tuple[str, int] | None = None
    ) -> Received:
        record = original_accept(form, arrived, peer)
        # Wall-clock arrival (other processes compare it with their own clocks), not "now":
        # the simulated delay has already passed by the time a message is accepted.
        wall = time.time() - (time.monotonic() - arrived)
        record_file.write(
            json.dumps(
                {
                    "delivery_id": record.delivery_id,
                    "sid": record.sid,
                    "to": form["To"],
                    "arrived": wall,
                }
            )
            + "\n"
        )
        return record

    fake.accept = accept_and_record  # type: ignore[method-assign]
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(fake, args.port, lambda port, _stop: print(port, flush=True)))


if __name__ == "__main__":
    main()
