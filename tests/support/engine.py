"""A real Celery worker on a real Redis broker, with live channels pointed at local providers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from celery.contrib.testing.worker import start_worker

from drip.celery import app
from drip.channels import reset_channels
from drip.models import Delivery


@contextmanager
def live_engine(settings, redis_url: str, twilio_server, smtp_server) -> Iterator[None]:
    """Point drip at the local Twilio-speaking server and SMTP server, and run a worker."""
    redis.Redis.from_url(redis_url).flushdb()
    settings.DRIP_CHANNELS = "live"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = (
        twilio_server.account_sid,
        twilio_server.auth_token,
    )
    settings.TWILIO_API_BASE_URL, settings.TWILIO_FROM_NUMBER = (
        twilio_server.base_url,
        "+15005550006",
    )
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    reset_channels()
    previous = app.conf.broker_url, app.conf.CELERY_DB_REUSE_MAX
    app.conf.broker_url = redis_url
    _forget_connections()  # a pool made before (by an earlier test) still points at the old broker
    # This worker's tasks run in threads that end with it, taking their database connections
    # unclosed; Celery's close-after-each-task (a real worker process keeps its connection).
    app.conf.CELERY_DB_REUSE_MAX = None
    try:
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
        ):
            yield
    finally:
        app.conf.broker_url, app.conf.CELERY_DB_REUSE_MAX = previous
        _forget_connections()
        reset_channels()


def _forget_connections() -> None:
    """Drop the app's broker connection and producer pools: the next use opens them on the
    broker the configuration names now (Celery makes them once, on first use, and keeps them)."""
    app._pool = None  # not closed: a worker that just stopped may still hand its connection back
    app.amqp._producer_pool = None


def wait_until_idle(timeout_s: float = 20.0) -> None:
    """Wait (bounded) for the worker to finish what was enqueued: no row queued or sending."""
    deadline = time.monotonic() + timeout_s
    while Delivery.objects.filter(
        status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING)
    ).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not finish within {timeout_s:.0f} s")
        time.sleep(0.02)  # polling a real worker, not waiting for time to pass
