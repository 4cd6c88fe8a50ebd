"""The shipped schedule and messages: true to the article, short, plain, one SMS segment each."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from drip.library import load_messages, load_schedules, validate_library
from drip.rendering import build_context, render_email, render_sms
from drip.schedule import AnchorKind

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (ROOT / "messages" / "SOURCE_ARTICLE.txt").read_text(encoding="utf-8")
MESSAGES = load_messages(ROOT / "messages")
SCHEDULES = load_schedules(ROOT / "schedules", MESSAGES)
LONG_CONTEXT = dict(
    first_name="Alexandra", series_size=6, infusion_number=6, unsubscribe_url="https://clinic.example/u/x",
    clinic={"clinic_name": "Sample Infusion Clinic", "clinic_phone": "(555) 010-0199",
            "clinic_address": "100 Main Street, Suite 2", "clinic_instructions": "Follow your care team's instructions."},
)


def sample_context():
    from datetime import datetime

    return build_context(infusion_local_start=datetime(2026, 9, 30, 10, 30), **LONG_CONTEXT)


def test_the_shipped_files_validate():
    assert validate_library(ROOT / "schedules", ROOT / "messages") == []


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_source_quote_occurs_verbatim_in_the_article(key):
    assert MESSAGES[key].sources, f"{key} cites no passage"
    for quote in MESSAGES[key].sources:
        assert quote in ARTICLE, f"{key}: not verbatim in the article: {quote!r}"


@pytest.mark.parametrize("theme", [
    "magic wand", "70%", "relationships, career path", "therapy, life coaching", "reason to get out of bed",
    "physical therapy", "Setbacks will happen", "50%", "persevere", "Will ketamine cure me?",
])
def test_every_theme_of_the_article_is_carried_by_a_message(theme):
    assert any(theme in quote for m in MESSAGES.values() for quote in m.sources), theme


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_sms_is_one_gsm7_segment_with_the_clinic_name(key):
    sms = render_sms(MESSAGES[key], sample_context())
    assert (sms.encoding, sms.segments) == ("GSM-7", 1), (key, len(sms.text), sms.text)
    assert len(sms.text) <= 160 and "Sample Infusion Clinic" in sms.text


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_email_is_short_with_a_subject(key):
    mail = render_email(MESSAGES[key], sample_context())
    assert mail.subject and len(mail.subject) <= 70
    body = MESSAGES[key].email_body
    assert len(re.findall(r"[A-Za-z0-9'’]+", body)) <= 250


def syllables(word: str) -> int:
    word = word.lower().strip(".,!?;:'\"()*-")
    groups = re.findall(r"[aeiouy]+", word)
    count = len(groups) - (1 if word.endswith("e") and len(groups) > 1 and not word.endswith("le") else 0)
    return max(1, count)


def fk_grade(text: str) -> float:
    text = re.sub(r"\{\{[^}]*\}\}", "Alex", text)
    sentences = max(1, len(re.findall(r"[.!?:](\s|$)", text)) + text.count("\n- "))
    words = re.findall(r"[A-Za-z][A-Za-z'’]*", text)
    return 0.39 * len(words) / sentences + 11.8 * sum(map(syllables, words)) / len(words) - 15.59


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_email_reads_at_about_grade_eight_or_below(key):
    assert fk_grade(MESSAGES[key].email_body) <= 8.5


def test_no_clinic_fact_is_hard_coded_in_a_message():
    for m in MESSAGES.values():
        for text in (m.email_body, m.sms_text, m.email_subject):
            assert not re.search(r"\(\d{3}\)|\d{3}-\d{4}|Sample Infusion Clinic|Main Street", text), m.key


def test_the_default_schedule_spans_enrollment_to_four_weeks_after_the_last_infusion():
    schedule = SCHEDULES["ketamine-six-infusion"]
    assert schedule.infusions == 6 and len(schedule.steps) >= 12
    steps = {s.key: s for s in schedule.steps}
    assert steps["welcome"].anchor.kind is AnchorKind.ENROLLMENT
    assert steps["what-to-expect"].anchor.infusion == 1 and steps["what-to-expect"].offset < timedelta(0)
    assert steps["setbacks-are-normal"].anchor.infusion == 3 and steps["setbacks-are-normal"].offset > timedelta(0)
    assert steps["setbacks-are-normal"].requires_done == 3
    last = [s for s in schedule.steps if s.anchor.kind is AnchorKind.LAST_INFUSION]
    assert max(s.offset for s in last) >= timedelta(weeks=4)
