"""Schedule parsing: valid files parse; each broken one says what, where (file:line) and which step."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from drip.core.schedule import AnchorKind, Channel, parse_offset, parse_schedule
from drip.errors import ScheduleError

GOOD = """\
name: test-series
title: Test series
infusions: 6
send_window: {start: "09:00", end: "20:00"}
late_grace: 30m
steps:
  - key: welcome
    anchor: enrollment
    offset: 0m
    channels: [email, sms]
    message: welcome
  - key: before-first
    anchor: infusion 1
    offset: -2d
    at: "18:00"
    channels: [sms]
    message: welcome
  - key: after-third
    anchor: infusion 3
    offset: +1d
    at: "10:00"
    channels: [email]
    message: welcome
    requires: infusion 3 done
  - key: month-later
    anchor: last infusion
    offset: +4w
    channels: [email]
    message: welcome
"""
MESSAGES = {"welcome": frozenset(Channel)}


def problems_of(text: str, messages=MESSAGES) -> list[str]:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(text, source="s.yaml", messages=messages)
    return [str(p) for p in raised.value.problems]


def test_a_valid_schedule_parses_with_its_values():
    s = parse_schedule(GOOD, source="s.yaml", messages=MESSAGES)
    assert (s.name, s.title, s.infusions, s.late_grace) == (
        "test-series",
        "Test series",
        6,
        timedelta(minutes=30),
    )
    assert (s.send_window.start, s.send_window.end) == (time(9), time(20))
    first, before, after, later = s.steps
    assert first.anchor.kind is AnchorKind.ENROLLMENT and first.channels == (
        Channel.EMAIL,
        Channel.SMS,
    )
    assert (
        before.anchor.infusion == 1
        and before.offset == timedelta(days=-2)
        and before.at == time(18)
    )
    assert after.requires_done == 3 and after.line == 18
    assert later.anchor.kind is AnchorKind.LAST_INFUSION and later.offset == timedelta(weeks=4)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-2d", timedelta(days=-2)),
        ("+1w", timedelta(weeks=1)),
        ("90m", timedelta(minutes=90)),
        ("0", timedelta(0)),
        ("-3h", timedelta(hours=-3)),
        ("2 d", timedelta(days=2)),
        ("2x", None),
        ("two days", None),
        ("", None),
        ("+-1d", None),
    ],
)
def test_offsets_are_signed_numbers_with_a_unit(text, expected):
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (
            "anchor: infusion 3",
            "anchor: infusion three",
            "s.yaml:19: step 'after-third': unknown anchor 'infusion three'",
        ),
        (
            "anchor: infusion 3",
            "anchor: infusion 9",
            "s.yaml:19: step 'after-third': infusion 9 is outside the series (1 to 6)",
        ),
        (
            "requires: infusion 3 done",
            "requires: infusion 7 done",
            "s.yaml:24: step 'after-third': infusion 7 is outside the series",
        ),
        (
            "requires: infusion 3 done",
            "requires: third done",
            "s.yaml:24: step 'after-third': malformed condition 'third done'",
        ),
        (
            "offset: -2d",
            "offset: -2 days",
            "s.yaml:14: step 'before-first': malformed offset '-2 days'",
        ),
        (
            'at: "18:00"',
            'at: "21:30"',
            "s.yaml:15: step 'before-first': 'at' 21:30 is outside the send window 09:00-20:00",
        ),
        (
            'at: "18:00"',
            'at: "6pm"',
            "s.yaml:15: step 'before-first': 'at' value '6pm' is not a time",
        ),
        (
            "offset: +1d",
            "offset: +25h",
            "s.yaml:21: step 'after-third': 'at' needs an offset in whole days",
        ),
        (
            "channels: [sms]",
            "channels: [fax]",
            "s.yaml:16: step 'before-first': unknown channel 'fax'",
        ),
        (
            "channels: [sms]",
            "channels: []",
            "s.yaml:16: step 'before-first': channels must be a non-empty list",
        ),
        (
            "channels: [sms]",
            "chanels: [sms]",
            "s.yaml:16: step 'before-first': unknown field 'chanels'",
        ),
        (
            "key: month-later",
            "key: welcome",
            "s.yaml:25: step 'welcome': duplicate step key 'welcome'",
        ),
        (
            'start: "09:00"',
            'start: "07:00"',
            "s.yaml:4: send_window 07:00-20:00 must lie within 08:00-21:00",
        ),
        (
            'end: "20:00"',
            'end: "10:30"',
            "s.yaml:4: send_window 09:00-10:30 must be at least two hours long",
        ),
        (
            "infusions: 6",
            "infusions: many",
            "s.yaml:3: infusions must be a whole number from 1 to 20",
        ),
        ("late_grace: 30m", "late_grace: soon", "s.yaml:5: late_grace 'soon' must be a duration"),
        ("title: Test series", "titel: Test series", "s.yaml:2: unknown field 'titel'"),
    ],
)
def test_each_mistake_is_reported_with_file_line_and_step(old, new, expected):
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_an_unknown_message_is_named_with_its_line():
    found = problems_of(GOOD.replace("message: welcome", "message: wellcome", 1))
    assert found == [
        "s.yaml:11: step 'welcome': unknown message 'wellcome' (no folder messages/wellcome/)"
    ]


def test_a_message_without_the_channel_a_step_uses_is_reported():
    found = problems_of(GOOD, messages={"welcome": frozenset({Channel.EMAIL})})
    assert found[0].startswith("s.yaml:11: step 'welcome': message 'welcome' has no sms text")


def test_yaml_syntax_errors_carry_the_line():
    found = problems_of(GOOD.replace("channels: [sms]", "channels: [sms", 1))
    assert len(found) == 1 and found[0].startswith("s.yaml:") and "YAML syntax error" in found[0]


def test_every_problem_is_reported_at_once_not_just_the_first():
    broken = GOOD.replace("anchor: infusion 3", "anchor: someday").replace(
        "channels: [sms]", "channels: [fax]"
    )
    assert len(problems_of(broken)) == 2


def test_steps_must_be_a_non_empty_list():
    found = problems_of("name: x\ninfusions: 2\nsteps: []\n")
    assert found == ["s.yaml:3: steps must be a non-empty list"]
