"""Rendering and validating message templates (sandboxed Jinja2, Markdown email)."""

from __future__ import annotations

from datetime import datetime

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from drip.core.rendering import (
    build_context,
    check_message,
    format_when,
    parse_message,
    render_email,
    render_sms,
    validate_message,
)
from drip.errors import TemplateError

CLINIC = {
    "clinic_name": "Sample Clinic",
    "clinic_phone": "(555) 010-0199",
    "clinic_address": "1 Main St",
    "clinic_instructions": "Eat a light meal.",
    "crisis_text": "If you are thinking of harming yourself, call or text 988. In an emergency, call 911.",
}
EMAIL = """---
subject: "Infusion {{ infusion_number }} is {{ infusion_when }}"
source:
  - "Setbacks will happen."
---

Hi {{ first_name }},

Your visit is on **{{ infusion_date }}** at {{ infusion_time }}.

{{ clinic_name }}
"""
SMS = "{{ clinic_name }}: Hi {{ first_name }}, see you {{ infusion_when }}."


def context(**overrides):
    values = dict(
        first_name="Alex",
        clinic=CLINIC,
        series_size=6,
        infusion_number=2,
        infusion_local_start=datetime(2026, 12, 1, 9, 30),
        unsubscribe_url="https://c.test/u/t",
    )
    values.update(overrides)
    return build_context(**values)


def template(email=EMAIL, sms=SMS):
    return parse_message("visit", email, sms)


@pytest.mark.parametrize(
    "local, expected",
    [
        (datetime(2026, 12, 1, 9, 30), "Tuesday, December 1 at 9:30 AM"),
        (datetime(2026, 12, 1, 0, 5), "Tuesday, December 1 at 12:05 AM"),
        (datetime(2026, 12, 1, 12, 0), "Tuesday, December 1 at 12:00 PM"),
        (datetime(2027, 1, 15, 17, 45), "Friday, January 15 at 5:45 PM"),
    ],
)
def test_times_are_written_for_people(local, expected):
    assert format_when(local) == expected


def test_an_email_renders_subject_text_and_html():
    mail = render_email(template(), context())
    assert mail.subject == "Infusion 2 is Tuesday, December 1 at 9:30 AM"
    assert "Your visit is on **Tuesday, December 1** at 9:30 AM." in mail.text
    assert "<strong>Tuesday, December 1</strong>" in mail.html
    assert "https://c.test/u/t" in mail.html and "https://c.test/u/t" in mail.text


def test_an_sms_renders_with_its_encoding_and_segments():
    sms = render_sms(template(), context())
    assert sms.text == "Sample Clinic: Hi Alex, see you Tuesday, December 1 at 9:30 AM."
    assert (sms.encoding, sms.segments) == ("GSM-7", 1)


def test_html_in_a_patient_name_is_escaped_in_the_email():
    mail = render_email(
        template(), context(first_name="<script>alert(1)</script>[x](https://evil.test)")
    )
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert 'href="https://evil.test"' not in mail.html


def test_raw_html_in_an_email_template_is_refused_with_its_line():
    broken = template(
        email=EMAIL.replace("{{ clinic_name }}\n", '<img src="x">{{ clinic_name }}\n')
    )
    (problem,) = validate_message(broken)
    assert str(problem) == "email.md:11: raw HTML is not allowed in an email; write Markdown"
    assert (
        validate_message(template(email=EMAIL + "\nSee <https://clinic.test/faq> or 2 < 3.\n"))
        == []
    )


def test_a_javascript_link_in_markdown_is_not_a_link():
    mail = render_email(template(email=EMAIL + "\n[call us](javascript:alert(1))\n"), context())
    assert "javascript:" not in mail.html and "call us" in mail.html


def test_a_missing_variable_raises_instead_of_rendering_blank():
    values = context()
    del values["first_name"]
    with pytest.raises(UndefinedError):
        render_sms(template(), values)


def test_the_sandbox_refuses_to_reach_python_internals():
    evil = template(sms="{{ clinic_name.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(SecurityError):
        render_sms(evil, context())


def test_an_unknown_variable_is_reported_with_its_file_line():
    broken = template(email=EMAIL.replace("{{ infusion_time }}", "{{ infusion_tme }}"))
    (problem,) = validate_message(broken)
    assert str(problem).startswith("email.md:9: unknown variable 'infusion_tme' in the email body")


def test_a_syntax_error_is_reported_with_its_line():
    broken = template(email=EMAIL.replace("{{ clinic_name }}\n", "{{ clinic_name }\n"))
    (problem,) = validate_message(broken)
    assert problem.line == 11 and "syntax error" in problem.message


def test_an_unsubscribe_link_is_not_allowed_in_an_sms():
    (problem,) = validate_message(template(sms="{{ clinic_name }} {{ unsubscribe_url }}"))
    assert str(problem).startswith("sms.txt:1: unknown variable 'unsubscribe_url' in the SMS")


def test_a_message_without_front_matter_or_subject_is_refused():
    with pytest.raises(TemplateError, match="email.md:1"):
        parse_message("x", "Hello", SMS)
    with pytest.raises(TemplateError, match="subject"):
        parse_message("x", "---\nsource: []\n---\nHello\n", SMS)


def test_a_valid_message_checks_clean():
    check_message(template())
    assert template().sources == ("Setbacks will happen.",)


def test_every_email_ends_with_the_clinics_crisis_route_in_both_parts():
    mail = render_email(template(), context())
    footer = mail.text.split("\n--\n", 1)[1]
    assert CLINIC["crisis_text"] in footer
    assert "call or text 988" in mail.html and "call 911" in mail.html
    assert mail.html.index("988") > mail.html.index("Your visit is on")


def test_the_crisis_route_in_the_html_footer_is_escaped_text():
    clinic = {**CLINIC, "crisis_text": "Call <b>988</b> & 911"}
    mail = render_email(template(), context(clinic=clinic))
    assert "Call &lt;b&gt;988&lt;/b&gt; &amp; 911" in mail.html


def test_a_text_shows_the_clinics_sms_name_and_an_email_its_full_name():
    clinic = {**CLINIC, "clinic_sms_name": "Sample Care"}
    assert render_sms(template(), context(clinic=clinic)).text.startswith("Sample Care: Hi Alex")
    assert "Sample Clinic · (555) 010-0199" in render_email(template(), context(clinic=clinic)).text


def test_without_an_sms_name_a_text_shows_the_clinic_name():
    assert render_sms(template(), context()).text.startswith("Sample Clinic: Hi Alex")
