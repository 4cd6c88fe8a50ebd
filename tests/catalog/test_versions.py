"""The catalog on the real database: publishing schedules and messages as immutable versions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from drip.catalog import versions as catalog
from drip.errors import EnrollmentError, ScheduleError, TemplateError
from drip.models import ScheduleVersion
from tests.support.factories import TEST_MESSAGES, publish_test_schedule

pytestmark = pytest.mark.django_db

SCHEDULE = """\
name: tiny
title: Tiny series
infusions: 2
steps:
  - {key: hello, anchor: enrollment, offset: 0m, channels: [email, sms], message: hello}
  - {key: reminder, anchor: infusion 1, offset: -1d, at: "10:00", channels: [sms], message: reminder}
"""
EMAIL = (
    '---\nsubject: Hello {{ first_name }}\nsource:\n  - "a passage"\n---\nHi {{ first_name }}.\n'
)
SMS = "{{ clinic_name }}: hi {{ first_name }}"


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, Path]:
    """A small library on disk: one schedule using two of the three messages there."""
    schedules, messages = tmp_path / "schedules", tmp_path / "messages"
    schedules.mkdir()
    (schedules / "tiny.yaml").write_text(SCHEDULE)
    for key in ("hello", "reminder", "unused"):
        write_message(messages, key, EMAIL, SMS)
    (messages / "SOURCE_ARTICLE.txt").write_text("Here is a passage the messages quote.\n")
    return schedules, messages


def write_message(messages: Path, key: str, email: str, sms: str) -> None:
    (messages / key).mkdir(parents=True, exist_ok=True)
    (messages / key / "email.md").write_text(email)
    (messages / key / "sms.txt").write_text(sms)


def test_publishing_creates_version_one_with_the_schedule_and_only_the_messages_it_uses(library):
    [version] = catalog.publish_from_disk(*library, actor="admin")
    assert (version.name, version.version, version.title, version.created_by) == (
        "tiny",
        1,
        "Tiny series",
        "admin",
    )
    assert version.spec_text == SCHEDULE
    assert set(version.messages) == {"hello", "reminder"}
    assert version.messages["hello"] == {
        "email_subject": "Hello {{ first_name }}",
        "email_body": "Hi {{ first_name }}.\n",
        "sms_text": SMS,
        "sources": ["a passage"],
        "email_body_first_line": 6,
    }
    assert len(version.checksum) == 64


def test_publishing_twice_creates_nothing_the_second_time(library):
    catalog.publish_from_disk(*library)
    assert catalog.publish_from_disk(*library) == []
    assert ScheduleVersion.objects.count() == 1


def test_a_changed_message_publishes_the_next_version(library):
    first = catalog.publish_from_disk(*library)[0]
    write_message(library[1], "reminder", EMAIL, SMS + " See you soon.")
    [second] = catalog.publish_from_disk(*library)
    assert second.version == 2 and second.checksum != first.checksum
    assert catalog.latest_version("tiny") == second
    first.refresh_from_db()
    assert first.messages["reminder"]["sms_text"] == SMS  # an old version never changes


def test_a_change_to_a_message_the_schedule_does_not_use_publishes_nothing(library):
    catalog.publish_from_disk(*library)
    write_message(library[1], "unused", EMAIL, "something else")
    assert catalog.publish_from_disk(*library) == []


def test_a_changed_schedule_publishes_the_next_version(library):
    catalog.publish_from_disk(*library)
    (library[0] / "tiny.yaml").write_text(SCHEDULE.replace("Tiny series", "Tiny series, renamed"))
    [second] = catalog.publish_from_disk(*library)
    assert (second.version, second.title) == (2, "Tiny series, renamed")


def test_a_broken_schedule_is_refused_and_nothing_is_saved(library):
    (library[0] / "other.yaml").write_text(
        "name: other\ninfusions: 2\nsteps:\n  - {key: a, anchor: someday}\n"
    )
    with pytest.raises(ScheduleError) as raised:
        catalog.publish_from_disk(*library)
    assert any("other.yaml" in str(p) for p in raised.value.problems)
    assert ScheduleVersion.objects.count() == 0  # not even the valid "tiny"


def test_a_message_with_an_unknown_variable_is_refused_and_nothing_is_saved(library):
    write_message(library[1], "hello", EMAIL, "hi {{ full_name }}")
    with pytest.raises(TemplateError, match="unknown variable 'full_name'"):
        catalog.publish_from_disk(*library)
    assert ScheduleVersion.objects.count() == 0


def test_a_schedule_pointing_at_a_missing_message_is_refused(library):
    shutil.rmtree(library[1] / "reminder")
    with pytest.raises(ScheduleError, match="reminder"):
        catalog.publish_from_disk(*library)
    assert ScheduleVersion.objects.count() == 0


def test_the_shipped_library_publishes_from_the_default_folders():
    versions = catalog.publish_from_disk()
    assert [v.name for v in versions] == sorted(
        p.stem for p in settings.DRIP_SCHEDULES_DIR.glob("*.yaml")
    )
    assert catalog.publish_from_disk() == []


def test_the_latest_version_is_the_highest_number():
    publish_test_schedule()
    second = publish_test_schedule(messages={**TEST_MESSAGES})
    assert catalog.latest_version("ketamine-six-infusion") == second and second.version == 2


def test_asking_for_an_unpublished_schedule_names_the_schedule_field():
    with pytest.raises(EnrollmentError) as raised:
        catalog.latest_version("nothing-here")
    assert raised.value.field == "schedule" and "nothing-here" in str(raised.value)


def test_a_versions_schedule_and_templates_are_parsed_once_per_process():
    version = publish_test_schedule()
    schedule = catalog.schedule_of(version)
    assert schedule.name == "ketamine-six-infusion" and schedule.infusions == 6
    again = ScheduleVersion.objects.get(pk=version.pk)  # another row object, same version
    assert catalog.schedule_of(again) is schedule
    template = catalog.template_of(version, "visit")
    assert (template.key, template.email_subject) == ("visit", "Infusion {{ infusion_number }}")
    assert catalog.template_of(again, "visit") is template


def test_a_different_checksum_under_the_same_id_is_parsed_afresh():
    """Test databases reuse ids after a rollback: the checksum keeps the cache honest."""
    version = publish_test_schedule()
    before = catalog.schedule_of(version)
    version.spec_text = version.spec_text.replace("infusions: 6", "infusions: 5")
    version.checksum = catalog.checksum(version.spec_text, version.messages)
    assert catalog.schedule_of(version).infusions == 5 and before.infusions == 6


def test_a_message_the_version_does_not_have_raises_key_error():
    with pytest.raises(KeyError):
        catalog.template_of(publish_test_schedule(), "no-such-message")
