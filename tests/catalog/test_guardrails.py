"""The guardrails an admin meets at ``drip schedules validate`` and ``publish``: the same rules
the tests hold the shipped library to (drip/core/guardrails.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from drip.catalog import files as library
from drip.catalog import versions as catalog
from drip.core import guardrails
from drip.errors import TemplateError
from drip.models import ScheduleVersion

ROOT = Path(__file__).resolve().parents[2]
CLINIC = {
    "clinic_name": "Sample Infusion Clinic",
    "clinic_phone": "(555) 010-0199",
    "clinic_address": "100 Main Street, Suite 2",
    "clinic_instructions": "Follow your care team's instructions.",
    "crisis_text": "If you are thinking of harming yourself, call or text 988. In an emergency, call 911.",
}
SCHEDULE = """\
name: tiny
title: Tiny series
infusions: 2
steps:
  - {key: hello, anchor: enrollment, offset: 0m, channels: [email, sms], message: hello}
  - {key: reminder, anchor: infusion 1, offset: -1d, at: "17:00", channels: [sms], message: reminder}
"""
ARTICLE = "Setbacks will happen. Ups and downs are normal.\n"
EMAIL = '---\nsubject: Hello {{ first_name }}\nsource:\n  - "Setbacks will happen."\n---\nHi {{ first_name }}.\n\nUps and downs are normal.\n\n{{ clinic_name }}\n'
SMS = "{{ clinic_name }}: hi {{ first_name }}, see you soon."


def write_message(messages: Path, key: str, email: str = EMAIL, sms: str = SMS) -> None:
    (messages / key).mkdir(parents=True, exist_ok=True)
    (messages / key / "email.md").write_text(email)
    (messages / key / "sms.txt").write_text(sms)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    """A small valid library: one schedule, two messages and the article they quote."""
    schedules, messages = tmp_path / "schedules", tmp_path / "messages"
    schedules.mkdir()
    (schedules / "tiny.yaml").write_text(SCHEDULE)
    for key in ("hello", "reminder"):
        write_message(messages, key)
    (messages / "SOURCE_ARTICLE.txt").write_text(ARTICLE)
    return schedules, messages


def problems(tiny: tuple[Path, Path], clinic: dict[str, str] = CLINIC) -> list[str]:
    return [str(p) for p in library.validate_library(*tiny, clinic=clinic)]


def test_a_small_valid_library_passes(tiny):
    assert problems(tiny) == []


def test_a_two_segment_sms_is_refused_with_its_file_line_and_step(tiny):
    write_message(tiny[1], "reminder", sms="{{ clinic_name }}: " + "see you soon. " * 12)
    [problem] = problems(tiny)
    assert "reminder/sms.txt:1: step 'reminder':" in problem and "2 segments" in problem


def test_an_sms_that_needs_ucs2_is_refused_unless_the_clinic_allows_it(tiny):
    write_message(tiny[1], "hello", sms="{{ clinic_name }}: hi {{ first_name }} 🙂")
    assert ["UCS-2" in p for p in problems(tiny)] == [True]
    rules = guardrails.Rules(sms_allow_ucs2=True)
    assert library.validate_library(*tiny, clinic=CLINIC, rules=rules) == []


def test_an_email_over_the_word_limit_is_refused(tiny):
    body = "Ups and downs are normal. " * 140
    write_message(tiny[1], "hello", email=EMAIL.replace("Ups and downs are normal.", body))
    [problem] = problems(tiny)
    assert "hello/email.md:6: step 'hello': the email is 70" in problem and "at most 250" in problem


def test_a_promise_of_a_cure_is_refused_at_its_line(tiny):
    email = EMAIL.replace("Ups and downs", "Ketamine will cure your depression for good. Ups")
    write_message(tiny[1], "hello", email=email)
    [problem] = problems(tiny)
    assert "hello/email.md:8: step 'hello': 'will cure'" in problem


def test_a_source_quote_not_word_for_word_in_the_article_is_refused_at_its_line(tiny):
    write_message(
        tiny[1], "hello", email=EMAIL.replace("Setbacks will happen.", "Setbacks happen.")
    )
    [problem] = problems(tiny)
    assert "hello/email.md:4: step 'hello': source: quote is not word for word" in problem


def test_quotes_without_the_article_beside_them_are_refused(tiny):
    (tiny[1] / "SOURCE_ARTICLE.txt").unlink()
    assert [p for p in problems(tiny) if "SOURCE_ARTICLE.txt" in p and "not found" in p]


@pytest.mark.parametrize(
    "sms, term",
    [
        ("{{ clinic_name }}: your ketamine visit is soon.", "ketamine"),
        ("{{ clinic_name }}: Depression care reminder.", "depression"),
        ("{{ clinic_name }}: anxiety check-in.", "anxiety"),
    ],
)
def test_an_sms_naming_the_drug_or_the_illness_is_refused(tiny, sms, term):
    write_message(tiny[1], "reminder", sms=sms)
    [problem] = problems(tiny)
    assert (
        f"reminder/sms.txt:1: step 'reminder': the SMS shows '{term}' on a lock screen" in problem
    )


def test_a_subject_naming_the_drug_is_refused_at_the_subject_line(tiny):
    write_message(tiny[1], "hello", email=EMAIL.replace("Hello {{", "Will ketamine help? {{"))
    [problem] = problems(tiny)
    assert "hello/email.md:2: step 'hello': the subject shows 'ketamine'" in problem


def test_a_clinic_whose_name_names_the_drug_is_caught_and_told_to_set_an_sms_name(tiny):
    clinic = {**CLINIC, "clinic_name": "Sunrise Ketamine Center"}
    found = problems(tiny, clinic)
    assert len(found) == 2 and all("DRIP_CLINIC_SMS_NAME" in p for p in found), found
    assert problems(tiny, {**clinic, "clinic_sms_name": "Sunrise Center"}) == []


def test_a_missing_schedules_folder_is_an_error(tiny, tmp_path):
    shutil.rmtree(tiny[0])
    assert problems(tiny) == [f"{tiny[0]}: schedules folder not found"]


def test_a_fourth_text_in_a_week_is_dropped_by_the_planner_and_named_in_a_warning(tiny):
    spec = SCHEDULE.replace(
        "  - {key: hello, anchor: enrollment, offset: 0m, channels: [email, sms], message: hello}\n",
        "",
    )
    spec += "".join(
        f"  - {{key: nudge-{n}, anchor: infusion 1, offset: +{n}d, channels: [sms], message: reminder}}\n"
        for n in (1, 2, 3)
    )
    (tiny[0] / "tiny.yaml").write_text(spec)
    messages = library.load_messages(tiny[1])
    schedule = library.load_schedules(tiny[0], messages)["tiny"]
    assert guardrails.cap_problems(schedule) == []  # the planner keeps the caps itself
    dropped = [str(p) for p in guardrails.cap_drops(schedule)]
    assert any(
        "step 'nudge-3'" in p and "dropped to keep the SMS caps" in p and "series enrolled" in p
        for p in dropped
    ), dropped


@pytest.mark.django_db
def test_publish_refuses_a_library_that_breaks_a_guardrail_and_saves_nothing(tiny, settings):
    settings.DRIP_CLINIC = CLINIC
    write_message(tiny[1], "reminder", sms="{{ clinic_name }}: your ketamine visit is soon.")
    with pytest.raises(TemplateError, match="ketamine"):
        catalog.publish_from_disk(*tiny)
    assert not ScheduleVersion.objects.exists()


def test_validate_prints_each_problem_and_fails(tiny, capsys):
    write_message(tiny[1], "reminder", sms="{{ clinic_name }}: your ketamine visit is soon.")
    with pytest.raises(CommandError, match="1 problem"):
        call_command(
            "schedules", "validate", "--schedules-dir", str(tiny[0]), "--messages-dir", str(tiny[1])
        )
    assert "the SMS shows 'ketamine' on a lock screen" in capsys.readouterr().err


def test_validate_warns_with_the_grade_and_still_passes(tiny, capsys):
    hard = "Pharmacological interventions necessitate comprehensive longitudinal evaluation."
    write_message(tiny[1], "hello", email=EMAIL.replace("Ups and downs are normal.", hard))
    call_command(
        "schedules", "validate", "--schedules-dir", str(tiny[0]), "--messages-dir", str(tiny[1])
    )
    out = capsys.readouterr()
    assert "warning: " in out.err and "hello/email.md:6: step 'hello': reads at grade" in out.err
    assert out.out.startswith("ok:")


def test_the_shipped_library_meets_every_guardrail():
    assert library.validate_library(ROOT / "schedules", ROOT / "messages") == []


def test_the_shipped_schedule_keeps_the_caps_for_every_standard_series():
    messages = library.load_messages(ROOT / "messages")
    schedule = library.load_schedules(ROOT / "schedules", messages)["ketamine-six-infusion"]
    assert [str(p) for p in guardrails.cap_problems(schedule)] == []


def test_the_default_crisis_route_names_988_and_911_and_says_no_one_watches_around_the_clock():
    from django.conf import settings

    text = settings.DRIP_CLINIC["crisis_text"]
    assert "call or text 988" in text and "Suicide & Crisis Lifeline" in text
    assert "call 911" in text and "not watched around the clock" in text
    assert settings.DRIP_CLINIC["clinic_sms_name"] == settings.DRIP_CLINIC["clinic_name"]
