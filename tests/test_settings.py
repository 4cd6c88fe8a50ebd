"""drip/settings.py fails closed: each case loads the settings module afresh from an environment."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

from drip.errors import ConfigError

SETTINGS = Path(__file__).resolve().parent.parent / "drip" / "settings.py"
GOOD_SECRET = "k" * 20 + "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e"
PRODUCTION = {
    "DRIP_ENV": "production",
    "DRIP_SECRET_KEY": GOOD_SECRET,
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "a-real-twilio-token",
    "DATABASE_URL": "postgres://drip:pw@db.internal:5432/drip",
    "DRIP_BROKER_URL": "redis://redis.internal:6379/0",
    "DRIP_PUBLIC_BASE_URL": "https://drip.clinic.example",
    "DRIP_CLINIC_NAME": "Lakeside Infusion Center",
    "DRIP_CLINIC_PHONE": "(312) 555-0142",
    "DRIP_ONCALL_PHONES": "+13125550199",
}


def load(tmp_path: Path, **env: str) -> ModuleType:
    """The settings module as a process started with exactly ``env`` (plus a data folder) gets it."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({"DRIP_DATA_DIR": str(tmp_path / "data"), **env})
    try:
        spec = importlib.util.spec_from_file_location("drip_settings_probe", SETTINGS)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        os.environ.clear()
        os.environ.update(saved)


def problems(tmp_path: Path, **env: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, **env)
    return str(raised.value)


def test_production_with_every_setting_given_starts(tmp_path):
    s = load(tmp_path, **PRODUCTION)
    assert not s.DEBUG and s.ALLOWED_HOSTS == ["drip.clinic.example"]
    assert s.CSRF_TRUSTED_ORIGINS == ["https://drip.clinic.example"]
    assert s.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")


def test_production_lists_every_problem_in_one_message(tmp_path):
    message = problems(tmp_path, DRIP_ENV="production")
    for expected in (
        "DRIP_SECRET_KEY is empty or a placeholder",
        "TWILIO_AUTH_TOKEN is empty or a placeholder",
        "DATABASE_URL is not set",
        "DRIP_BROKER_URL is not set",
        "DRIP_PUBLIC_BASE_URL must be the public https:// address",
        "DRIP_CLINIC_NAME is empty",
        "DRIP_CLINIC_PHONE is empty",
    ):
        assert expected in message, message


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"DRIP_SECRET_KEY": ""}, "DRIP_SECRET_KEY is empty or a placeholder"),
        (
            {"DRIP_SECRET_KEY": "dev-insecure-change-me"},
            "DRIP_SECRET_KEY is empty or a placeholder",
        ),
        ({"DRIP_SECRET_KEY": "short"}, "DRIP_SECRET_KEY is shorter than 50 characters"),
        ({"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is empty or a placeholder"),
        ({"TWILIO_AUTH_TOKEN": "  "}, "TWILIO_AUTH_TOKEN is empty or a placeholder"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"DRIP_BROKER_URL": ""}, "DRIP_BROKER_URL is not set"),
        ({"DRIP_CLINIC_NAME": "Sample Infusion Clinic"}, "DRIP_CLINIC_NAME is the sample value"),
        ({"DRIP_CLINIC_PHONE": "(555) 010-0199"}, "DRIP_CLINIC_PHONE is the sample value"),
        (
            {"DRIP_CLINIC_ADDRESS": "100 Main Street, Suite 2"},
            "DRIP_CLINIC_ADDRESS is the sample value",
        ),
        ({"DRIP_DEBUG": "yes"}, "DRIP_DEBUG is on"),
        ({"DRIP_ONCALL_PHONES": ""}, "name at least one on-call contact"),
        ({"DRIP_ONCALL_PHONES": "312 555 0199"}, "write each number in E.164 form"),
        ({"DRIP_ONCALL_EMAILS": "oncall-at-clinic"}, "'oncall-at-clinic': not an email address"),
        ({"DRIP_PUBLIC_BASE_URL": "http://drip.clinic.example"}, "public https:// address"),
    ],
)
def test_production_refuses_a_missing_or_placeholder_value(tmp_path, change, expected):
    assert expected in problems(tmp_path, **{**PRODUCTION, **change})


