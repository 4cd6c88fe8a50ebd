"""`drip schedules validate` and `publish` on a folder that does not exist: an error naming the
folder, exit 1 (issue 9: validate printed "ok" and publish "nothing changed")."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from drip.models import ScheduleVersion

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
