"""The shipped schedule and messages: true to the article, short, plain, one SMS segment each.

The article is the clinic's "Will ketamine cure me?", copied byte for byte into
messages/SOURCE_ARTICLE.txt so that this runs from a clean clone.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from drip.catalog.files import (
    load_messages,
    load_schedules,
    read_sensitive_terms,
    validate_library,
)
from drip.core import guardrails
from drip.core.planner import InfusionSlot, PatientPrefs, Series, plan
from drip.core.readability import fk_grade, prose
from drip.core.rendering import TEMPLATE_VARIABLES, build_context, render_email, render_sms
from drip.core.schedule import AnchorKind, Channel
from drip.core.segments import GSM7_EXTENSION, count_segments

ROOT = Path(__file__).resolve().parents[2]
ARTICLE_FILE = ROOT / "messages" / "SOURCE_ARTICLE.txt"
ARTICLE = ARTICLE_FILE.read_text(encoding="utf-8")
# sha256 of the clinic's original (seed 000_ea6c2a0a0c32bc9d.txt); the copy must stay byte-identical,
# typos included, or the quotes would no longer be checked against what the clinic wrote.
ARTICLE_SHA256 = "e3229d39afa05335d21c580f5a48f39586929c334d9fdc1c5be23508bfd285fe"

MESSAGES = load_messages(ROOT / "messages")
SCHEDULES = load_schedules(ROOT / "schedules", MESSAGES)
SCHEDULE = SCHEDULES["ketamine-six-infusion"]
KEYS = sorted(MESSAGES)
STEPS = guardrails.steps_by_message(SCHEDULES.values())

CLINIC = {
    "clinic_name": "Sample Infusion Clinic",
    "clinic_phone": "(555) 010-0199",
    "clinic_address": "100 Main Street, Suite 2",
    "clinic_instructions": "Follow your care team's instructions.",
    "crisis_text": "If you are thinking of harming yourself, call or text 988 (the Suicide & Crisis "
    "Lifeline, open 24/7). In an emergency, call 911. This email address and our phone line "
    "are not watched around the clock.",
}


def problems_of(key: str, clinic: dict[str, str] = CLINIC) -> list[str]:
    """What the publish guardrails (the same code) find in one shipped message."""
    found = guardrails.message_problems(
        {key: MESSAGES[key]},
        STEPS,
        clinic=clinic,
        article=ARTICLE,
        sensitive_terms=read_sensitive_terms(),
        rules=guardrails.Rules(),
    )
    return [str(p) for p in found]


def long_context() -> dict[str, object]:
    """A realistic, long-ish context: the SMS limits must hold for it."""
    return build_context(
        first_name="Alexandra",
        clinic=CLINIC,
        series_size=6,
        infusion_number=6,
        infusion_local_start=datetime(2026, 9, 30, 10, 30),  # "Wednesday, September 30 at 10:30 AM"
        unsubscribe_url="https://clinic.example/u/x",
    )


def sms_context() -> dict[str, object]:
    return {**long_context(), "unsubscribe_url": ""}


# ------------------------------------------------------------------------------------------
# True to the article


def test_the_article_copy_is_byte_for_byte_the_clinics_original():
    assert hashlib.sha256(ARTICLE_FILE.read_bytes()).hexdigest() == ARTICLE_SHA256


def test_the_shipped_files_validate():
    assert validate_library(ROOT / "schedules", ROOT / "messages") == []


@pytest.mark.parametrize("key", KEYS)
def test_every_message_cites_at_least_one_passage(key):
    assert MESSAGES[key].sources, f"{key} cites no passage"


@pytest.mark.parametrize("key", KEYS)
def test_every_message_meets_every_publish_guardrail(key):
    """Source quotes verbatim, one GSM-7 segment, at most 250 words, no cure promised, nothing
    sensitive on a lock screen: the checks `drip schedules publish` runs."""
    assert problems_of(key) == []


@pytest.mark.parametrize(
    "theme",
    [
        "magic wand",
        "70%",
        "relationships, career path",
        "therapy, life coaching",
        "reason to get out of bed",
        "physical therapy",
        "Setbacks will happen",
        "50%",
        "persevere",
        "Will ketamine cure me?",
    ],
)
def test_every_theme_of_the_article_is_carried_by_a_message(theme):
    assert any(theme in quote for m in MESSAGES.values() for quote in m.sources), theme


def test_the_only_number_given_about_results_is_the_articles_70_percent():
    for m in MESSAGES.values():
        for text in (m.email_subject, m.email_body, m.sms_text):
            for percent in re.findall(r"\d+ ?%|\d+ percent", text):
                assert percent.replace(" ", "") in {"70%", "50%"}, (m.key, percent)


def test_no_clinic_fact_is_written_out_in_a_message():
    for m in MESSAGES.values():
        for text in (m.email_body, m.sms_text, m.email_subject):
            assert not re.search(
                r"\(\d{3}\)|\d{3}-\d{4}|Sample Infusion Clinic|Main Street|https?://", text
            ), m.key


# ------------------------------------------------------------------------------------------
# Templates: only the documented variables, and they render


@pytest.mark.parametrize("key", KEYS)
def test_every_template_uses_only_the_documented_variables(key):
    env = ImmutableSandboxedEnvironment()
    m = MESSAGES[key]
    email_names = meta.find_undeclared_variables(env.parse(m.email_subject + "\n" + m.email_body))
    sms_names = meta.find_undeclared_variables(env.parse(m.sms_text))
    assert email_names <= set(TEMPLATE_VARIABLES), (key, email_names - set(TEMPLATE_VARIABLES))
    assert sms_names <= set(TEMPLATE_VARIABLES) - {"unsubscribe_url"}, (key, sms_names)


@pytest.mark.parametrize("key", KEYS)
def test_every_template_renders_under_strict_undefined_with_the_sample_context(key):
    mail = render_email(MESSAGES[key], long_context())
    sms = render_sms(MESSAGES[key], sms_context())
    for text in (mail.subject, mail.text, mail.html, sms.text):
        assert "{{" not in text and "{%" not in text and "}}" not in text, key
    assert mail.text.startswith("Hi Alexandra,"), key


@pytest.mark.parametrize("key", KEYS)
def test_no_email_adds_its_own_footer_or_unsubscribe_link(key):
    body = MESSAGES[key].email_body
    assert "unsubscribe" not in body.lower(), key
    assert body.rstrip().endswith("{{ clinic_name }}"), key


# ------------------------------------------------------------------------------------------
# SMS: one GSM-7 segment, the clinic's name, little health detail


@pytest.mark.parametrize("key", KEYS)
def test_every_sms_uses_no_two_septet_escape_character(key):
    sms = render_sms(MESSAGES[key], sms_context())
    assert count_segments(sms.text).units == len(sms.text), (key, sms.text)


@pytest.mark.parametrize("key", KEYS)
def test_every_sms_avoids_escape_characters_curly_quotes_and_dashes(key):
    text = MESSAGES[key].sms_text.replace("{{", "").replace("}}", "")
    assert not set(text) & (GSM7_EXTENSION | set("’‘“”–—…")), key


@pytest.mark.parametrize("key", KEYS)
def test_every_sms_names_the_clinic(key):
    assert "Sample Infusion Clinic" in render_sms(MESSAGES[key], sms_context()).text, key


@pytest.mark.parametrize("key", KEYS)
def test_no_subject_names_the_drug_or_the_illness_on_a_lock_screen(key):
    """The clinic's name is checked with the rest, never stripped first."""
    assert not [p for p in problems_of(key) if "lock screen" in p]


