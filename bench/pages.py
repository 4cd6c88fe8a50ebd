"""`python -m bench pages [--patients N] [--small N] [--requests K]`: the staff pages' p95.

On PostgreSQL with N patients (default 100,000) and their deliveries (22 each, ~2.2 million),
then the same pages with ``--small`` patients (default 1,000): patient search (as you type),
the patient page with its timeline, Today, and Enroll (POST, then the timeline it redirects
to). Each page is asked ``--requests`` times through Django's test Client (the whole Django
stack, no network) signed in as a staff member; the figures are milliseconds per request.

The rows are written by SQL (INSERT ... SELECT over generate_series), copying one series that
the real enrollment service planned, shifted in time: patients enrolled over the last 14 weeks,
so some series are over, some half way, some just starting; past messages sent (texts
delivered), 1% failed, 2% skipped; future ones scheduled.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import FIRST_NAMES, percentile, reset_tables, setup_django

GOALS_MS = {"search": 100, "patient page": 50, "Today": 200, "enroll": 150}
# Last names from two syllable lists: 900 of them, as varied as a clinic's.
_FRONT = "Ander Bark Cald Dun Ell Fair Gar Hal Ing Jen Kel Lang Mor Nor Old Par Quin Ros Sand " \
    "Tal Upton Vance Wal Yor Zell Bram Crow Dal Fen Gil".split()  # fmt: skip
_BACK = "son ley ton field wood man ford well by ridge stone berg hurst wick land more " \
    "dale worth shaw croft ham ing cott burn lin ard ett ay ers ez".split()  # fmt: skip


def run(*argv: str) -> None:
    args = _parse(list(argv))
    setup_django()
    rows = []
    for count in (args.small, args.patients):  # the big one last: left for EXPLAIN afterwards
        seeded_s = seed(count)
        figures = measure(args.requests)
        rows.append((count, seeded_s, figures))
    report(rows[::-1])


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench pages")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=100, help="per page")
    return parser.parse_args(argv)


# --- data ------------------------------------------------------------------------------------


def seed(count: int) -> float:
    """``count`` patients with a series each; returns the seconds it took."""
    from django.db import connection, transaction

    started = time.perf_counter()
    reset_tables()
    now = datetime.now(UTC)
    template_id = _template_series(now)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in _seed_sql():
            cursor.execute(statement, {"n": count - 1, "template": template_id, "now": now})
    with connection.cursor() as cursor:
        # As autovacuum leaves a table in steady state: statistics and the visibility map
        # (without it, counting an index's rows reads the table too).
        for table in ("drip_patient", "drip_enrollment", "drip_infusion", "drip_delivery"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


def _template_series(now: datetime) -> int:
    """One series planned by the real enrollment service: the pattern every copy follows."""
    from drip.enrollment.service import PatientInput, enroll

    first = (now + timedelta(days=7)).replace(tzinfo=None, hour=10, minute=0, second=0)
    infusions = [first + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    person = PatientInput(
        "Alex", "Rivera", "alex@bench.test", "+12125550100", "America/New_York", True, True
    )
    return int(enroll(person, infusions, now=now, actor="bench").pk)


def _seed_sql() -> list[str]:
    """Patients, consent, enrollments, infusions, deliveries, audit: each one INSERT ... SELECT.

    Patient g (2..n+1) is enrolled ``g % 98`` days and ``g % 24`` hours before the template's
    enrollment (shift); every time of the copy moves by the same shift."""
    first = "(ARRAY[" + ",".join(f"'{n}'" for n in FIRST_NAMES) + "])"
    front = "(ARRAY[" + ",".join(f"'{s}'" for s in _FRONT) + "])"
    back = "(ARRAY[" + ",".join(f"'{s}'" for s in _BACK) + "])"
    shift = "(make_interval(days => (p.id %% 98)::int, hours => (p.id %% 24)::int))"
    return [
        f"""INSERT INTO drip_patient (first_name, last_name, email, phone, time_zone,
            sms_consent, email_consent, created_at)
            SELECT {first}[1 + g %% 12], {front}[1 + g %% 30] || {back}[1 + (g / 30) %% 30],
                   'p' || g || '@bench.test', '+1202' || lpad(g::text, 7, '0'),
                   'America/New_York', true, true, %(now)s
            FROM generate_series(1, %(n)s) AS g""",
        """INSERT INTO drip_consentrecord (channel, granted, method, recorded_by, recorded_at,
            patient_id)
            SELECT c, true, 'written', 'bench', %(now)s, p.id
            FROM drip_patient p CROSS JOIN (VALUES ('sms'), ('email')) AS ch(c)
            WHERE p.email LIKE 'p%%@bench.test'""",
        f"""INSERT INTO drip_enrollment (status, enrolled_at, patient_id, schedule_version_id,
            series_size)
            SELECT 'active', t.enrolled_at - {shift}, p.id, t.schedule_version_id, t.series_size
            FROM drip_patient p, drip_enrollment t
            WHERE t.id = %(template)s AND p.id <> t.patient_id""",
        """INSERT INTO drip_infusion (number, starts_at, status, enrollment_id)
            SELECT i.number, i.starts_at - (t.enrolled_at - e.enrolled_at),
                   CASE WHEN i.starts_at - (t.enrolled_at - e.enrolled_at) < %(now)s
                        THEN 'done' ELSE 'scheduled' END, e.id
            FROM drip_enrollment e, drip_enrollment t, drip_infusion i
            WHERE t.id = %(template)s AND i.enrollment_id = t.id AND e.id <> t.id""",
        """INSERT INTO drip_delivery (step_key, channel, message_key, anchor_infusion, due_at,
            status, skip_reason, attempts, provider_id, error_code, error_text, sent_at,
            delivered_at, updated_at, enrollment_id)
            SELECT d.step_key, d.channel, d.message_key, d.anchor_infusion, x.due, x.status,
                   CASE WHEN x.status = 'skipped' THEN 'too_late' ELSE '' END,
                   CASE WHEN x.past THEN 1 ELSE 0 END, '',
                   CASE WHEN x.status = 'failed' THEN '30006' ELSE '' END, '',
                   CASE WHEN x.status IN ('sent', 'delivered') THEN x.due END,
                   CASE WHEN x.status = 'delivered' THEN x.due + interval '5 seconds' END,
                   CASE WHEN x.past THEN x.due ELSE e.enrolled_at END, e.id
            FROM drip_enrollment e, drip_enrollment t, drip_delivery d,
            LATERAL (SELECT d.due_at - (t.enrolled_at - e.enrolled_at) AS due) AS due_at,
            LATERAL (SELECT due_at.due AS due, due_at.due < %(now)s AS past,
                CASE WHEN due_at.due >= %(now)s THEN 'scheduled'
                     WHEN (e.id + d.id) %% 100 = 0 THEN 'failed'
                     WHEN (e.id + d.id) %% 50 = 1 THEN 'skipped'
                     WHEN d.channel = 'sms' THEN 'delivered' ELSE 'sent' END AS status) AS x
            WHERE t.id = %(template)s AND d.enrollment_id = t.id AND e.id <> t.id""",
        """UPDATE drip_enrollment e SET status = 'completed' WHERE NOT EXISTS (
            SELECT 1 FROM drip_delivery d WHERE d.enrollment_id = e.id AND d.status = 'scheduled')""",
        """INSERT INTO drip_auditevent (at, actor, event, detail, enrollment_id, patient_id)
            SELECT e.enrolled_at, 'bench', 'enrolled', '{}'::jsonb, e.id, e.patient_id
            FROM drip_enrollment e""",
    ]


# --- requests --------------------------------------------------------------------------------


def measure(requests: int) -> dict[str, list[float]]:
    """Milliseconds per request for each page, after a few unmeasured warm-up requests."""
    client = _signed_in_client()
    pages: dict[str, Callable[[int], Any]] = {
        "search": lambda i: client.get("/patients", {"q": _query(i)}, HTTP_HX_REQUEST="true"),
        "patient page": lambda i: client.get(f"/patients/{_random_patient()}"),
        "Today": lambda i: client.get("/"),
        "enroll": lambda i: client.post("/enroll", _enroll_form(i), follow=True),
    }
    figures: dict[str, list[float]] = {}
    for name, ask in pages.items():
        for i in range(5):
            _checked(ask(-1 - i), name)
        figures[name] = [_timed(ask, i, name) for i in range(requests)]
    return figures


def _timed(ask: Callable[[int], Any], i: int, name: str) -> float:
    started = time.perf_counter()
    response = ask(i)
    elapsed_ms = (time.perf_counter() - started) * 1000
    _checked(response, name)
    return elapsed_ms


def _checked(response: Any, name: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{name}: HTTP {response.status_code}")
    if name == "enroll" and b'class="timeline"' not in response.content:
        raise RuntimeError("enroll: the form was refused, not the timeline shown")


def _signed_in_client() -> Any:
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from drip.staff.models import StaffAccount

    user, _ = User.objects.get_or_create(username="bench-staff")
    user.groups.set([Group.objects.get_or_create(name="staff")[0]])
    StaffAccount.objects.update_or_create(user=user, defaults={"must_change_password": False})
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _query(i: int) -> str:
    """What staff type: a last name's start, a first name, an email, a phone's last digits."""
    kinds = (
        lambda: random.choice(_FRONT).lower()[:4],
        lambda: random.choice(_FRONT) + random.choice(_BACK),
        lambda: random.choice(FIRST_NAMES),
        lambda: f"p{random.randrange(1, 1000)}@bench",
        lambda: f"555 {random.randrange(10000):04d}",
    )
    return kinds[i % len(kinds)]()


def _random_patient() -> int:
    from drip.models import Patient

    top = Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 1
    return random.randrange(1, top + 1)


def _enroll_form(i: int) -> dict[str, str]:
    first = (datetime.now(UTC) + timedelta(days=8)).replace(hour=15, minute=0)
    form = {
        "first_name": "Bench",
        "last_name": f"Enroll{i + 10}",
        "phone": f"+1303555{i + 10:04d}",
        "email": f"e{i + 10}.{time.time_ns()}@bench.test",
        "time_zone": "America/New_York",
        "sms_consent": "on",
        "email_consent": "on",
        "consent_method": "verbal",
        "schedule": "ketamine-six-infusion",
        "series_size": "6",
    }
    for n, days in enumerate((0, 2, 4), start=1):
        form[f"infusion_{n}"] = (first + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
    return form


# --- report ----------------------------------------------------------------------------------


def report(rows: list[tuple[int, float, dict[str, list[float]]]]) -> None:
    (big, big_s, big_ms), (small, small_s, small_ms) = rows
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nbench pages: load average {load} ({os.cpu_count()} CPUs)")
    print(f"seeded {big:,} patients in {big_s:.0f} s, {small:,} in {small_s:.0f} s")
    print(f"{'page':<14}{'goal':>8}{big:>12,} p50/p95{small:>10,} p50/p95{'ratio p95':>11}")
    for page, goal in GOALS_MS.items():
        b, s = big_ms[page], small_ms[page]
        b50, b95, s50, s95 = (percentile(v, q) for v in (b, s) for q in (0.5, 0.95))
        mark = "ok" if b95 <= goal else "MISSED"
        print(
            f"{page:<14}{goal:>6} ms{b50:>9.1f} /{b95:>6.1f}{s50:>9.1f} /{s95:>6.1f}"
            f"{b95 / s95:>9.1f}x  {mark}"
        )
