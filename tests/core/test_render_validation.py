"""Validation renders every message with sample values (short, long, optional clinic facts empty)
and reports what would fail at send time, with its file and line (issue 9)."""

from __future__ import annotations

import pytest

from drip.core.rendering import render_email, render_sms, sample_contexts, validate_message
from tests.core.test_rendering import EMAIL, SMS, context, template

pytestmark = pytest.mark.timeout(20)
BODY_END = "{{ clinic_name }}\n"  # line 11 of EMAIL


def email_with(line: str):
    return template(email=EMAIL.replace(BODY_END, line + "\n" + BODY_END))


@pytest.mark.parametrize(
    "line, says",
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ('{% include "footer.md" %}', "include is not allowed"),
        ('{% import "macros" as m %}', "import is not allowed"),
        ('{% extends "base" %}', "extends is not allowed"),
        ("{% if first_name %}{{ first_name|shout }}{% endif %}", "No filter named 'shout'"),
        ("{{ 'x' * 400000000 }}", "longer than 100,000 characters"),
        ("{% for i in range(5000) %}.{% endfor %}", "more than 1,000 steps"),
    ],
)
def test_an_error_that_would_only_show_at_send_time_is_reported_with_its_file_and_line(line, says):
    (problem,) = validate_message(email_with(line))
    assert (problem.source, problem.line) == ("email.md", 11)
    assert says in problem.message


def test_an_error_in_the_sms_names_the_sms_file():
    (problem,) = validate_message(template(sms="{{ clinic_name }}\n{{ 1 / 0 }}"))
    assert str(problem).startswith("sms.txt:2: ")


def test_a_template_that_breaks_only_with_long_values_is_reported_with_which_values():
    (problem,) = validate_message(template(sms="{{ clinic_name }} {{ first_name * 2000 }}"))
    assert "long values" in problem.message and "characters" in problem.message


def test_a_template_that_breaks_only_when_an_optional_fact_is_empty_is_reported():
    (problem,) = validate_message(template(sms="{{ clinic_name }} at {{ clinic_address[0] }}"))
    assert problem.line == 1 and "clinic facts empty" in problem.message


@pytest.mark.parametrize(
    "line, fact, remnant",
    [
        ("Our address is {{ clinic_address }}.", "clinic_address", "Our address is ."),
        ("**Before you come:** {{ clinic_instructions }}", "clinic_instructions", "**Before"),
    ],
)
def test_a_sentence_left_behind_by_an_empty_clinic_fact_is_reported(line, fact, remnant):
    (problem,) = validate_message(email_with(line))
    assert (problem.source, problem.line) == ("email.md", 11)
    assert f"when {fact} is empty" in problem.message and remnant in problem.message
    assert f"{{% if {fact} %}}" in problem.message


def test_a_clinic_fact_inside_its_own_if_block_validates_and_renders_both_ways():
    line = "{% if clinic_address %}Our address is {{ clinic_address }}.{% endif %}"
    assert validate_message(email_with(line)) == []
    empty = context(clinic={"clinic_name": "C", "clinic_phone": "1", "clinic_address": ""})
    assert "Our address is" not in render_email(email_with(line), empty).text
    assert "Our address is 1 Main St." in render_email(email_with(line), context()).text


def test_a_fact_alone_on_its_line_needs_no_if_block_and_leaves_no_gap():
    message = email_with("\n{{ clinic_instructions }}\n")
    assert validate_message(message) == []
    empty = context(clinic={"clinic_name": "C", "clinic_phone": "1", "clinic_instructions": ""})
    assert "\n\n\n" not in render_email(message, empty).text


def test_the_sample_contexts_cover_short_long_and_empty_optional_facts():
    contexts = sample_contexts()
    names = [str(c["first_name"]) for c in contexts.values()]
    assert min(map(len, names)) <= 3 and max(map(len, names)) >= 100
    assert any(c["clinic_address"] == "" == c["clinic_instructions"] for c in contexts.values())
    assert all(c["clinic_address"] for k, c in contexts.items() if "empty" not in k)


def test_an_email_footer_without_a_phone_has_no_dangling_separator():
    facts = {"clinic_name": "Sample Clinic", "clinic_phone": ""}
    mail = render_email(template(), context(clinic=facts))
    assert "\n--\nSample Clinic\nUnsubscribe" in mail.text
    assert "Sample Clinic · <a href" in mail.html and "·  ·" not in mail.html


def test_a_valid_message_validates_with_every_sample_context():
    assert validate_message(template()) == []
    for values in sample_contexts().values():
        assert render_sms(template(sms=SMS), values).text