@pytest.mark.parametrize("key", KEYS)
def test_a_clinic_named_for_the_drug_is_caught_in_every_text(key):
    clinic = {**CLINIC, "clinic_name": "Sunrise Ketamine Center"}
    assert any("shows 'ketamine'" in p for p in problems_of(key, clinic)), key
    assert problems_of(key, {**clinic, "clinic_sms_name": "Sunrise Center"}) == []


def test_the_welcome_sms_says_how_to_opt_out_and_get_help():
    assert (
        "Reply STOP to opt out, HELP for help."
        in render_sms(MESSAGES["welcome"], sms_context()).text
    )


def test_only_the_welcome_sms_carries_the_stop_text():
    assert [k for k in KEYS if "STOP" in MESSAGES[k].sms_text] == ["welcome"]


# ------------------------------------------------------------------------------------------
# Email: short and plain


@pytest.mark.parametrize("key", KEYS)
def test_every_email_has_a_clear_subject(key):
    subject = render_email(MESSAGES[key], long_context()).subject
    assert subject and len(subject) <= 70 and "\n" not in subject, (key, subject)


@pytest.mark.parametrize("key", KEYS)
def test_every_email_reads_at_grade_eight_or_below(key):
    assert guardrails.message_warnings({key: MESSAGES[key]}, STEPS, guardrails.Rules()) == []
    assert fk_grade(prose(MESSAGES[key].email_body)) <= 8


