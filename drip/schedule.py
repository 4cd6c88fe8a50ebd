"""PURE. Schedule spec: parse and validate a schedule (YAML text) into a ``Schedule``.

No Django, no DB, no network, no clock, no environment: text in, value out.
Errors name file, line and step (``ScheduleError.problems``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import time, timedelta


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class AnchorKind(enum.StrEnum):
    ENROLLMENT = "enrollment"
    INFUSION = "infusion"
    LAST_INFUSION = "last infusion"


@dataclass(frozen=True)
class Anchor:
    """What a step is timed from: enrollment, ``infusion N`` or the last infusion."""

    kind: AnchorKind
    infusion: int | None = None  # only for AnchorKind.INFUSION

    def __str__(self) -> str:
        return f"infusion {self.infusion}" if self.kind is AnchorKind.INFUSION else self.kind.value


@dataclass(frozen=True)
class SendWindow:
    """Local hours (patient's zone) during which messages may go out: [start, end)."""

    start: time
    end: time


@dataclass(frozen=True)
class Step:
    key: str
    anchor: Anchor
    offset: timedelta
    at: time | None  # local time of day; None = anchor time + offset
    channels: tuple[Channel, ...]
    message: str
    requires_done: int | None  # "requires: infusion N done"
    line: int  # line in the source file, for errors and previews


@dataclass(frozen=True)
class Schedule:
    name: str
    title: str
    infusions: int  # series size
    send_window: SendWindow
    late_grace: timedelta  # a step past by less than this at planning is still sent
    steps: tuple[Step, ...]
    source: str  # file name used in error messages
