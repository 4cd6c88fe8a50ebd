"""Shared test setup.

Services (PostgreSQL, Redis) are real. A missing service skips the test locally and FAILS it
under CI (``CI=true``), so a green CI run means the integration tests really ran.
"""

from __future__ import annotations

import os
import socket

import pytest

pytest_plugins = ["tests.support.fixtures"]

UNDER_CI = os.environ.get("CI", "").lower() == "true"
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("DRIP_TEST_REDIS_PORT", "6379"))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (under CI) when a real service is not reachable."""
    if port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if UNDER_CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


def database_is_postgres() -> bool:
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def postgres_only() -> None:
    """For tests that need several processes on one database: they run in the PostgreSQL pass."""
    if not database_is_postgres():
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgres://...)")


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{os.environ.get('DRIP_TEST_REDIS_DB', '9')}"


@pytest.fixture(autouse=True)
def fresh_catalog_cache():
    """Versions are immutable in production, but test databases reuse ids after a rollback."""
    from drip.catalog import clinic
    from drip.catalog import versions as catalog

    catalog.version_by_id.cache_clear()
    clinic.forget()  # clinic settings saved in a test are rolled back with it
    yield
