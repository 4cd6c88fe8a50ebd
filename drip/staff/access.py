"""Who may see the staff pages, and what a signed-in person must do first.

Order of checks: signed in -> first-sign-in password changed -> code verified (when required, or
when the person has set up an authenticator anyway) -> in the ``staff`` or ``admin`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from drip.staff.models import SignInFailures, StaffAccount

STAFF_GROUPS = ("staff", "admin")
View = Callable[..., HttpResponse]


def group_names(user: Any) -> frozenset[str]:
    """The user's groups, read once per request (kept on the user object the request holds)."""
    if not hasattr(user, "_drip_groups"):
        user._drip_groups = frozenset(user.groups.values_list("name", flat=True))
    return frozenset(user._drip_groups)


def is_staff_member(user: Any) -> bool:
    """In the ``staff`` or ``admin`` group (superusers too)."""
    return bool(user.is_superuser or group_names(user) & set(STAFF_GROUPS))


def must_change_password(user: Any) -> bool:
    return StaffAccount.objects.filter(user=user, must_change_password=True).exists()


def code_device(user: Any) -> TOTPDevice | None:
    """The person's confirmed authenticator, if they have set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def next_step(request: HttpRequest) -> str | None:
    """Where a signed-in person must go before any staff page, or None when they may pass."""
    user = request.user
    if must_change_password(user):
        return "staff:password"
    # Right after login() in the same request the user has no is_verified (the OTP middleware
    # adds it on the next request): not verified yet.
    if getattr(user, "is_verified", lambda: False)():
        return None
    if code_device(user) is not None:
        return "staff:code"
    return "staff:code-setup" if settings.DRIP_REQUIRE_2FA else None


def staff_required(view: View) -> View:
    """Signed in, past every first step, and a member of staff; else sign-in, the step, or 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        step = next_step(request)
        if step is not None:
            return redirect(step)
        if not is_staff_member(request.user):
            raise PermissionDenied("this page is for clinic staff")
        request.drip_staff_member = True  # type: ignore[attr-defined]  # the alert band may show
        return view(request, *args, **kwargs)

    return wrapped


# --- failed sign-ins ------------------------------------------------------------------------


def wait_s(username: str, address: str, now: datetime) -> int:
    """Seconds this username from this address must wait before trying again (0: go ahead)."""
    row = SignInFailures.objects.filter(username=username, address=address).first()
    if row is None or row.failures < settings.DRIP_SIGN_IN_FREE_TRIES:
        return 0
    extra = row.failures - settings.DRIP_SIGN_IN_FREE_TRIES
    wait = min(settings.DRIP_SIGN_IN_WAIT_S * 2**extra, settings.DRIP_SIGN_IN_MAX_WAIT_S)
    remaining = row.last_failed_at + timedelta(seconds=wait) - now
    return max(0, int(remaining.total_seconds() + 0.999))


def record_failure(username: str, address: str, now: datetime) -> None:
    row, created = SignInFailures.objects.get_or_create(
        username=username, address=address, defaults={"failures": 1, "last_failed_at": now}
    )
    if not created:
        SignInFailures.objects.filter(pk=row.pk).update(
            failures=F("failures") + 1, last_failed_at=now
        )


def clear_failures(username: str, address: str) -> None:
    SignInFailures.objects.filter(username=username, address=address).delete()


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: a forwarded-for header is the client's to forge.
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def is_admin(user: Any) -> bool:
    """In the ``admin`` group (superusers too)."""
    return bool(user.is_superuser or "admin" in group_names(user))


def admin_required(view: View) -> View:
    """Like ``staff_required``, and in the ``admin`` group: a staff member gets 403."""

    @wraps(view)
    @staff_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_admin(request.user):
            raise PermissionDenied("this page is for clinic admins")
        return view(request, *args, **kwargs)

    return wrapped


def staff_user(request: HttpRequest) -> User:
    """The signed-in staff member, behind :func:`staff_required` (never AnonymousUser): audit
    records name the user, not a typed name."""
    return cast(User, request.user)
