"""The reading-grade heuristic the guardrails warn with (Flesch-Kincaid over vowel groups)."""

from __future__ import annotations

from drip.core.readability import fk_grade, prose, syllables, words


def test_syllables_are_counted_roughly_right_for_common_words():
    assert [
        syllables(w) for w in ("cat", "make", "little", "infusion", "treatment", "signed", "wanted")
    ] == [1, 1, 2, 3, 2, 1, 2]


def test_the_grade_tells_plain_words_from_hard_ones():
    assert fk_grade("We see you soon. Call us if you can.\n") < 2
    hard = "Pharmacological interventions necessitate comprehensive longitudinal evaluation.\n"
    assert fk_grade(hard) > 16


def test_an_empty_body_reads_at_grade_zero():
    assert fk_grade("") == 0.0


def test_words_keep_inner_apostrophes_and_percent_signs():
    assert words("It's about 70% of people.") == ["It's", "about", "70%", "of", "people"]


def test_prose_leaves_out_the_greeting_and_the_sign_off():
    assert prose("Hi {{ first_name }},\n\nSee you.\n\n{{ clinic_name }}\n").strip() == "See you."
