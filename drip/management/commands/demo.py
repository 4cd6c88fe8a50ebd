"""``drip demo``: a whole six-infusion series for a sample patient, on a virtual clock.

Runs the real pieces — enrollment service, dispatcher, a Celery worker (in-process, embedded
broker) and the file outbox channel — in a sandbox of its own (``<data folder>/demo``: SQLite
+ outbox), so it never touches real data. The virtual clock jumps from one due time to the next; staff
actions happen along the way (infusions marked done, one moved, one cancelled).

``drip demo --serve`` then serves the staff pages on that sandbox with a demo account.
"""

from __future__ import annotations

import json
import logging
import shutil
import time as wallclock
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from drip.catalog import versions as catalog
from drip.demo import sample
from drip.demo.serve import serve_demo
from drip.enrollment import service as enrollment
from drip.models import Delivery, Enrollment, Infusion

_IN_FLIGHT = (Delivery.Status.QUEUED, Delivery.Status.SENDING)


class Command(BaseCommand):
    help = "Run a six-infusion series for a sample patient through the real engine, on a virtual clock."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="only the summary")
        parser.add_argument(
            "--serve",
            action="store_true",
            help="serve the staff pages on the last demo's data, with a demo account it prints",
        )
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port (loopback only)")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["serve"]:
            serve_demo(self, opts["bind"])
            return
        started = wallclock.monotonic()
        self.quiet = opts["quiet"]
        self._fresh_sandbox()
        call_command("migrate", verbosity=0)
        catalog.publish_from_disk(actor="demo")
        now = self._start_time()
        enrolled = enrollment.enroll(
            enrollment.PatientInput(
                first_name=sample.SAMPLE_FIRST_NAME,
                last_name="Rivera",
                email="alex@example.com",
                phone="+12125550123",
                time_zone=sample.SAMPLE_ZONE,
                sms_consent=True,
                email_consent=True,
                consent_method="written",
            ),
            sample.sample_infusion_times(now.date()),
            now=now,
            actor="demo",
        )
        self.say(
            f"Enrolled sample patient #{enrolled.patient_id} ({sample.SAMPLE_ZONE}); "
            f"{enrolled.deliveries.count()} messages planned.\n"
        )
        self._run_series(enrolled, now)
        self._summarize(enrolled, wallclock.monotonic() - started)

    def _fresh_sandbox(self) -> None:
        """A new SQLite file and outbox each run (``drip demo`` sets DRIP_DEMO: see settings)."""
        if not settings.DRIP_DEMO:
            raise CommandError("run the demo as `drip demo`: it needs its own sandbox")
        shutil.rmtree(settings.DRIP_DEMO_DIR, ignore_errors=True)
        settings.DRIP_DEMO_DIR.mkdir(parents=True)

    def _start_time(self) -> datetime:
        from zoneinfo import ZoneInfo

        local_now = datetime.now(ZoneInfo(sample.SAMPLE_ZONE)).replace(
            hour=11, minute=0, second=0, microsecond=0
        )
        return local_now

    def _run_series(self, enrolled: Enrollment, now: datetime) -> None:
        from celery.contrib.testing.worker import start_worker

        from drip.celery import app
        from drip.tasks import dispatch_due

        app.conf.broker_transport_options = {"polling_interval": 0.01}
        with start_worker(
            app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
        ):
            # After the worker started: its Django setup re-applies LOGGING (drip at INFO).
            logging.getLogger("drip").setLevel(logging.WARNING)  # the demo prints its own story
            while (due := self._next_due(enrolled)) is not None:
                now = max(now, due)
                self._staff_actions(enrolled, now)
                dispatch_due.apply(kwargs={"as_of": now.isoformat()})
                self._wait_idle(enrolled)
                self._print_sent(enrolled, now)

    def _next_due(self, enrolled: Enrollment) -> datetime | None:
        row = (
            enrolled.deliveries.filter(status=Delivery.Status.SCHEDULED).order_by("due_at").first()
        )
        return row.due_at if row else None

    def _staff_actions(self, enrolled: Enrollment, now: datetime) -> None:
        """What a clinic's staff would do as the series goes on."""
        for infusion in enrolled.infusions.filter(
            status=Infusion.Status.SCHEDULED, starts_at__lte=now
        ):
            enrollment.mark_infusion(enrolled, infusion.number, "done", now=now, actor="demo-staff")
            self.say(f"  [staff] infusion {infusion.number} marked done")
            if infusion.number == 2:
                fourth = enrolled.infusions.get(number=4)
                moved_to = fourth.starts_at + timedelta(days=1)
                enrollment.move_infusion(enrolled, 4, moved_to, now=now, actor="demo-staff")
                self.say("  [staff] infusion 4 moved one day later; its pending messages re-timed")

    def _wait_idle(self, enrolled: Enrollment, timeout_s: float = 30.0) -> None:
        deadline = wallclock.monotonic() + timeout_s
        while enrolled.deliveries.filter(status__in=_IN_FLIGHT).exists():
            if wallclock.monotonic() > deadline:
                raise RuntimeError("the worker did not finish within 30 s")
            wallclock.sleep(0.02)  # waiting for a real worker thread, not for time to pass

    def _print_sent(self, enrolled: Enrollment, now: datetime) -> None:
        rows = enrolled.deliveries.filter(sent_at=now).order_by("step_key", "channel")
        zone = enrolled.patient.time_zone
        for row in rows:
            self.say(f"{timeline_time(row.due_at, zone)}  sent  {row.channel:<5}  {row.step_key}")

    def _summarize(self, enrolled: Enrollment, elapsed_s: float) -> None:
        counts = Counter(enrolled.deliveries.values_list("status", flat=True))
        outbox = settings.DRIP_OUTBOX_DIR
        emails = [p.name for p in outbox.glob("*.eml")]
        sms_path = outbox / "sms.jsonl"
        sms_lines = sms_path.read_text().splitlines() if sms_path.exists() else []
        in_outbox = sorted(
            [f"email:{n}" for n in emails]
            + [f"sms:{json.loads(line)['delivery_id']}" for line in sms_lines]
        )
        sent = enrolled.deliveries.filter(status=Delivery.Status.SENT)
        expected = sorted(
            f"email:email-{d.pk}.eml" if d.channel == "email" else f"sms:{d.pk}" for d in sent
        )
        verdict = (
            "exactly the sent messages, once each"
            if in_outbox == expected
            else "MISMATCH with sent rows"
        )
        self.stdout.write("\nTimeline:")
        for entry in enrollment.timeline(enrolled):
            self.stdout.write(f"  {entry}")
        self.stdout.write(
            f"\nDeliveries: {dict(sorted(counts.items()))}\n"
            f"Outbox {outbox}: {len(emails)} emails, {len(sms_lines)} SMS: {verdict}.\n"
            f"Finished in {elapsed_s:.1f} s."
        )

    def say(self, text: str) -> None:
        if not self.quiet:
            self.stdout.write(text)


def timeline_time(instant: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(zone)).strftime("%a %b %d %H:%M %Z")
