"""``drip demo --serve``: the staff pages on the last demo's sandbox, with a demo account.

A newcomer runs ``make demo``, then this, signs in with the printed account and clicks through
the sample patient's series. Loopback only; no authenticator code (the demo is development).
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from drip.models import Patient
from drip.staff.models import StaffAccount

DEMO_USERNAME = "demo-admin"


def serve_demo(command: BaseCommand, bind: str) -> None:
    """Check the sandbox holds the demo, make the account, print how to sign in, serve."""
    from drip.management.commands.web import DripGunicorn, is_loopback

    if not settings.DRIP_DEMO:
        raise CommandError("run it as `drip demo --serve`: it serves the demo's own sandbox")
    host, _, port = bind.rpartition(":")
    if not is_loopback(host.strip("[]")):
        raise CommandError(f"--bind {bind}: the demo serves loopback only (127.0.0.1, ::1)")
    patient = _sample_patient()
    password = make_demo_account()
    command.stdout.write(
        f"Staff pages on the demo's data ({settings.DRIP_DEMO_DIR}):\n"
        f"  open     http://{host}:{port}/\n"
        f"  sign in  {DEMO_USERNAME} / {password}   (a new password each start; no code needed)\n"
        f"  then     Patients -> {patient.first_name} {patient.last_name}: the series, each"
        f" message, the audit (http://{host}:{port}/patients/{patient.pk})\n"
        "Ctrl-C stops it. `drip demo` starts a fresh sandbox (and a new account).\n"
    )
    sys.stdout.flush()
    options: dict[str, Any] = {"bind": bind, "workers": 1, "threads": 4, "accesslog": "-"}
    DripGunicorn(options).run()


def _sample_patient() -> Patient:
    database = settings.DATABASES["default"]["NAME"]
    patient = None
    if settings.DRIP_DEMO_DIR.joinpath("drip.sqlite3").exists():
        patient = Patient.objects.order_by("pk").first()
    if patient is None:
        raise CommandError(f"no demo data in {database}: run `make demo` (or `drip demo`) first")
    return patient


def make_demo_account() -> str:
    """The demo account (admin, so the audit page shows too) with a new random password."""
    password = secrets.token_urlsafe(9)
    with transaction.atomic():
        user, _ = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"first_name": "Demo", "last_name": "Admin"}
        )
        user.set_password(password)
        user.save()
        user.groups.set(Group.objects.get_or_create(name=g)[0] for g in ("staff", "admin"))
        StaffAccount.objects.update_or_create(user=user, defaults={"must_change_password": False})
    return password
