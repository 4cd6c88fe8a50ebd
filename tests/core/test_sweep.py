"""Every series pattern of issue 10's "Why" keeps the caps, the window, the order, the series'
end and the essentials (``python -m tests.core.sweep`` prints the count and the rules broken).

Before the planner kept the caps and the series' end, 420 of these 612 patterns broke a rule
(120 of the 216 with every infusion booked ahead)."""

from __future__ import annotations

from tests.core.sweep import broken_rules, patterns, shipped_schedule


def test_no_series_pattern_breaks_a_rule():
    schedule = shipped_schedule()
    found = list(patterns())
    broken = {p.name: rules for p in found if (rules := broken_rules(schedule, p))}
    assert len(found) == 612
    assert broken == {}
