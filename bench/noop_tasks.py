"""The baseline: a bare Celery task per message (what the naive design pays before any work)."""

from __future__ import annotations

import redis
from django.conf import settings

from drip.celery import app

_client: redis.Redis | None = None


@app.task(name="bench.noop")
def noop(counter_key: str) -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _client.incr(counter_key)


@app.task(name="bench.count_run")
def count_run(key: str, marker: str) -> None:
    """Counts how many times each message really ran (the naive design's duplicates)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    _client.hincrby(key, marker, 1)
