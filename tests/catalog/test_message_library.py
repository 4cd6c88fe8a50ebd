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

from drip.catalog.files import load_messages, load_schedules, validate_library
from drip.core.planner import InfusionSlot, PatientPrefs, Series, plan
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

CLINIC = {
    "clinic_name": "Sample Infusion Clinic",
    "clinic_phone": "(555) 010-0199",
    "clinic_address": "100 Main Street, Suite 2",
    "clinic_instructions": "Follow your care team's instructions.",
}


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
def test_every_source_quote_occurs_verbatim_in_the_article(key):
    for quote in MESSAGES[key].sources:
        assert quote in ARTICLE, f"{key}: not verbatim in the article: {quote!r}"


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


@pytest.mark.parametrize("key", KEYS)
def test_no_message_promises_a_cure(key):
    m = MESSAGES[key]
    for text in (m.email_subject, m.email_body, m.sms_text):
        assert not re.search(
            r"\b(will|can|guarantee[sd]?) (cure|heal)|\bcured\b|\bguarantee", text, re.I
        ), key


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
def test_every_sms_is_one_gsm7_segment_of_at_most_160_characters_with_the_long_context(key):
    sms = render_sms(MESSAGES[key], sms_context())
    assert (sms.encoding, sms.segments) == ("GSM-7", 1), (key, len(sms.text), sms.text)
    assert len(sms.text) <= 160, (key, len(sms.text))
    assert count_segments(sms.text).units == len(sms.text), (
        key,
        "uses a two-septet escape character",
    )


@pytest.mark.parametrize("key", KEYS)
def test_every_sms_avoids_escape_characters_curly_quotes_and_dashes(key):
    text = MESSAGES[key].sms_text.replace("{{", "").replace("}}", "")
    assert not set(text) & (GSM7_EXTENSION | set("’‘“”–—…")), key


@pytest.mark.parametrize("key", KEYS)
def test_every_sms_names_the_clinic(key):
    assert "Sample Infusion Clinic" in render_sms(MESSAGES[key], sms_context()).text, key


@pytest.mark.parametrize("key", KEYS)
def test_no_sms_names_the_drug_or_the_illness_on_a_lock_screen(key):
    text = render_sms(MESSAGES[key], sms_context()).text.replace("Sample Infusion Clinic", "")
    assert not re.search(
        r"ketamine|depress|anxiety|infusion|addiction|therap|symptom", text, re.I
    ), (key, text)


def test_the_welcome_sms_says_how_to_opt_out_and_get_help():
    assert (
        "Reply STOP to opt out, HELP for help."
        in render_sms(MESSAGES["welcome"], sms_context()).text
    )


def test_only_the_welcome_sms_carries_the_stop_text():
    assert [k for k in KEYS if "STOP" in MESSAGES[k].sms_text] == ["welcome"]


# ------------------------------------------------------------------------------------------
# Email: short and plain


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'’%-]*", text)


@pytest.mark.parametrize("key", KEYS)
def test_every_email_has_a_clear_subject(key):
    subject = render_email(MESSAGES[key], long_context()).subject
    assert subject and len(subject) <= 70 and "\n" not in subject, (key, subject)


@pytest.mark.parametrize("key", KEYS)
def test_every_email_is_at_most_250_words(key):
    text = render_email(MESSAGES[key], long_context()).text.split("\n--\n")[
        0
    ]  # the body, without the footer
    assert len(words(text)) <= 250, (key, len(words(text)))


def syllables(word: str) -> int:
    """A rough English syllable count: vowel groups, less a silent final -e or -ed."""
    word = word.lower().replace("’", "'").strip("'")
    if word.endswith("'s"):
        word = word[:-2]
    groups = len(re.findall(r"[aeiouy]+", word))
    if (
        len(word) > 2
        and word.endswith("e")
        and not word.endswith(("le", "ee", "ye"))
        and groups > 1
    ):
        groups -= 1
    elif word.endswith("ed") and not word.endswith(("ted", "ded")) and groups > 1:
        groups -= 1
    return max(1, groups)


def sentences(markdown: str) -> list[str]:
    """Sentences of a Markdown body: a paragraph or list item ends one; so do . ! ? (not a colon)."""
    text = re.sub(r"\{\{[^}]*\}\}", "Alex", markdown).replace("**", "")
    blocks = [b.strip() for b in re.split(r"\n\s*\n|\n(?=\s*- )", text) if b.strip()]
    found = []
    for block in blocks:
        block = re.sub(r"^\s*- ", "", " ".join(block.split()))
        found += [s for s in re.split(r"(?<=[.!?])[\"”]?\s+", block) if words(s)]
    return found


def fk_grade(markdown: str) -> float:
    """Flesch–Kincaid grade level: 0.39 words/sentence + 11.8 syllables/word − 15.59."""
    found = sentences(markdown)
    ws = [w for s in found for w in words(s)]
    return 0.39 * len(ws) / len(found) + 11.8 * sum(map(syllables, ws)) / len(ws) - 15.59


def test_the_grade_heuristic_tells_plain_words_from_hard_ones():
    assert [
        syllables(w) for w in ("cat", "make", "little", "infusion", "treatment", "signed", "wanted")
    ] == [1, 1, 2, 3, 2, 1, 2]
    assert fk_grade("We see you soon. Call us if you can.\n") < 2
    assert (
        fk_grade(
            "Pharmacological interventions necessitate comprehensive longitudinal evaluation.\n"
        )
        > 16
    )


def prose(email_body: str) -> str:
    """The body without the "Hi name," greeting and the clinic-name sign-off, which are not sentences."""
    lines = email_body.strip().splitlines()
    assert lines[0].startswith("Hi ") and lines[-1].strip() == "{{ clinic_name }}"
    return "\n".join(lines[1:-1])


@pytest.mark.parametrize("key", KEYS)
def test_every_email_reads_at_about_grade_eight_or_below(key):
    grade = fk_grade(prose(MESSAGES[key].email_body))
    assert grade <= 8.5, (key, round(grade, 1))


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
