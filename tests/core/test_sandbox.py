"""Templates run with budgets: a hostile or careless template fails fast instead of hanging a
worker or filling its memory (issue 9). Each test is time-bounded: before the limits, several
of these ran for minutes or allocated gigabytes."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, TemplateSyntaxError

from drip.core.rendering import parse_message, render_email, render_sms
from drip.core.sandbox import MAX_RENDERED_CHARS
from tests.core.test_rendering import EMAIL, context

pytestmark = pytest.mark.timeout(20)


def sms(text: str) -> str:
    return render_sms(parse_message("m", EMAIL, text), context()).text


@pytest.mark.parametrize(
    "text",
    [
        "{{ 'x' * 400000000 }}",
        "{{ 400000000 * 'x' }}",
        "{{ ['x'] * 400000000 }}",
        "{{ ('x' * 100000) * 100000 }}",
        "{{ 9 ** (9 ** 9) }}",  # Jinja reads 9 ** 9 ** 9 as (9 ** 9) ** 9
        "{{ '%999999999d' % 1 }}",
        "{{ '{:999999999}'.format(1) }}",
        "{{ '{:{w}}'.format(1, w=999999999) }}",
        "{{ '{x:{w}}'.format_map({'x': 1, 'w': 999999999}) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ 'x'|center(999999999) }}",
        "{{ '%999999999d'|format(1) }}",
        "{{ ('y' * 100000).join('x' * 100000) }}",
        "{{ ('y' * 100000)|join('x' * 100000) }}",
        "{{ range(999999999)|list|length }}",
    ],
)
def test_an_expression_that_would_build_a_huge_value_is_refused_before_it_is_built(text):
    with pytest.raises(SecurityError, match="number .*too large|value would be longer"):
        sms(text)


@pytest.mark.parametrize(
    "text",
    [
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}",
        "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(60) }}",
        # An autoescape block saves and restores the evaluation context: it must not reset the count.
        "{% for a in range(900) %}{% autoescape false %}{% for b in range(900) %}{% endfor %}"
        "{% endautoescape %}{% endfor %}",
    ],
)
def test_loops_and_calls_share_one_budget_per_render(text):
    with pytest.raises(SecurityError, match="steps"):
        sms(text)


@pytest.mark.parametrize(
    "text",
    [
        "{% set s = 'x' * 100000 %}{% for i in range(900) %}{{ s }}{% endfor %}",
        "{% set s = 'x' * 100000 %}{% set t %}{% for i in range(900) %}{{ s }}{% endfor %}{% endset %}",
        "{% macro m() %}{{ 'x' * 100000 }}{% endmacro %}{% for i in range(900) %}{{ m() }}{% endfor %}",
    ],
)
def test_the_rendered_text_is_capped_even_when_built_inside_a_block(text):
    with pytest.raises(SecurityError, match="characters"):
        sms(text)


def test_the_email_body_is_capped_as_well():
    big = EMAIL.replace(
        "{{ clinic_name }}", "{% for i in range(900) %}{{ 'x' * 1000 }}{% endfor %}"
    )
    with pytest.raises(SecurityError, match="characters"):
        render_email(parse_message("m", big, "hi"), context())


@pytest.mark.parametrize(
    "text",
    ['{% include "x" %}', '{% import "x" as x %}', '{% from "x" import y %}', '{% extends "x" %}'],
)
def test_a_template_cannot_load_another(text):
    with pytest.raises(TemplateSyntaxError, match="not allowed"):
        sms(text)


def test_ordinary_templates_with_small_loops_and_methods_still_render():
    text = (
        "{{ first_name.upper() }} {{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%03d' % 7 }} "
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ ['a', 'b']|join(', ') }} "
        "{{ first_name|center(8) }}|"
    )
    assert sms(text) == "ALEX ababab 1024 007 012 a, b   Alex  |"


def test_a_text_just_under_the_limit_renders():
    assert len(sms(f"{{{{ 'x' * {MAX_RENDERED_CHARS - 10} }}}}")) == MAX_RENDERED_CHARS - 10
