"""Who gets in: sign-in, first-sign-in password, the six-digit code, throttling, roles."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from drip.staff.models import SignInFailures
from tests.staff.conftest import PASSWORD, add_code_device, current_code, make_staff

pytestmark = pytest.mark.django_db

STAFF_PAGES = ["/", "/patients", "/patients/1", "/patients/1/messages/1", "/enroll",
               "/patients/1/consent", "/series/1/infusions/2/move", "/series/1/pause",
               "/series/1/infusions/1/done"]  # fmt: skip


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_anonymous_people_are_sent_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in?next=")


def test_public_endpoints_stay_open_to_anonymous_people(client: Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/sign-in").status_code == 200
    assert client.get("/u/forged-token").status_code != 302


def test_a_signed_in_person_outside_the_staff_groups_is_refused(client: Client) -> None:
    client.force_login(User.objects.create_user("visitor", "", PASSWORD))
    assert client.get("/patients").status_code == 403


def test_the_django_admin_is_for_superusers_only(client: Client) -> None:
    staff = make_staff(groups=("staff", "admin"))
    staff.is_staff = True  # even with Django's staff flag, an admin-group member is not a superuser
    staff.save()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 302
    client.force_login(User.objects.create_superuser("root", "", PASSWORD))
    assert client.get("/admin/").status_code == 200


def sign_in(client: Client, username: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/sign-in", {"username": username, "password": password, **extra})


def test_staff_sign_in_with_username_and_password(client: Client) -> None:
    make_staff()
    response = sign_in(client, "sam", PASSWORD, next="/patients")
    assert response.status_code == 302 and response["Location"] == "/patients"
    assert client.get("/patients").status_code == 200


def test_a_wrong_password_is_refused_in_plain_words(client: Client) -> None:
    make_staff()
    response = sign_in(client, "sam", "wrong")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    assert client.get("/patients").status_code == 302


def test_three_wrong_passwords_make_the_next_try_wait_even_with_the_right_one(
    client: Client,
) -> None:
    make_staff()
    for _ in range(3):
        sign_in(client, "sam", "wrong")
    response = sign_in(client, "sam", PASSWORD)
    assert response.status_code == 429
    assert re.search(r"Wait \d+ seconds", response.content.decode())
    assert client.get("/patients").status_code == 302
    # Once the wait is over, the right password works and the count starts again.
    SignInFailures.objects.update(last_failed_at=timezone.now() - timedelta(minutes=5))
    assert sign_in(client, "sam", PASSWORD).status_code == 302
    assert not SignInFailures.objects.exists()


def test_the_wait_grows_with_each_further_failure(client: Client) -> None:
    make_staff()
    waits = []
    for _ in range(5):
        SignInFailures.objects.update(last_failed_at=timezone.now() - timedelta(hours=1))
        sign_in(client, "sam", "wrong")
        text = sign_in(client, "sam", "wrong").content.decode()
        waits.append(int(m.group(1)) if (m := re.search(r"Wait (\d+) seconds", text)) else 0)
    assert waits[2] > waits[1] > 0


def test_drip_staff_add_makes_an_account_that_must_choose_a_password_first(
    client: Client,
) -> None:
    out = StringIO()
    call_command("staff", "add", "robin", "--name", "Robin Park", stdout=out)
    one_time = re.search(r"One-time password: (\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
    response = sign_in(client, "robin", one_time)
    assert response["Location"] == "/sign-in/password"
    assert client.get("/patients")["Location"] == "/sign-in/password"
    new = "a long new passphrase 42"
    response = client.post("/sign-in/password", {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert client.get("/patients").status_code == 200
    client.logout()
    assert sign_in(client, "robin", one_time).status_code == 200  # the old one no longer works


def test_adding_a_second_account_with_the_same_name_is_refused() -> None:
    call_command("staff", "add", "robin", stdout=StringIO())
    with pytest.raises(Exception, match="already an account named 'robin'"):
        call_command("staff", "add", "robin", stdout=StringIO())


def test_when_codes_are_required_a_new_person_sets_up_an_authenticator(
    client: Client, settings
) -> None:
    settings.DRIP_REQUIRE_2FA = True
    make_staff()
    response = sign_in(client, "sam", PASSWORD)
    assert response["Location"] == "/sign-in/code/set-up"
    page = client.get("/sign-in/code/set-up").content.decode()
    assert "data:image/svg+xml" in page  # the QR image, made here (no outside service)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username="sam")
    assert client.post("/sign-in/code/set-up", {"code": "000000"}).status_code == 400
    assert client.get("/patients").status_code == 302
    response = client.post("/sign-in/code/set-up", {"code": current_code(device)})
    assert response.status_code == 302
    assert client.get("/patients").status_code == 200


def test_a_person_with_an_authenticator_enters_its_code_after_the_password(
    client: Client, settings
) -> None:
    settings.DRIP_REQUIRE_2FA = True
    device = add_code_device(make_staff())
    assert sign_in(client, "sam", PASSWORD)["Location"] == "/sign-in/code"
    wrong = client.post("/sign-in/code", {"code": "12345"})
    assert "Enter the six digits" in wrong.content.decode()
    assert 'aria-invalid="true"' in wrong.content.decode()
    assert client.get("/").status_code == 302
    assert client.post("/sign-in/code", {"code": current_code(device)}).status_code == 302
    assert client.get("/").status_code == 200


def test_in_development_a_code_is_optional_but_used_once_set_up(client: Client) -> None:
    make_staff("nocode")
    assert sign_in(client, "nocode", PASSWORD)["Location"] == "/"
    other = Client()
    add_code_device(make_staff("withcode"))
    assert sign_in(other, "withcode", PASSWORD)["Location"] == "/sign-in/code"


def test_sign_out_needs_a_post_and_ends_the_session(staff: Client) -> None:
    assert staff.get("/sign-out").status_code == 405
    staff.post("/sign-out")
    assert staff.get("/patients").status_code == 302


def test_csrf_is_enforced_on_sign_in() -> None:
    make_staff()
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, "sam", PASSWORD).status_code == 403
