"""The Twilio SDK's HTTP transport on aiohttp (the SDK's documented custom-client hook, async).

The SDK's own async client passes its timeout as a bare number and reads no proxy settings;
this one gives aiohttp a ``ClientTimeout`` for the whole request, takes the proxy the
environment names (read once), and keeps one keep-alive connection pool per channel.
Semantics kept from the SDK: Basic auth, form or JSON body, no retries, no redirects unless
asked. Request bodies and auth are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from urllib.parse import urlsplit
from urllib.request import (  # type: ignore[attr-defined]  # in the stdlib, not in typeshed
    getproxies_environment,
    proxy_bypass_environment,
)

import aiohttp
from aiohttp.typedefs import Query
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from drip.channels import io_loop

_JSON_TYPES = ("application/json", "application/scim+json")


class AiohttpClient(AsyncHttpClient):  # type: ignore[misc]  # twilio ships no types
    """Made anywhere; its session is opened on first use, inside the running event loop."""

    def __init__(self, *, timeout: float, api_url: str) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=True, timeout=timeout)
        self.proxy = _proxy_for(api_url)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the session belongs to

    async def request(
        self,
        method: str,
        url: str,
        params: Query = None,  # the SDK's query parameters, as aiohttp takes them
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        timeout = self.timeout if timeout is None else timeout
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        send_headers = dict(headers or {})
        if auth:
            send_headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            )
        body: str | dict[str, object] | None = data
        if data is not None and send_headers.get("Content-Type") in _JSON_TYPES:
            body = json.dumps(data)
        if (
            self._session is None
            or self._session.closed
            or self._loop is not asyncio.get_running_loop()
        ):
            # limit=0: the sender bounds how many calls are in flight (DRIP_SEND_CONCURRENCY).
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            self._loop = asyncio.get_running_loop()
            io_loop.close_when_collected(self, _close_session, self._session)
        self.logger.debug("twilio.request method=%s url=%s", method.upper(), url)
        async with self._session.request(
            method.upper(),
            url,
            params=params,
            data=body,
            headers=send_headers,
            proxy=self.proxy,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=allow_redirects,
        ) as answer:
            text = await answer.text(errors="replace")
        self.logger.debug("twilio.response status=%s", answer.status)
        return Response(answer.status, text, answer.headers)

    async def close(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await _close_session(self._session)
        self._session = None


async def _close_session(session: aiohttp.ClientSession) -> None:
    if not session.closed:
        await session.close()


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for this URL (HTTPS_PROXY, NO_PROXY ...), read once."""
    parts = urlsplit(url)
    if proxy_bypass_environment(parts.hostname or ""):
        return None
    return getproxies_environment().get(parts.scheme)
