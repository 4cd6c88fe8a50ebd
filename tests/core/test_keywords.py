"""The inbound classifier: Twilio's keyword lists, plain-language opt-outs, crisis wording."""

from __future__ import annotations

import pytest

from drip.core.keywords import Keyword, classify, crisis_phrases, keyword_of, parse_phrases

K = Keyword


@pytest.mark.parametrize(
    "word", ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
)
def test_every_twilio_opt_out_word_is_stop_in_any_case_spacing_or_punctuation(word):
    for form in (word, word.lower(), word.title(), f"  {word}!! ", f"{word}.", " ".join(word)):
        assert keyword_of(form) is K.STOP, form


@pytest.mark.parametrize("word", ["START", "YES", "UNSTOP"])
def test_every_twilio_opt_in_word_is_start(word):
    for form in (word, word.lower(), f" {word}! ", f"{word.title()}."):
        assert keyword_of(form) is K.START, form


@pytest.mark.parametrize("word", ["HELP", "INFO"])
def test_help_and_info_are_help(word):
    for form in (word, word.lower(), f"{word}?", f" {word.title()} "):
        assert keyword_of(form) is K.HELP, form


@pytest.mark.parametrize(
    "text",
    [
        "Stop texting me",
        "please stop texting me!",
        "no more texts",
        "No more messages please",
        "opt out",
        "Opt me out",
        "unsubscribe me",
        "Please stop",
        "stop please",
        "STOP IT",
        "stop sending me these",
        "stop the reminders",
        "Don't text me anymore",
        "do not text me",
        "remove me from this list",
        "take me off your list",
        "I don't want these texts",
        "stop, thank you",
    ],
)
def test_plain_language_opt_outs_count_as_stop(text):
    assert keyword_of(text) is K.STOP


@pytest.mark.parametrize(
    "text",
    [
        "Cancel my appointment on Friday",  # a question for staff, not a revocation
        "Can I stop by the clinic tomorrow?",
        "yes please, see you then",
        "help me understand the dose",
        "when does it end?",
        "I'm starting to feel better",
        "Thanks!",
        "",
    ],
)
def test_sentences_that_only_contain_a_keyword_are_other(text):
    assert keyword_of(text) is K.OTHER


@pytest.mark.parametrize(
    "text",
    [
        "I want to die",
        "i wanna die",
        "I want 2 die",
        "thinking about suicide",
        "feeling suicidal tonight",
        "i might kill myself",
        "Gonna kill my self",
        "I just want to end it all",
        "took all my pills",
        "I'm going to overdose",
        "I keep wanting to hurt myself",
        "I don't want to live anymore",
        "I dont want to be here",
        "better off dead",
        "they'd be better off without me",
        "I can't go on",
        "thinking of ending my life",
        "KILL MYSELF",
        "kill. my. self",
        "sucide",
        "I cut myself again",
        "self-harm",
    ],
)
def test_crisis_wording_is_flagged(text):
    assert classify(text).crisis, text


@pytest.mark.parametrize(
    "text",
    [
        "Killing it at work this week!",
        "this traffic is killing me",  # an idiom, not the list's "kill myself"
        "I could die laughing at that show",
        "My phone died, can you resend?",
        "What time does it end?",
        "The dose was fine",
        "Studied the overdosage section? no",  # 'overdosage' is not the word 'overdose'
        "STOP",
        "I'm doing so much better",
    ],
)
def test_false_alarms_are_not_crisis(text):
    assert not classify(text).crisis, text


def test_crisis_takes_precedence_and_a_leading_stop_also_opts_out():
    both = classify("STOP I want to die")
    assert both.crisis and both.keyword is K.STOP and both.kind == "crisis"
    assert classify("End it all").keyword is K.OTHER  # "end" here is not a request to stop
    assert classify("stopping by later, i want to die").keyword is K.OTHER


def test_the_shipped_phrase_list_is_normalised_deduplicated_and_covers_the_issue():
    phrases = crisis_phrases()
    assert len(phrases) == len(set(phrases)) > 50
    for required in ("suicide", "kill myself", "want to die", "end it all", "overdose"):
        assert required in phrases
    assert "hurt myself" in phrases


def test_a_phrase_file_ignores_comments_and_blank_lines():
    assert parse_phrases("# note\n\nWant-to die  # inline\nsuicide\nsuicide\n") == (
        "want to die",
        "suicide",
    )


def test_a_custom_phrase_list_is_used_when_given():
    assert classify("the word is rutabaga", ("rutabaga",)).crisis
    assert not classify("the word is rutabaga").crisis
