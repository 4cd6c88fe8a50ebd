"""``drip web``: serve the web app and webhooks with gunicorn."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve drip with gunicorn (webhooks, unsubscribe, admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        from gunicorn.app.wsgiapp import run

        run(["gunicorn", "drip.wsgi", "--bind", opts["bind"], "--workers", str(opts["workers"])])
