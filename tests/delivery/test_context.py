"""A real patient's template variables, by the rules every sender and page shares: which name,
which infusion in which zone, which series size, which unsubscribe link, which clinic facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from drip.catalog import clinic
from drip.delivery.context import Preview, context_for, next_infusion
from drip.delivery.links import read_unsubscribe_token
from drip.delivery.rows import InfusionState
from drip.delivery.test_send import SAMPLE_UNSUBSCRIBE_URL
from tests.support.factories import publish_test_schedule

pytestmark = pytest.mark.django_db

# Infusions 1-3, Mon Dec 7 / Wed Dec 9 / Fri Dec 11 2026 at 15:00 UTC (7:00 AM in Los Angeles).
INFUSIONS = {
    n: InfusionState(n, datetime(2026, 12, day, 15, 0, tzinfo=UTC), "scheduled")
    for n, day in ((1, 7), (2, 9), (3, 11))
}


@pytest.fixture
def robin() -> SimpleNamespace:
    return SimpleNamespace(id=41, first_name="Robin", time_zone="America/Los_Angeles")


@pytest.fixture
def series() -> SimpleNamespace:
    """A series on the test schedule (six infusions) without a size of its own."""
    return SimpleNamespace(schedule_version_id=publish_test_schedule().pk, series_size=None)


def delivery(channel: str = "sms", anchor: int | None = 2) -> SimpleNamespace:
    return SimpleNamespace(channel=channel, anchor_infusion=anchor)


def test_a_delivery_is_about_its_anchor_infusion_in_the_patients_zone(robin, series):
    values = context_for(robin, series=series, infusions=INFUSIONS, message=delivery(anchor=2))
    assert values["first_name"] == "Robin"
    assert (values["infusion_number"], values["series_size"]) == (2, 6)
    assert values["infusion_when"] == "Wednesday, December 9 at 7:00 AM"
    assert (values["infusion_date"], values["infusion_time"]) == (
        "Wednesday, December 9",
        "7:00 AM",
    )


def test_an_enrollment_step_is_about_the_first_infusion(robin, series):
    values = context_for(robin, series=series, infusions=INFUSIONS, message=delivery(anchor=None))
    assert (values["infusion_number"], values["infusion_when"]) == (
        1,
        "Monday, December 7 at 7:00 AM",
    )


def test_an_anchor_not_booked_keeps_its_number_and_has_no_time(robin, series):
    values = context_for(robin, series=series, infusions=INFUSIONS, message=delivery(anchor=5))
    assert (values["infusion_number"], values["infusion_when"], values["infusion_time"]) == (
        5,
        "",
        "",
    )


def test_the_series_own_size_wins_over_its_schedules(robin, series):
    series.series_size = 9
    values = context_for(robin, series=series, infusions=INFUSIONS, message=delivery())
    assert values["series_size"] == 9


def test_an_email_carries_the_patients_own_unsubscribe_link_and_a_text_none(robin, series):
    email = context_for(robin, series=series, infusions=INFUSIONS, message=delivery("email"))
    token = str(email["unsubscribe_url"]).rsplit("/u/", 1)[1]
    assert read_unsubscribe_token(token) == (41, "email")
    sms = context_for(robin, series=series, infusions=INFUSIONS, message=delivery("sms"))
    assert sms["unsubscribe_url"] == ""


def test_the_clinic_facts_are_the_saved_settings(robin, series, now):
    facts = clinic.current() | {"clinic_name": "Lakeside Infusion Center"}
    clinic.save(facts | {"clinic_sms_name": "Lakeside"}, on_version=0, actor="test", now=now)
    values = context_for(robin, series=series, infusions=INFUSIONS, message=delivery())
    assert (values["clinic_name"], values["clinic_sms_name"]) == (
        "Lakeside Infusion Center",
        "Lakeside",
    )


# The preview's "next" infusion, as of Wed Dec 9 2026 at 15:00 UTC (infusion 2's start).
AT = datetime(2026, 12, 9, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "statuses, now, expected",
    [
        ({}, AT, None),  # nothing booked
        ({1: "done", 2: "scheduled", 3: "scheduled"}, AT, 2),  # starting now counts as next
        ({1: "done", 2: "cancelled", 3: "scheduled"}, AT, 3),  # a cancelled one is skipped
        ({1: "done", 2: "done", 3: "done"}, AT + timedelta(days=9), 3),  # all past: the last
        ({1: "done", 2: "done", 3: "cancelled"}, AT + timedelta(days=9), 2),  # the last booked
        ({1: "cancelled"}, AT, None),  # only a cancelled one
    ],
)
def test_a_preview_is_about_the_next_booked_infusion(statuses, now, expected):
    infusions = {n: InfusionState(n, INFUSIONS[n].starts_at, s) for n, s in statuses.items()}
    found = next_infusion(infusions, now)
    assert (found.number if found else None) == expected


def test_a_preview_carries_the_sample_link_never_a_working_one(robin, series):
    values = context_for(robin, series=series, infusions=INFUSIONS, message=Preview(AT))
    assert values["unsubscribe_url"] == SAMPLE_UNSUBSCRIBE_URL
    assert (values["infusion_number"], values["infusion_when"]) == (
        2,
        "Wednesday, December 9 at 7:00 AM",
    )


def test_a_preview_of_a_patient_without_a_series_has_the_samples_size_and_no_infusion(robin):
    values = context_for(robin, series=None, infusions={}, message=Preview(AT))
    assert (values["series_size"], values["infusion_number"], values["infusion_when"]) == (
        6,
        "",
        "",
    )
