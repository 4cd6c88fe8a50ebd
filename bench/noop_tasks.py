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
