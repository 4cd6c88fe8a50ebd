"""Shared setup for benchmarks: a PostgreSQL database of their own, Redis DB 12, Django."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgres://postgres@127.0.0.1:5432/postgres")
BENCH_DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/drip_bench")
BENCH_BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
]


# Names vary (one non-ASCII) like a real clinic's; each message renders for its own patient.
FIRST_NAMES = [
    "Alex",
    "Sam",
    "Jordan",
    "Maria",
    "Wei",
    "Priya",
    "José",
    "Ngozi",
    "Olga",
    "Kenji",
    "Fatima",
    "Liam",
]


def setup_django() -> dict[str, str]:
    """Create (if needed) and migrate the bench database; return the env for worker processes."""
    import psycopg

    # DRIP_DEBUG=0 as in production: Django's debug cursor would keep every query in memory.
    env = {
        "DATABASE_URL": BENCH_DB_URL,
        "DRIP_BROKER_URL": BENCH_BROKER,
        "DRIP_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "drip.settings",
        "DRIP_DEBUG": "0",
    }
    os.environ.update(env)
    name = BENCH_DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    subprocess.run(
        [sys.executable, "-m", "drip.cli", "migrate", "--noinput", "-v", "0"],
        check=True,
        env={**os.environ},
    )
    from drip.catalog import versions as catalog

    catalog.publish_from_disk(actor="bench")
    return env


def quiet_database() -> None:
    """Finish the database's background work (vacuum of the last run's rows, a checkpoint) before
    a measured run, so no run pays for the one before it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE drip_delivery")
        cursor.execute("CHECKPOINT")


def zone_in_daytime(now: datetime) -> str:
    """A zone where it is daytime now, so the send window is open for the whole run."""
    for zone in ZONES:
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 17:
            return zone
    raise RuntimeError("no daytime zone found")


def reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE drip_delivery, drip_infusion, drip_auditevent, drip_consentrecord, "
            "drip_enrollment, drip_patient RESTART IDENTITY CASCADE"
        )


def seed_due(
    count: int, *, now: datetime, channels: tuple[str, ...] = ("sms", "email"), first: int = 0
) -> list[int]:
    """``count`` deliveries due now, one per (patient, channel), through bulk inserts; patients
    numbered from ``first`` (contacts stay unique across seedings)."""
    from drip.catalog import versions as catalog
    from drip.models import Delivery, Enrollment, Patient

    version = catalog.latest_version("ketamine-six-infusion")
    zone = zone_in_daytime(now)
    patients_needed = -(-count // len(channels))
    patients = Patient.objects.bulk_create(
        Patient(
            first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
            email=f"due{i}@bench.test",
            phone=f"+1202{i:07d}",
            time_zone=zone,
            sms_consent=True,
            email_consent=True,
        )
        for i in range(first, first + patients_needed)
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(patient=p, schedule_version=version, enrolled_at=now) for p in patients
    )
    rows = [
        Delivery(
            enrollment=e,
            step_key="welcome",
            channel=c,
            message_key="welcome",
            due_at=now - timedelta(seconds=1),
        )
        for e in enrollments
        for c in channels
    ][:count]
    Delivery.objects.bulk_create(rows, batch_size=5000)
    return [r.pk for r in rows]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def insert_future(enrollment_id: int, count: int) -> None:
    """``count`` deliveries due a day or more from now, in one INSERT (fast even for a million)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO drip_delivery (enrollment_id, step_key, channel, message_key, due_at, status, skip_reason,"
            " attempts, provider_id, error_code, error_text, updated_at)"
            " SELECT %s, 'future-' || g, 'email', 'welcome', now() + interval '1 day' + (g || ' seconds')::interval,"
            " 'scheduled', '', 0, '', '', '', now() FROM generate_series(1, %s) AS g",
            [enrollment_id, count],
        )
        cursor.execute("ANALYZE drip_delivery")
