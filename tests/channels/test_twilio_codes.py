"""Twilio's error codes: read from answers (numbers) and callbacks (strings) alike, one verdict each."""

from __future__ import annotations

import pytest

from drip.channels.twilio_codes import OPTED_OUT, Verdict, classify, parse_code


@pytest.mark.parametrize(
    "value, code",
    [
        (21610, 21610),  # a JSON number in an API answer
        ("21610", 21610),  # a form field in a status callback
        ("30003", 30003),
        ("", None),  # a callback without ErrorCode
        (None, None),
        ("²", None),  # str.isdigit() says yes; it is not a code
        ("21610x", None),
        ("-1", None),
        (True, None),
    ],
)
def test_parse_code_reads_numbers_and_digit_strings_only(value, code):
    assert parse_code(value) == code


def test_a_callback_code_and_an_api_code_for_stop_are_the_same():
    assert parse_code("21610") == parse_code(21610) == OPTED_OUT


@pytest.mark.parametrize(
    "code, http_status, verdict",
    [
        (21610, 400, Verdict.OPTED_OUT),
        (20429, 429, Verdict.TRANSIENT),
        (20429, 400, Verdict.TRANSIENT),  # the code alone says "too many requests"
        (None, 429, Verdict.TRANSIENT),
        (20500, 500, Verdict.TRANSIENT),
        (None, 503, Verdict.TRANSIENT),
        (21211, 400, Verdict.PERMANENT),
        (21614, 400, Verdict.PERMANENT),
        (21606, 400, Verdict.PERMANENT),
        (21408, 400, Verdict.PERMANENT),
        (20003, 401, Verdict.PERMANENT),  # bad credentials: retrying will not fix them
        (None, 404, Verdict.PERMANENT),
    ],
)
def test_classify(code, http_status, verdict):
    assert classify(code, http_status) == verdict
