"""The schedule editor at scale: the impact of a draft, then publish and move every series.

10,000 patients (default) are enrolled through the real service in the shipped six-infusion
schedule; a draft moves one step a day earlier, removes another and rewords a third. Prints how
long the impact takes to compute, and how long publishing and moving every series takes (the
batches the Celery task runs, one after another in a thread of this process), while two real
workers send due messages: the sender's rate during the move beside its rate alone.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from bench import throughput
from bench.common import reset_tables, setup_django

NAME = "ketamine-six-infusion"
AREAS = ("212", "312", "415")
SENDER_ROWS = 10_000  # due deliveries the sender drains alone, then again during the move
CHANNELS = ("sms", "email")  # one per 10,000 patients: phones stay unique


def run(count: int = 10_000) -> None:
    env = setup_django()
    from drip.catalog import drafts, impact, publish
    from drip.core.schedule import parse_schedule
    from drip.models import Delivery, Enrollment, ScheduleDraft, ScheduleVersion, VersionMove

    reset_tables()
    VersionMove.objects.all().delete()
    ScheduleDraft.objects.all().delete()
    ScheduleVersion.objects.filter(name=NAME, version__gt=1).delete()
    now = datetime.now(UTC)
    started = time.perf_counter()
    _enroll(count, now)
    print(f"editor: {count:,} series enrolled in {time.perf_counter() - started:.1f} s "
          f"({Delivery.objects.count():,} deliveries)")  # fmt: skip
    draft = _edited_draft(now)
    spec_text = drafts.spec_to_yaml(draft.spec)[0]
    started = time.perf_counter()
    found = impact.impact(NAME, parse_schedule(spec_text, source=NAME), draft.messages, now=now)
    impact_s = time.perf_counter() - started
    print(f"editor: impact of the draft on {found.series:,} series in {impact_s:.1f} s "
          f"(target <= 5 s): {found.moved:,} re-timed, {found.removed:,} removed, "
          f"{found.reworded:,} reworded, {found.added:,} added")  # fmt: skip
    # What the series sent at enrollment has gone out (bench data): only seeded rows are due.
    Delivery.objects.filter(due_at__lte=now).update(status="sent", sent_at=now)
    idle = throughput._drip_run(env, SENDER_ROWS, 2, delay_ms=0, channels=CHANNELS, reset=False)
    Enrollment.objects.filter(patient__email__startswith="due").update(status="ended")  # not moved
    started = time.perf_counter()
    _, move = publish.publish_draft(
        draft, revision=draft.revision, note="bench", who_moves=publish.EVERYONE,
        actor="bench", now=now,
    )  # fmt: skip
    publish_s = time.perf_counter() - started
    mover = _Mover(move.pk, now)  # type: ignore[union-attr]
    busy = throughput._drip_run(
        env, SENDER_ROWS, 2, delay_ms=0, channels=CHANNELS, reset=False, first=SENDER_ROWS,
        during=mover.start,
    )  # fmt: skip
    mover.join()
    move_s, done = publish_s + mover.seconds, VersionMove.objects.get(pk=mover.move_id)
    print(f"editor: publish and move {done.moved:,} series in {move_s:.1f} s (target <= 60 s) = "
          f"{done.moved / move_s:,.0f} series/s; {done.retimed:,} re-timed, "
          f"{done.skipped:,} skipped; the sender sent meanwhile")  # fmt: skip
    print(f"editor: sender alone {idle['rate']:,.0f}/s, during the move {busy['rate']:,.0f}/s = "
          f"{busy['rate'] / idle['rate']:.0%} (target >= 80%); "
          f"duplicates {idle['duplicates'] + busy['duplicates']}, "
          f"lost {idle['lost'] + busy['lost']}")  # fmt: skip


class _Mover(threading.Thread):
    """The move's batches, one after another, in a thread with its own database connection
    (as the Celery task runs them on a worker)."""

    def __init__(self, move_id: int, now: datetime) -> None:
        super().__init__(daemon=True)
        self.move_id, self.now, self.seconds = move_id, now, 0.0

    def run(self) -> None:
        from django.db import connection

        from drip.catalog import publish

        started = time.perf_counter()
        try:
            publish.move_all(self.move_id, now=self.now)
        finally:
            self.seconds = time.perf_counter() - started
            connection.close()


def _enroll(count: int, now: datetime) -> None:
    from drip.enrollment.service import PatientInput, enroll

    first = (now + timedelta(days=7)).replace(
        tzinfo=None, hour=10, minute=0, second=0, microsecond=0
    )
    infusions = [first + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    for i in range(count):
        patient = PatientInput(
            f"P{i}", "Bench", f"p{i}@bench.test", f"+1{AREAS[i // 10000 % 3]}555{i % 10000:04d}",
            "America/New_York", True, True,
        )  # fmt: skip
        enroll(patient, infusions, now=now, actor="bench")


def _edited_draft(now: datetime):  # type: ignore[no-untyped-def]
    from drip.catalog import drafts

    draft = drafts.start(NAME, actor="bench", now=now)
    keys = [s["key"] for s in draft.spec["steps"]]
    spec = drafts.with_step(
        draft.spec, keys.index("what-to-expect"),
        {**draft.spec["steps"][keys.index("what-to-expect")], "offset": "-3d"},
    )  # fmt: skip
    spec = drafts.without_step(spec, keys.index("look-at-your-life"))
    messages = dict(draft.messages)
    messages["therapy-alongside"] = {
        **messages["therapy-alongside"],
        "email_subject": "One more idea",
    }
    return drafts.save(
        draft, revision=draft.revision, actor="bench", now=now, spec=spec, messages=messages
    )
