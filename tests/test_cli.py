"""The `drip` command as a user runs it: preview, schedules validate (good files and a broken copy)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def drip(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "drip.settings",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "drip.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
    )


def broken_copy(tmp_path: Path) -> tuple[Path, Path]:
    schedules, messages = tmp_path / "schedules", tmp_path / "messages"
    shutil.copytree(ROOT / "schedules", schedules)
    shutil.copytree(ROOT / "messages", messages)
    spec = schedules / "ketamine-six-infusion.yaml"
    text = spec.read_text()
    text = text.replace("anchor: infusion 3\n", "anchor: infusion three\n", 1)
    text = text.replace("message: look-at-your-life", "message: look-at-yer-life", 1)
    text = text.replace('at: "18:00"', 'at: "22:00"', 1)
    spec.write_text(text)
    return schedules, messages


def test_validate_passes_on_the_shipped_files():
    result = drip("schedules", "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_validate_on_a_broken_copy_prints_file_line_errors_and_exits_non_zero(tmp_path):
    schedules, messages = broken_copy(tmp_path)
    result = drip(
        "schedules",
        "validate",
        "--schedules-dir",
        str(schedules),
        "--messages-dir",
        str(messages),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    spec = "schedules/ketamine-six-infusion.yaml"
    assert any(
        line.startswith(f"{spec}:") and "unknown anchor 'infusion three'" in line for line in lines
    ), lines
    assert any(
        line.startswith(f"{spec}:") and "unknown message 'look-at-yer-life'" in line
        for line in lines
    ), lines
    assert any(
        line.startswith(f"{spec}:31: step 'what-to-expect': 'at' 22:00 is outside the send window")
        for line in lines
    ), lines


def test_a_template_typo_is_reported_with_its_file_and_line(tmp_path):
    schedules, messages = broken_copy(tmp_path)
    shutil.copy(ROOT / "schedules" / "ketamine-six-infusion.yaml", schedules)
    sms = messages / "welcome" / "sms.txt"
    sms.write_text(sms.read_text().replace("{{ first_name }}", "{{ frist_name }}"))
    result = drip(
        "schedules",
        "validate",
        "--schedules-dir",
        str(schedules),
        "--messages-dir",
        str(messages),
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "messages/welcome/sms.txt:1: unknown variable 'frist_name' in the SMS" in result.stderr


def test_preview_prints_the_timeline_in_the_patients_zone_with_segments():
    result = drip(
        "preview",
        "--infusions",
        "2026-12-01 09:00,2026-12-03 09:00,2026-12-05 09:00",
        "--tz",
        "America/Chicago",
        "--series-size",
        "3",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sun 2026-11-29 18:00 CST  2026-11-30 00:00  what-to-expect" in out
    assert "1 (GSM-7)" in out
    assert "setbacks-are-normal" in out and "like-physical-therapy" in out


def test_preview_render_shows_the_texts_as_the_patient_reads_them():
    result = drip("preview", "--infusions", "2026-12-01 09:00", "--render")
    assert result.returncode == 0, result.stderr
    assert "Your first infusion is on Tuesday, December 1 at 9:00 AM." in result.stdout
    assert "{{" not in result.stdout


def test_preview_refuses_a_bad_zone_and_bad_dates_clearly():
    assert (
        "--tz: 'Mars/Base' is not an IANA time zone" in drip("preview", "--tz", "Mars/Base").stderr
    )
    bad = drip("preview", "--infusions", "2026-12-01 9am")
    assert (
        bad.returncode != 0 and "infusion 1: '2026-12-01 9am' is not YYYY-MM-DD HH:MM" in bad.stderr
    )


def test_a_command_run_elsewhere_without_a_migrated_database_says_what_to_run(tmp_path):
    elsewhere, data = tmp_path / "elsewhere", tmp_path / "data"
    elsewhere.mkdir()
    result = drip("timeline", "1", cwd=elsewhere, DRIP_DATA_DIR=str(data))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot use the database at {data / 'drip.sqlite3'}" in result.stderr
    assert "Run `drip migrate` then `drip schedules publish`" in result.stderr
    assert list(elsewhere.iterdir()) == []  # no empty SQLite file where the command ran


def test_a_configuration_problem_is_one_message_without_a_traceback(tmp_path):
    result = drip("status", cwd=tmp_path, DRIP_ENV="production", DRIP_DATA_DIR=str(tmp_path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("drip: drip cannot start (DRIP_ENV=production)")
    assert "DATABASE_URL is not set" in result.stderr and "DRIP_SECRET_KEY" in result.stderr


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path):
    """`drip ... | head`: the reader closes the pipe; no BrokenPipeError traceback."""
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT), "DRIP_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a byte
    try:
        result = subprocess.run(
            [sys.executable, "-m", "drip.cli", "preview", "--infusions", "2026-12-01 09:00"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, (
        result.stderr
    )


def test_preview_json_checks_a_late_enrollment_with_part_of_the_series_booked():
    result = drip(
        "preview",
        "--infusions",
        "2026-12-07 10:00,2026-12-09 10:00,2026-12-11 10:00",
        "--series-size",
        "6",
        "--enrolled",
        "2026-12-09 13:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    plan = {(r["step"], r["channel"]): r for r in json.loads(result.stdout)}
    assert plan[("reminder-1", "sms")] == {
        "step": "reminder-1",
        "channel": "sms",
        "message": "infusion-reminder",
        "due_local": "2026-12-06T17:00:00-05:00",
        "status": "skipped",
        "reason": "too_late",
    }
    # Enrolled after infusion 2: the first lesson is caught up; infusion 6 is not booked yet.
    assert plan[("a-tool-not-a-magic-wand", "email")]["status"] == "planned"
    assert not any(step == "like-physical-therapy" for step, _ in plan)


def test_preview_json_render_gives_the_text_as_sent_and_sms_segments():
    result = drip(
        "preview",
        "--infusions",
        "2026-12-07 10:00",
        "--series-size",
        "1",
        "--json",
        "--render",
        "--now",
        "2026-12-01 12:00",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    sms = next(r for r in rows if r["channel"] == "sms" and r["status"] == "planned")
    email = next(r for r in rows if r["channel"] == "email" and r["status"] == "planned")
    assert sms["segments"] == 1 and sms["encoding"] == "GSM-7" and sms["subject"] is None
    assert email["subject"] and "Alex" in email["text"] and email["segments"] is None


def test_preview_refuses_a_malformed_enrollment_time():
    result = drip("preview", "--infusions", "2026-12-07 10:00", "--enrolled", "next week")
    assert result.returncode != 0 and "--enrolled" in result.stderr
