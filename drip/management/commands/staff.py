"""``drip staff add USERNAME [--admin]``: a staff account with a one-time password to change."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from drip.models import AuditEvent
from drip.staff.models import StaffAccount


class Command(BaseCommand):
    help = "Add a staff account; prints a one-time password the person changes at first sign-in."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a staff account")
        add.add_argument("username")
        add.add_argument("--name", default="", help='full name, e.g. "Sam Lee"')
        add.add_argument("--email", default="")
        add.add_argument("--admin", action="store_true", help="also in the admin group")

    def handle(self, *args: Any, **opts: Any) -> None:
        username = opts["username"].strip()
        if not username:
            raise CommandError("give a username, e.g. drip staff add sam")
        if username in AuditEvent.SYSTEM_ACTORS:
            raise CommandError(
                f"'{username}' names a system actor in the audit; choose another username"
            )
        if User.objects.filter(username=username).exists():
            raise CommandError(f"there is already an account named '{username}'")
        password = secrets.token_urlsafe(12)
        first, _, last = opts["name"].strip().partition(" ")
        with transaction.atomic():
            user = User.objects.create_user(
                username, opts["email"], password, first_name=first, last_name=last
            )
            groups = ["staff", "admin"] if opts["admin"] else ["staff"]
            user.groups.set(Group.objects.get_or_create(name=g)[0] for g in groups)
            StaffAccount.objects.create(user=user, must_change_password=True)
        self.stdout.write(
            f"Added {username} ({', '.join(groups)}). One-time password: {password}\n"
            "They choose their own password at first sign-in"
            " and then set up a six-digit code from an authenticator app."
        )
