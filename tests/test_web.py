"""`drip web` as a user starts it: gunicorn on a free port, from another folder, pages fetched
over real HTTP. In production settings: the compose healthcheck command with .env.example's
values, and an admin sign-in through the HTTPS proxy that DRIP_PUBLIC_BASE_URL implies."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import yaml

from tests.support.procs import ROOT, ManagedProcess, free_port, wait_for_port

COMPOSE = ROOT / "docker-compose.yml"
PUBLIC_HOST = "drip.clinic.example"  # .env.example's DRIP_PUBLIC_BASE_URL


def drip_env(data_dir: Path, **env: str) -> dict[str, str]:
    """The environment of a `drip` process: this checkout on the path, no database URL of ours."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DRIP_", "DATABASE_URL"))}
    # DATABASE_URL empty, not absent: ManagedProcess adds the test run's environment back.
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "DRIP_DATA_DIR": str(data_dir),
        "DATABASE_URL": "",
        **env,
    }


def run_drip(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drip.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def serve(env: dict[str, str], cwd: Path) -> tuple[ManagedProcess, int]:
    port = free_port()
    web = ManagedProcess(
        [sys.executable, "-m", "drip.cli", "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        name="web",
        cwd=cwd,
    )
    try:
        web.wait_for_line(r"Listening at|Booting worker", timeout_s=30)
        wait_for_port(port, timeout_s=30)
    except TimeoutError:
        web.stop()
        raise AssertionError(web.log_tail()) from None
    return web, port


def get(port: int, path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers)
    return connection.getresponse()


def cookies_of(response: http.client.HTTPResponse) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    return cookies


@pytest.fixture(scope="module")
def development_server(tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """`drip web` with no configuration, started from a folder that is not the checkout."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    env = drip_env(tmp_path_factory.mktemp("data"))
    migrated = run_drip("migrate", "--noinput", env=env, cwd=elsewhere)
    assert migrated.returncode == 0, migrated.stderr
    web, port = serve(env, elsewhere)
    yield port, elsewhere
    web.stop()


def test_drip_web_serves_health_and_the_admin_stylesheet(development_server):
    port, elsewhere = development_server
    health = get(port, "/healthz")
    assert (health.status, health.read()) == (200, b"ok")
    css = get(port, "/static/admin/css/base.css")
    assert css.status == 200 and css.getheader("Content-Type", "").startswith("text/css")
    assert b"body" in css.read()
    assert list(elsewhere.iterdir()) == []  # nothing left in the folder it was started from


def test_in_development_drip_web_refuses_to_listen_beyond_loopback(tmp_path):
    result = run_drip("web", "--bind", "0.0.0.0:0", env=drip_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "serves loopback only" in result.stderr and "Traceback" not in result.stderr


# --- production, configured as .env.example + docker-compose.yml configure it ------------------


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines())
    return {k.strip(): v.strip() for k, v in (p for p in pairs if len(p) == 2)}


FILLED_IN = {  # what the operator fills in where .env.example leaves a blank
    "DRIP_SECRET_KEY": "a" * 10 + "s3cr3t-for-the-web-test-only-9f8e7d6c5b4a39281706",
    "POSTGRES_PASSWORD": "pw",
    "DRIP_CLINIC_NAME": "Lakeside Infusion Center",
    "DRIP_CLINIC_PHONE": "(312) 555-0142",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "web-test-token",
    "DRIP_SMTP_HOST": "smtp.clinic.example",
    "DRIP_FROM_EMAIL": "care@clinic.example",
    "DRIP_ONCALL_PHONES": "+13125550199",
}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${X}, ${X:-default} and ${X:?message}."""

    def one(found: re.Match[str]) -> str:
        name, op, rest = found.group(1), found.group(2), found.group(3)
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise AssertionError(f"{name} is required by docker-compose.yml: {rest}")
        return rest or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def compose_app_env() -> dict[str, str]:
    variables = {**env_example(), **{k: v for k, v in FILLED_IN.items()}}
    spec = yaml.safe_load(COMPOSE.read_text())
    return {k: interpolate(str(v), variables) for k, v in spec["x-drip-env"].items()}


@pytest.fixture(scope="module")
def production_server(tmp_path_factory) -> Iterator[tuple[int, dict[str, str]]]:
    """`drip web` with the compose environment (PostgreSQL and Redis swapped for a SQLite file
    and an unused broker URL: the web process needs neither server to answer these pages)."""
    data = tmp_path_factory.mktemp("prod-data")
    database = f"sqlite:///{data / 'drip.sqlite3'}"
    dev = drip_env(data, DATABASE_URL=database)
    assert run_drip("migrate", "--noinput", env=dev, cwd=data).returncode == 0
    admin = {"DJANGO_SUPERUSER_PASSWORD": "a long staff passphrase 42"}
    made = run_drip(
        "createsuperuser", "--noinput", "--username", "staff", "--email", "s@clinic.example",
        env={**dev, **admin}, cwd=data,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    compose = compose_app_env()
    env = drip_env(data, **{**compose, "DATABASE_URL": database})
    web, port = serve(env, data)
    yield port, env
    web.stop()


def test_the_compose_healthcheck_passes_with_the_env_example_values(production_server):
    port, env = production_server
    test = yaml.safe_load(COMPOSE.read_text())["services"]["web"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    argv = [sys.executable if a == "python" else a.replace("8000", str(port)) for a in test[1:]]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_admin_sign_in_behind_the_https_proxy_works(production_server):
    port, _ = production_server
    proxy = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}
    form = get(port, "/admin/login/", **proxy)
    assert form.status == 200
    cookies = cookies_of(form)
    csrf = cookies["csrftoken"].value
    assert cookies["csrftoken"]["secure"]
    body = f"csrfmiddlewaretoken={csrf}&username=staff&password=a+long+staff+passphrase+42&next=/admin/"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/admin/login/",
        body=body,
        headers={
            **proxy,
            "Origin": f"https://{PUBLIC_HOST}",
            "Referer": f"https://{PUBLIC_HOST}/admin/login/",
            "Cookie": f"csrftoken={csrf}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    signed_in = connection.getresponse()
    assert signed_in.status == 302, signed_in.read()[:500]
    assert signed_in.getheader("Location") == "/admin/"
    session = cookies_of(signed_in)["sessionid"]
    assert session["secure"] and session["httponly"] and session["max-age"] == "1800"


def test_behind_the_proxy_plain_http_is_redirected_to_https(production_server):
    port, _ = production_server
    response = get(port, "/admin/login/", Host=PUBLIC_HOST, **{"X-Forwarded-Proto": "http"})
    assert response.status == 301
    assert response.getheader("Location") == f"https://{PUBLIC_HOST}/admin/login/"
    assert get(port, "/admin/login/", Host="evil.example").status == 400


def test_a_worker_on_the_filesystem_broker_leaves_nothing_in_the_folder_it_started_from(tmp_path):
    elsewhere, data = tmp_path / "elsewhere", tmp_path / "data"
    elsewhere.mkdir()
    worker = ManagedProcess(
        [sys.executable, "-m", "drip.cli", "worker", "--", "--pool", "solo"],
        env=drip_env(data),
        name="worker",
        cwd=elsewhere,
    )
    try:
        worker.wait_for_line(r"ready\.", timeout_s=60)
    finally:
        worker.stop()
    assert list(elsewhere.iterdir()) == []
    assert {p.name for p in (data / "broker").iterdir()} >= {"queue", "processed", "control"}
