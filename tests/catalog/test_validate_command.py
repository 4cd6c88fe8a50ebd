"""`drip schedules validate` and `publish` (issue 9): a folder that does not exist is an error
naming it (validate printed "ok" and publish "nothing changed"); a template that would fail at
send time is reported with its file and line (it passed validation, then hung the sender)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from drip.models import AuditEvent, ScheduleVersion
from tests.support.factories import enroll_patient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", ["validate", "publish"])
@pytest.mark.parametrize("which", ["schedules", "messages"])
def test_a_folder_that_does_not_exist_is_an_error_naming_it(tmp_path, action, which):
    folders = {"schedules": ROOT / "schedules", "messages": ROOT / "messages"}
    folders[which] = tmp_path / "nowhere"
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "schedules",
            action,
            schedules_dir=folders["schedules"],
            messages_dir=folders["messages"],
            stdout=out,
            stderr=err,
        )
    said = err.getvalue() + str(raised.value)
    assert f"{tmp_path / 'nowhere'}: {which} folder not found" in said
    assert "unknown message" not in said  # the one cause, not its consequences
    assert out.getvalue() == ""
    assert not ScheduleVersion.objects.exists()


def test_validate_on_the_shipped_folders_still_says_ok():
    out = StringIO()
    call_command("schedules", "validate", stdout=out)
    assert out.getvalue().startswith("ok: ")


@pytest.mark.parametrize("action", ["validate", "publish"])
def test_a_template_that_fails_only_when_rendered_is_refused_with_its_file_and_line(
    tmp_path, action
):
    schedules, messages = tmp_path / "schedules", tmp_path / "messages"
    shutil.copytree(ROOT / "schedules", schedules)
    shutil.copytree(ROOT / "messages", messages)
    sms = messages / "keep-going" / "sms.txt"
    sms.write_text(sms.read_text() + "\n{{ 1 / 0 }}\n")
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "schedules", action, schedules_dir=schedules, messages_dir=messages, stderr=err
        )
    said = err.getvalue() + str(raised.value)
    line = len(sms.read_text().splitlines())
    assert f"keep-going/sms.txt:{line}: fails with short values: ZeroDivisionError" in said
    assert not ScheduleVersion.objects.exists()


@pytest.mark.parametrize("move", ["everyone", "new"])
def test_publish_from_files_moves_the_series_already_enrolled_unless_told_new_only(
    tmp_path, now, move
):
    """The issue's report: a step moved in the files and published left every series on v1."""
    schedules, messages = tmp_path / "schedules", tmp_path / "messages"
    shutil.copytree(ROOT / "schedules", schedules)
    shutil.copytree(ROOT / "messages", messages)
    folders = {"schedules_dir": schedules, "messages_dir": messages}
    call_command("schedules", "publish", stdout=StringIO(), **folders)
    series = enroll_patient(now, publish=False)
    before = series.deliveries.get(step_key="what-to-expect", channel="email").due_at
    spec = schedules / "ketamine-six-infusion.yaml"
    spec.write_text(spec.read_text().replace("offset: -2d\n", "offset: -3d\n", 1))
    out = StringIO()
    call_command("schedules", "publish", move=move, stdout=out, **folders)
    series.refresh_from_db()
    after = series.deliveries.get(step_key="what-to-expect", channel="email").due_at
    said = out.getvalue()
    assert "published ketamine-six-infusion v2" in said
    if move == "everyone":
        assert series.schedule_version.version == 2 and series.version_moved_at is not None
        assert after - before == timedelta(days=-1)
        assert "moved 1 series from earlier versions to v2: pending messages 1 re-timed" in said
    else:
        assert series.schedule_version.version == 1 and after == before
        assert "moved" not in said
    assert AuditEvent.objects.filter(event="schedule_published", actor="cli").count() == 2
