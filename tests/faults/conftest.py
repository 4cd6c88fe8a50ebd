"""Print every fault scenario's line (due, sent, duplicates, lost, SMS lost, emails listed) at the end of the run."""

from __future__ import annotations

from tests.faults.harness import SCENARIO_LINES


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest's hook signature
    if SCENARIO_LINES:
        terminalreporter.section("fault scenarios")
        for line in SCENARIO_LINES:
            terminalreporter.write_line(line)
