"""``drip beat``: the scheduler that ticks the dispatcher (``celery -A drip.celery beat``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run Celery beat: every DRIP_DISPATCH_EVERY_S seconds it claims due deliveries."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("celery_args", nargs="*")

    def handle(self, *args: Any, **opts: Any) -> None:
        from drip.celery import app

        settings.DRIP_DATA_DIR.mkdir(parents=True, exist_ok=True)
        schedule_file = str(settings.DRIP_DATA_DIR / "celerybeat-schedule")
        app.start(["beat", "--loglevel", "INFO", "--schedule", schedule_file, *opts["celery_args"]])
