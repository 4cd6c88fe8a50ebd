"""A provider rate limit shared by every worker process, kept in Redis.

Celery's ``rate_limit`` is per worker; a Twilio number's messages-per-second limit is per
number, whatever the number of workers. Each send reserves the next free slot with one atomic
script (the generic cell rate algorithm: the key holds the earliest time the next send may go),
then waits for it. Redis' own clock is used, so processes on several machines agree.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import redis

from drip.channels import io_loop
from drip.channels.base import Receipt
from drip.errors import TransientDeliveryError

_RESERVE = """
local interval_us = tonumber(ARGV[1])
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next_us = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot_us = math.max(next_us, now_us)
redis.call('SET', KEYS[1], slot_us + interval_us, 'PX', 60000)
return slot_us - now_us
"""


class RedisRateLimiter:
    """At most ``per_second`` acquisitions a second for ``key``, across every process."""

    def __init__(self, url: str, key: str, per_second: float) -> None:
        self.key = key
        self.interval_us = int(1_000_000 / per_second)
        # Bounded waits: the reservation runs on the event loop every send shares, so a Redis that
        # stops answering must fail the send (transient), not stall the loop.
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._reserve = self._client.register_script(_RESERVE)

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait for it."""
        return max(0, int(self._reserve(keys=[self.key], args=[self.interval_us]))) / 1_000_000

    def acquire(self) -> None:
        time.sleep(self.reserve())  # waiting for our reserved slot


class RateLimited:
    """Wraps a channel: every send first takes a slot from the shared limiter.

    SMS or email alike (``Any``): ``drip.channels`` hands it back as the channel it wraps."""

    def __init__(self, channel: Any, limiter: RedisRateLimiter) -> None:
        self._channel = channel
        self._limiter = limiter

    async def deliver(self, message: Any) -> Receipt:
        try:
            wait_s = self._limiter.reserve()  # one Redis round trip, on the loop
        except (
            redis.RedisError
        ) as error:  # the limiter's store is down: try later, never unthrottled
            raise TransientDeliveryError("rate-limiter", type(error).__name__) from None
        await asyncio.sleep(wait_s)  # other sends go on meanwhile
        receipt: Receipt = await self._channel.deliver(message)
        return receipt

    def send(self, message: Any) -> Receipt:
        return io_loop.run(self.deliver(message))

    async def find_accepted(self, message: Any, *, since: datetime) -> Receipt | None:
        taken: Receipt | None = await self._channel.find_accepted(message, since=since)
        return taken  # a read: no send slot

    def close(self) -> None:
        close = getattr(self._channel, "close", None)
        if close is not None:
            close()
