"""Sign in, choose a password on first sign-in, set up and enter the six-digit code, sign out."""

from __future__ import annotations

import base64
from typing import cast

import segno
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from drip.staff import access
from drip.staff.forms import CodeForm, SignInForm, posted
from drip.staff.models import StaffAccount


def sign_in(request: HttpRequest) -> HttpResponse:
    """Username and password; three wrong tries make each next one wait longer."""
    form = SignInForm(request, data=posted(request))
    refused = ""  # the password is not even checked while a wait is on
    if request.method == "POST":
        username, address = request.POST.get("username", "")[:150], access.client_address(request)
        wait = access.wait_s(username, address, timezone.now())
        if wait:
            form = SignInForm(request, initial={"username": username})
            refused = f"Too many wrong tries. Wait {wait} seconds, then try again."
        elif form.is_valid():
            access.clear_failures(username, address)
            login(request, form.get_user())
            return redirect(access.next_step(request) or _next_url(request))
        else:
            access.record_failure(username, address, timezone.now())
    context = {"form": form, "next": _next_url(request), "refused": refused}
    return render(request, "staff/sign_in.html", context, status=429 if refused else 200)


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure())
    return wanted if wanted and safe else "/"


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("staff:sign-in")


@login_required
def password(request: HttpRequest) -> HttpResponse:
    """First sign-in: choose a new password (the one an admin gave out is not kept)."""
    user = cast(User, request.user)  # @login_required: a signed-in person, not AnonymousUser
    form = SetPasswordForm(user, posted(request))
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        StaffAccount.objects.filter(user=user).update(must_change_password=False)
        return redirect(access.next_step(request) or "staff:today")
    return render(request, "staff/password.html", {"form": form})


@login_required
def code(request: HttpRequest) -> HttpResponse:
    """The six-digit code from the person's authenticator app."""
    device = access.code_device(request.user)
    if device is None:
        return redirect("staff:code-setup")
    form = CodeForm(posted(request))
    if request.method == "POST" and _code_is_right(request, form, device):
        otp_login(request, device)
        return redirect(_next_url(request))
    return render(request, "staff/code.html", {"form": form}, status=_status(form))


@login_required
def code_setup(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the QR image (or type the key), then enter a code."""
    if access.code_device(request.user) is not None:
        return redirect("staff:code")
    device, _ = TOTPDevice.objects.get_or_create(
        user=request.user, confirmed=False, defaults={"name": "Authenticator app"}
    )
    form = CodeForm(posted(request))
    if request.method == "POST" and _code_is_right(request, form, device):
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        otp_login(request, device)
        return redirect(_next_url(request))
    context = {
        "form": form,
        "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=5),
        "key": base64.b32encode(device.bin_key).decode(),
    }
    return render(request, "staff/code_setup.html", context, status=_status(form))


def _code_is_right(request: HttpRequest, form: CodeForm, device: TOTPDevice) -> bool:
    """True when the code is right; else False with the error on the form (and counted)."""
    username, address = request.user.get_username(), access.client_address(request)
    wait = access.wait_s(username, address, timezone.now())
    if wait:
        form.add_error(None, f"Too many wrong codes. Wait {wait} seconds, then try again.")
    elif form.is_valid() and device.verify_token(form.cleaned_data["code"].strip()):
        access.clear_failures(username, address)
        return True
    elif form.is_valid():
        access.record_failure(username, address, timezone.now())
        form.add_error(
            "code",
            "That code is not right. Codes change every 30 seconds: try the one your app shows now.",
        )
    return False


def _status(form: CodeForm) -> int:
    return 200 if not form.is_bound or not form.errors else 400
