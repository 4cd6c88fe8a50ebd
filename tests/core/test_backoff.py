"""The retry wait after a transient error: exponential, capped, with equal jitter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drip.core.backoff import compute_backoff


@pytest.mark.parametrize(
    "attempt, jitter, seconds",
    [
        (1, 0.0, 15),  # base 30 s: half fixed ...
        (1, 0.5, 22.5),
        (1, 0.999, 29.985),  # ... half random, never the whole base
        (2, 0.0, 30),  # doubles per attempt
        (3, 0.0, 60),
        (4, 0.5, 180),
        (7, 0.0, 960),
        (8, 0.0, 1800),  # 30 * 2**7 = 3,840 s is over the cap: the cap is the ceiling
        (8, 0.999, 3598.2),
        (50, 0.0, 1800),  # far past the cap: still the cap, no overflow
        (0, 0.0, 15),  # attempt 0 (never counted yet) waits like the first
    ],
)
def test_backoff_table(attempt: int, jitter: float, seconds: float) -> None:
    wait = compute_backoff(attempt, base_s=30, max_s=3600, jitter=jitter)
    assert isinstance(wait, timedelta)
    assert wait.total_seconds() == pytest.approx(seconds)


@given(
    attempt=st.integers(min_value=1, max_value=1000),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_within_half_and_all_of_its_ceiling(attempt: int, jitter: float) -> None:
    ceiling = min(3600.0, 30.0 * 2.0 ** (attempt - 1))
    wait = compute_backoff(attempt, base_s=30, max_s=3600, jitter=jitter).total_seconds()
    microsecond = 1e-6  # timedelta rounds to it
    assert ceiling / 2 - microsecond <= wait <= ceiling + microsecond