# ------------------------------------------------------------------------------------------
# Words for readers who are depressed, some at risk


LAST_EMAILS = sorted(
    s.message
    for s in SCHEDULE.steps
    if s.anchor.kind is AnchorKind.LAST_INFUSION and s.offset >= timedelta(weeks=1)
)


def test_the_last_emails_are_keep_going_the_honest_answer_and_the_check_in():
    assert LAST_EMAILS == ["four-week-check-in", "keep-going", "will-ketamine-cure-me"]


@pytest.mark.parametrize("key", LAST_EMAILS)
def test_the_last_emails_say_where_to_turn_in_a_crisis_in_the_body_too(key):
    body = render_email(MESSAGES[key], long_context()).text.rsplit("\n--\n", 1)[0]
    assert "call or text 988" in body and "call 911" in body, key


@pytest.mark.parametrize("key", KEYS)
def test_every_email_ends_with_the_crisis_route(key):
    mail = render_email(MESSAGES[key], long_context())
    assert CLINIC["crisis_text"] in mail.text.rsplit("\n--\n", 1)[1]
    assert "call or text 988" in mail.html


@pytest.mark.parametrize(
    "key, words_beyond_the_article",
    [
        ("like-physical-therapy", "No one can expect"),  # the article: "you cannot just ..."
        ("will-ketamine-cure-me", "quickly"),  # the article: "immediate reduction"
        ("getting-out-of-bed", "That part is\nyours"),  # can read as blame
    ],
)
def test_no_line_goes_beyond_the_article_or_reads_as_blame(key, words_beyond_the_article):
    m = MESSAGES[key]
    assert words_beyond_the_article.lower() not in (m.email_subject + m.email_body).lower()


def test_a_patient_without_relief_by_infusion_3_is_told_to_call_the_clinic():
    [step] = [
        s
        for s in SCHEDULE.steps
        if s.anchor.infusion == 3 and s.offset > timedelta(0) and Channel.EMAIL in s.channels
    ]
    paragraphs = MESSAGES[step.message].email_body.split("\n\n")
    assert any(
        "not felt relief" in p and "3 infusions" in p and "{{ clinic_phone }}" in p
        for p in paragraphs
    ), step.message


# ------------------------------------------------------------------------------------------
# The default schedule


def test_the_default_schedule_has_at_least_twelve_steps_from_enrollment_to_four_weeks_after_the_last_infusion():
    assert SCHEDULE.infusions == 6 and len(SCHEDULE.steps) >= 12
    first, *_ = SCHEDULE.steps
    assert first.anchor.kind is AnchorKind.ENROLLMENT and first.offset == timedelta(0)
    last = [s for s in SCHEDULE.steps if s.anchor.kind is AnchorKind.LAST_INFUSION]
    assert max(s.offset for s in last) >= timedelta(weeks=4)


