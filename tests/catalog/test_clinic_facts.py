"""Optional clinic facts (address, instructions) read as whole sentences or not at all, in every
shipped message (issue 9: emails read "Our address is ." when the address was empty)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drip.catalog.files import load_messages
from drip.core.rendering import OPTIONAL_FACTS, render_email, render_sms, sample_contexts

MESSAGES = load_messages(Path(__file__).resolve().parents[2] / "messages")
FILLED = sample_contexts()["short values"]
# What an empty fact left behind: "Our address is .", "Before you come:" and nothing, a gap.
DANGLING = re.compile(r"\bis \.|come:\**\s*$|\n\n\n", re.MULTILINE)


@pytest.mark.parametrize("key", sorted(MESSAGES))
@pytest.mark.parametrize("fact", OPTIONAL_FACTS)
def test_an_empty_optional_fact_leaves_no_sentence_behind(key, fact):
    values = {**FILLED, fact: ""}
    mail = render_email(MESSAGES[key], values)
    body = mail.text.split("\n--\n")[0]
    assert not DANGLING.search(body), (key, body)
    assert "Our address is ." not in mail.html and "Before you come:</strong> </p>" not in mail.html
    assert not DANGLING.search(render_sms(MESSAGES[key], values).text)


@pytest.mark.parametrize("key", ["infusion-reminder", "what-to-expect"])
def test_a_filled_optional_fact_still_reads_in_full(key):
    text = render_email(MESSAGES[key], FILLED).text
    assert f"Our address is {FILLED['clinic_address']}." in text
    assert str(FILLED["clinic_instructions"]) in text
