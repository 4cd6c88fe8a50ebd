"""``drip worker``: a Celery worker (same as ``celery -A drip.celery worker``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a Celery worker that sends due deliveries. Extra arguments go to celery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("celery_args", nargs="*", help="e.g. -- --concurrency 2")

    def handle(self, *args: Any, **opts: Any) -> None:
        from drip.celery import app

        app.worker_main(["worker", "--loglevel", "INFO", *opts["celery_args"]])
