"""docker-compose.yml is valid and fails loudly: schema, healthchecks, secrets, noeviction."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_validates_against_the_compose_specification():
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_healthcheck_except_beat():
    services = load()["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name


def test_app_services_wait_for_healthy_databases_and_finished_migrations():
    services = load()["services"]
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"


def test_redis_never_evicts_queued_work():
    command = load()["services"]["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_required_secrets_fail_loudly_when_unset():
    text = COMPOSE.read_text()
    for name in ("DRIP_SECRET_KEY", "POSTGRES_PASSWORD", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"):
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), name
    assert "DRIP_ENV: production" in text
