"""PURE. How long to wait before retrying a delivery after a transient error."""

from __future__ import annotations

from datetime import timedelta


def compute_backoff(attempt: int, *, base_s: float, max_s: float, jitter: float) -> timedelta:
    """Exponential backoff with "equal jitter": half fixed, half random.

    attempt 1 waits base_s*[0.5, 1), attempt 2 base_s*2*[0.5, 1), ... capped at max_s.
    ``jitter`` is a random draw in [0, 1) supplied by the caller, so this stays deterministic.
    Jitter spreads the retries of many deliveries that failed together (a provider outage).
    """
    ceiling = min(max_s, base_s * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling * (0.5 + jitter / 2))