def test_what_to_expect_comes_before_infusion_1_and_setbacks_after_infusion_3():
    steps = {s.key: s for s in SCHEDULE.steps}
    assert steps["what-to-expect"].anchor.kind is AnchorKind.INFUSION
    assert steps["what-to-expect"].anchor.infusion == 1 and steps[
        "what-to-expect"
    ].offset < timedelta(0)
    assert steps["setbacks-are-normal"].anchor.infusion == 3 and steps[
        "setbacks-are-normal"
    ].offset > timedelta(0)
    assert steps["setbacks-are-normal"].requires_done == 3


def test_every_infusion_has_a_day_before_reminder_that_gives_its_date_and_time():
    reminders = {
        s.anchor.infusion: s
        for s in SCHEDULE.steps
        if s.anchor.kind is AnchorKind.INFUSION and s.offset == timedelta(days=-1)
    }
    assert sorted(reminders) == [1, 2, 3, 4, 5, 6]
    for step in reminders.values():
        assert Channel.SMS in step.channels
        assert "{{ infusion_when }}" in MESSAGES[step.message].sms_text


def test_every_theme_step_is_in_the_schedule():
    used = {s.message for s in SCHEDULE.steps}
    assert used >= {
        "welcome",
        "what-to-expect",
        "infusion-reminder",
        "setbacks-are-normal",
        "a-tool-not-a-magic-wand",
        "therapy-alongside",
        "getting-out-of-bed",
        "like-physical-therapy",
        "keep-going",
        "will-ketamine-cure-me",
    }


def test_every_step_that_sends_sms_also_sends_email_or_is_a_reminder():
    """SMS is a nudge; the email carries the substance. The reminder alone is SMS only."""
    for step in SCHEDULE.steps:
        if Channel.SMS in step.channels and step.message != "infusion-reminder":
            assert Channel.EMAIL in step.channels, step.key


def planned_sms_days(infusion_days: tuple[int, ...], enrolled_days_before: int) -> list[datetime]:
    zone = ZoneInfo("America/New_York")
    monday = datetime(2026, 10, 5, 10, 0, tzinfo=zone)  # crosses the November DST change
    slots = tuple(
        InfusionSlot(number=i + 1, starts_at=monday + timedelta(days=d))
        for i, d in enumerate(infusion_days)
    )
    series = Series(enrolled_at=monday - timedelta(days=enrolled_days_before), infusions=slots)
    rows = plan(
        SCHEDULE, series, PatientPrefs("America/New_York", frozenset(Channel)), series.enrolled_at
    )
    return sorted(
        r.due_at.astimezone(zone)
        for r in rows
        if r.channel is Channel.SMS and r.skip_reason is None
    )


TYPICAL_SERIES = {
    "Mon/Wed/Fri for two weeks": (0, 2, 4, 7, 9, 11),
    "Tue/Thu for three weeks": (1, 3, 8, 10, 15, 17),
    "Mon/Wed/Fri, then Tue/Thu/Mon": (0, 2, 4, 8, 10, 14),
}


@pytest.mark.parametrize("series", sorted(TYPICAL_SERIES))
def test_a_typical_series_never_gets_two_texts_on_one_local_day(series):
    for lead in (2, 3, 7, 10):
        days = Counter(t.date() for t in planned_sms_days(TYPICAL_SERIES[series], lead))
        assert max(days.values()) == 1, (series, lead, days)


@pytest.mark.parametrize("series", sorted(TYPICAL_SERIES))
def test_a_typical_series_gets_at_most_three_texts_in_any_seven_days_after_the_welcome(series):
    texts = planned_sms_days(TYPICAL_SERIES[series], 7)[
        1:
    ]  # the welcome answers the sign-up itself
    for start in texts:
        week = [t for t in texts if start.date() <= t.date() < start.date() + timedelta(days=7)]
        assert len(week) <= 3, (series, [t.strftime("%a %d") for t in week])