def test_an_unknown_drip_env_is_refused_not_read_as_development(tmp_path):
    assert "DRIP_ENV='prod' must be one of: development, production" in problems(
        tmp_path, DRIP_ENV="prod"
    )


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "yes", "On"])
def test_booleans_read_true(tmp_path, text):
    assert load(tmp_path, DRIP_DEBUG=text).DEBUG is True


@pytest.mark.parametrize("text", ["false", "False", "0", "no", "OFF"])
def test_booleans_read_false(tmp_path, text):
    assert load(tmp_path, DRIP_DEBUG=text).DEBUG is False


def test_anything_else_is_refused_with_the_variables_name(tmp_path):
    message = problems(tmp_path, DRIP_DEBUG="enabled")
    assert "DRIP_DEBUG='enabled' is not a boolean" in message


def test_a_bad_number_is_refused_with_the_variables_name(tmp_path):
    assert "DRIP_SEND_BATCH='lots' is not a int" in problems(tmp_path, DRIP_SEND_BATCH="lots")


def test_development_signs_with_a_random_key_kept_in_the_data_folder(tmp_path):
    first = load(tmp_path).SECRET_KEY
    assert len(first) >= 50 and first == load(tmp_path).SECRET_KEY
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = tmp_path / "elsewhere"
    assert load(other).SECRET_KEY != first  # never a key shared by every checkout


def test_development_serves_loopback_only(tmp_path):
    s = load(tmp_path)
    assert s.DEBUG and set(s.ALLOWED_HOSTS) <= {"localhost", "127.0.0.1", "[::1]", "testserver"}
    message = problems(tmp_path, DRIP_ALLOWED_HOSTS="drip.clinic.example")
    assert "DRIP_ALLOWED_HOSTS: development serves loopback only" in message


def test_the_database_and_broker_live_in_the_data_folder_not_the_current_one(tmp_path):
    s = load(tmp_path)
    data = tmp_path / "data"
    assert Path(s.DATABASES["default"]["NAME"]) == data / "drip.sqlite3"
    assert s.CELERY_BROKER_FOLDER == data / "broker"
    assert s.DRIP_OUTBOX_DIR == data / "outbox"


def test_starttls_is_opportunistic_by_default_and_a_choice(tmp_path):
    assert load(tmp_path).DRIP_SMTP_TLS == "opportunistic"
    assert load(tmp_path, DRIP_SMTP_TLS="REQUIRE").DRIP_SMTP_TLS == "require"
    assert "DRIP_SMTP_TLS='sometimes' must be one of" in problems(
        tmp_path, DRIP_SMTP_TLS="sometimes"
    )
    assert "replaced by DRIP_SMTP_TLS" in problems(tmp_path, DRIP_SMTP_STARTTLS="1")


def test_staff_sessions_expire_after_30_idle_minutes_by_default(tmp_path):
    s = load(tmp_path)
    assert s.SESSION_COOKIE_AGE == 30 * 60 and s.SESSION_SAVE_EVERY_REQUEST
    assert load(tmp_path, DRIP_STAFF_SESSION_IDLE_MIN="10").SESSION_COOKIE_AGE == 600


def test_the_deployment_check_passes_clean_with_production_settings(tmp_path):
    """`drip check --deploy` as an operator runs it, warnings counted as failures."""
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(SETTINGS.parent.parent),
        "DRIP_DATA_DIR": str(tmp_path),
        **PRODUCTION,
    }
    result = subprocess.run(
        [sys.executable, "-m", "drip.cli", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_staff_passwords_are_checked_by_djangos_validators():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    for weak in ("1", "password", "12345678901"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("a long staff passphrase 42")
