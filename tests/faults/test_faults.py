"""Nothing sent twice, no SMS lost, and no email lost unseen, when workers, Redis, PostgreSQL
or providers fail.

A SIGKILL (or a database failure at the wrong moment) may strand a claimed row in 'sending'.
After the sending lease an SMS is looked up in Twilio's message list (recorded if Twilio has it,
sent if not), so every SMS arrives exactly once. An email is not resent blindly (SMTP has nothing
to ask): it counts as lost if the server never got it, but it stays 'sending' and is listed for
staff. Every scenario checks that each lost row is such an email; the scenarios without kills
check that nothing is lost or left at all.

Each scenario: 2,000 deliveries due at once, two worker processes and two dispatcher processes
on PostgreSQL and our own redis-server, a fault while they work, then a drain. The provider
servers' own records are the truth. Prints one line per scenario. Runs in the PostgreSQL pass.
"""

from __future__ import annotations

import random

import psycopg
import pytest
from django.db import connection

from tests.conftest import REDIS_HOST, need_service
from tests.faults.harness import TWILIO_TOKEN, Cluster, run_scenario

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]


@pytest.fixture
def database_url(postgres_only, settings) -> str:
    need_service("Redis binary check via machine Redis", REDIS_HOST, 6379)
    db = connection.settings_dict
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    from drip.catalog import versions as catalog

    catalog.publish_from_disk(actor="faults")
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def run(name: str, database_url: str, fault, *, fault_s: float, **cluster_options):
    cluster = Cluster(database_url, **cluster_options)
    try:
        outcome = run_scenario(cluster, lambda elapsed: fault(cluster, elapsed), fault_s=fault_s)
    finally:
        cluster.stop()
    from tests.faults.harness import SCENARIO_LINES

    SCENARIO_LINES.append(outcome.line(name))
    assert outcome.duplicates == 0, outcome
    # Every SMS reached Twilio: those a kill left 'sending' were looked up after the lease.
    assert outcome.sms_lost == 0 and outcome.sms_unsettled == 0, outcome
    # Every other delivery reached its provider, or its row is an email left 'sending' for staff
    # to resolve: none is marked sent, failed or anything else without the provider having it.
    assert outcome.lost_not_sending == 0 and outcome.lost <= outcome.emails_listed, outcome
    return outcome


def no_fault(cluster, elapsed):
    pass


def test_killed_workers_send_nothing_twice_and_every_sms_arrives(database_url):
    rng = random.Random(7)
    next_kill = [1.0]

    def kill(cluster, elapsed):
        if elapsed >= next_kill[0]:
            cluster.kill_random_worker(rng)
            next_kill[0] = elapsed + rng.uniform(0.8, 2.0)

    # Twilio answers in 300 ms, as the real one can (100-300 ms), so kills land mid-call.
    outcome = run(
        "a. workers SIGKILLed", database_url, kill, fault_s=10, twilio_faults={"delay_ms": 300}
    )
    assert outcome.found_by_lookup + outcome.sent_again > 0, "no SMS was stranded: no proof"


def test_a_redis_restart_mid_run_loses_and_duplicates_nothing(database_url):
    done = [False]

    def restart(cluster, elapsed):
        if elapsed >= 1.5 and not done[0]:
            cluster.redis.restart()
            done[0] = True

    outcome = run("b. Redis restarted", database_url, restart, fault_s=3)
    assert outcome.lost == 0 and outcome.emails_listed == 0


def test_killed_postgres_connections_send_nothing_twice_and_every_sms_arrives(database_url):
    name = connection.settings_dict["NAME"]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    next_kill = [1.0]

    def kill_connections(cluster, elapsed):
        if elapsed >= next_kill[0]:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name <> 'pytest'",
                    [name],
                )
            next_kill[0] = elapsed + 1.0

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET application_name = 'pytest'")
    run("c. PostgreSQL connections killed", database_url, kill_connections, fault_s=6)


def test_twilio_errors_and_stalls_are_retried_to_exactly_once(database_url):
    # Half the stalls come after Twilio created the message: the retry must find it, not resend.
    outcome = run(
        "d. Twilio 30% 5xx/429, 5% stalls",
        database_url,
        no_fault,
        fault_s=0,
        twilio_faults={
            "error_rate": 0.3,
            "stall_rate": 0.025,
            "taken_stall_rate": 0.025,
            "stall_s": 1.5,
        },
    )
    assert outcome.lost == 0 and outcome.emails_listed == 0


def test_smtp_451_is_retried_to_exactly_once(database_url):
    outcome = run("e. SMTP 451 on 30%", database_url, no_fault, fault_s=0, smtp_451_rate=0.3)
    assert outcome.lost == 0 and outcome.emails_listed == 0
