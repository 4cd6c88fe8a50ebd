"""SMS segment counting, exact at every boundary."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drip.core.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments, split_segments


@pytest.mark.parametrize(
    "text, encoding, units, segments",
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters count two
        ("a" * 159 + "{", "GSM-7", 161, 2),
        ("é" * 160, "GSM-7", 160, 1),  # é is in the GSM basic set
        ("a" * 69 + "’", "UCS-2", 70, 1),  # a curly apostrophe forces UCS-2
        ("a" * 70 + "’", "UCS-2", 71, 2),
        ("a" * 134, "GSM-7", 134, 1),
        ("ç" * 134, "UCS-2", 134, 2),  # ç is not GSM (Ç is): 67 + 67
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is a surrogate pair: two units
        ("😀" * 36, "UCS-2", 72, 2),
    ],
)
def test_counts_match_the_gsm_and_ucs2_rules(text, encoding, units, segments):
    got = count_segments(text)
    assert (got.encoding, got.units, got.segments) == (encoding, units, segments)


def test_an_escape_pair_is_never_split_across_segments():
    text = "a" * 152 + "[" + "b" * 10  # "[" would straddle septets 153/154
    parts = split_segments(text)
    assert parts[0] == "a" * 152 and parts[1].startswith("[")


def test_an_emoji_is_never_split_across_segments():
    text = "a" * 66 + "😀" + "b" * 10
    parts = split_segments(text)
    assert parts[0] == "a" * 66 and parts[1].startswith("😀")


gsm_text = st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=500)
any_text = st.text(max_size=300)


@settings(max_examples=200, deadline=None)
@given(st.one_of(gsm_text, any_text))
def test_splitting_gives_the_text_back_in_parts_within_the_limits(text):
    parts = split_segments(text)
    assert "".join(parts) == text
    info = count_segments(text)
    assert info.segments == len(parts)
    limit = {"GSM-7": (160, 153), "UCS-2": (70, 67)}[info.encoding][0 if len(parts) == 1 else 1]
    for part in parts:
        cost = sum(
            (2 if c in GSM7_EXTENSION else 1)
            if info.encoding == "GSM-7"
            else (2 if ord(c) > 0xFFFF else 1)
            for c in part
        )
        assert cost <= limit
