"""`drip preview --infusions` follows the rules enrollment does and says so in the same words
(issue 9: out-of-order and duplicate dates were accepted, an empty list fell back to samples)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def preview(*args: str) -> str:
    out = StringIO()
    call_command("preview", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "infusions, says",
    [
        ("2026-12-03 09:00,2026-12-01 09:00", "infusions: infusion 2 is not after infusion 1"),
        ("2026-12-01 09:00,2026-12-01 09:00", "infusions: infusion 2 is not after infusion 1"),
        (
            "2026-12-01 09:00,2026-12-03 09:00,2026-12-03 08:00",
            "infusions: infusion 3 is not after infusion 2",
        ),
        ("", "infusions: give at least the first infusion's date and time"),
        (" , ", "infusions: give at least the first infusion's date and time"),
        (",".join(f"2026-12-{d:02d} 09:00" for d in range(1, 9)), "8 infusions given; this"),
    ],
)
def test_infusions_out_of_order_duplicated_or_missing_are_refused_as_enrollment_does(
    infusions, says
):
    with pytest.raises(CommandError, match=says):
        preview("--infusions", infusions)


def test_a_time_in_the_spring_forward_gap_is_noted_with_the_time_it_is_read_as():
    out = preview("--infusions", "2027-03-12 10:00,2027-03-14 02:30")
    assert (
        "note: infusion 2 at 2027-03-14 02:30 does not exist in America/New_York "
        "(the clocks skip ahead); it is read as 3:30 AM EDT"
    ) in out
    assert out.count("note:") == 1


def test_a_time_that_happens_twice_is_noted_as_read_the_first_time():
    out = preview("--infusions", "2026-11-01 01:30")
    assert "note: infusion 1 at 2026-11-01 01:30 happens twice in America/New_York" in out
    assert "read as the first, 1:30 AM EDT" in out


def test_ordinary_times_get_no_note():
    assert "note:" not in preview("--infusions", "2026-12-01 09:00,2026-12-03 09:00")
