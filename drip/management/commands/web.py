"""``drip web``: serve the web app and webhooks with gunicorn.

gunicorn runs as a library here (``BaseApplication``), configured from our options only: its
own command-line entry point reads ``sys.argv``, which holds ``drip web ...``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from gunicorn.app.base import BaseApplication


class Command(BaseCommand):
    help = "Serve drip with gunicorn (webhooks, unsubscribe, admin, static files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port")
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **opts: Any) -> None:
        host = opts["bind"].rpartition(":")[0].strip("[]")
        if settings.DEBUG and not is_loopback(host):
            raise CommandError(
                f"--bind {opts['bind']}: with DEBUG on (DRIP_ENV={settings.DRIP_ENV}) drip "
                "serves loopback only; set DRIP_ENV=production to serve other hosts"
            )
        options = {"bind": opts["bind"], "workers": opts["workers"], "accesslog": "-"}
        DripGunicorn(options).run()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or 0.0.0.0: reachable from elsewhere


class DripGunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn serving drip's WSGI application with the given settings, nothing from argv."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from drip.wsgi import application

        return application
