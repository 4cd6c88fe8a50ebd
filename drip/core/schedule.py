"""PURE. Schedule spec: parse and validate a schedule (YAML text) into a ``Schedule``.

No Django, no DB, no network, no clock, no environment: text in, value out.
Errors name file, line and step (``ScheduleError.problems``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as fields_of
from datetime import time, timedelta
from functools import cached_property

import yaml

from drip.errors import Problem, ScheduleError


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


class Priority(enum.IntEnum):
    """Which step keeps its slot when caps leave room for only one: lower goes first."""

    HIGH = 0  # welcome, infusion reminders: placed first
    NORMAL = 1
    LOW = 2  # nudges: moved or dropped first


@dataclass(frozen=True)
class Caps:
    """The most messages a patient gets from drip, counting sent and planned ones alike."""

    sms_per_day: int = 1  # per patient-local day
    sms_per_7_days: int = 3  # in any 7 consecutive patient-local days
    email_per_day: int = 1


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
    latest: timedelta | None = None  # may move up to anchor + this; None: only its own slot
    priority: Priority = Priority.NORMAL
    essential: bool = False  # caught up at the next free slot when already past at enrollment


@dataclass(frozen=True)
class Schedule:
    name: str
    title: str
    infusions: int  # series size
    send_window: SendWindow
    late_grace: timedelta  # a step past by less than this at planning is still sent
    steps: tuple[Step, ...]
    source: str  # file name used in error messages
    caps: Caps = Caps()

    @cached_property
    def steps_by_key(self) -> dict[str, Step]:
        """The steps by key (for the sender's per-row lookups)."""
        return {step.key: step for step in self.steps}


# --------------------------------------------------------------------------------------------
# Parsing. YAML is composed into nodes (not plain dicts) so every problem can name its line.

_TOP_FIELDS = {"name", "title", "infusions", "send_window", "late_grace", "caps", "steps"}
# A step's fields, in the order a file (and the editor's form) lists them.
STEP_FIELDS = (
    "key",
    "anchor",
    "offset",
    "at",
    "channels",
    "message",
    "requires",
    "latest",
    "priority",
    "essential",
)
_STEP_FIELDS = set(STEP_FIELDS)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_OFFSET = re.compile(r"^([+-]?)(\d+)\s*([mhdw])$")
_UNIT = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ANCHOR_INFUSION = re.compile(r"^infusion\s+(\d+)$")
_REQUIRES = re.compile(r"^infusion\s+(\d+)\s+done$")
_EARLIEST, _LATEST = time(8, 0), time(21, 0)  # TCPA hours: never outside 08:00-21:00
DEFAULT_WINDOW = SendWindow(time(9, 0), time(20, 0))
DEFAULT_GRACE = timedelta(hours=2)


def parse_offset(text: str) -> timedelta | None:
    """``"-2d"`` -> -2 days; ``"0"`` -> zero; None when malformed."""
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return timedelta(0)
    match = _OFFSET.match(text)
    if not match:
        return None
    sign, amount, unit = match.groups()
    value = int(amount) * _UNIT[unit]
    return -value if sign == "-" else value


def parse_hhmm(text: str) -> time | None:
    match = _HHMM.match(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


class _Reader:
    """Collects problems while reading one schedule file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, node: yaml.Node | None, message: str, step: str | None = None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(Problem(self.source, line, message, step))

    def scalar(self, node: yaml.Node, what: str, step: str | None = None) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self.fail(node, f"{what} must be a single value", step)
        return None

    def mapping(
        self, node: yaml.Node, what: str, step: str | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of fields", step)
            return {}
        fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            fields[str(key_node.value)] = (key_node, value_node)
        return fields


def parse_schedule(
    text: str, *, source: str, messages: Mapping[str, frozenset[Channel]] | None = None
) -> Schedule:
    """Parse and validate a schedule; raise ``ScheduleError`` listing every problem found.

    ``messages`` maps each known message key to the channels it has; when given, steps must
    point at an existing message that has every channel the step uses.
    """
    reader = _Reader(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        raise ScheduleError(
            [Problem(source, line, f"YAML syntax error: {error.problem}")]
        ) from None
    if root is None:
        raise ScheduleError([Problem(source, 1, "the file is empty")])
    schedule = _read_schedule(reader, root, messages)
    if reader.problems or schedule is None:
        raise ScheduleError(reader.problems)
    return schedule


def _read_schedule(
    r: _Reader, root: yaml.Node, messages: Mapping[str, frozenset[Channel]] | None
) -> Schedule | None:
    fields = r.mapping(root, "the schedule")
    for field_name, (key_node, _) in fields.items():
        if field_name not in _TOP_FIELDS:
            r.fail(
                key_node,
                f"unknown field '{field_name}' (expected one of: {', '.join(sorted(_TOP_FIELDS))})",
            )
    for required in ("name", "infusions", "steps"):
        if required not in fields and fields:
            r.fail(root, f"missing required field '{required}'")
    name = _read_name(r, fields)
    size = _read_size(r, fields)
    window = _read_window(r, fields)
    grace = _read_grace(r, fields)
    caps = _read_caps(r, fields)
    steps = _read_steps(r, fields, size, window, messages)
    if r.problems or name is None or size is None:
        return None
    title_node = fields.get("title", (None, None))[1]
    title = r.scalar(title_node, "title") if title_node is not None else name
    return Schedule(name, title or name, size, window, grace, tuple(steps), r.source, caps)


def _read_caps(r: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> Caps:
    """``caps: {sms_per_day: 1, sms_per_7_days: 3, email_per_day: 1}``; missing ones default."""
    if "caps" not in fields:
        return Caps()
    values: dict[str, int] = {}
    known = {f.name for f in fields_of(Caps)}
    for name, (key_node, value_node) in r.mapping(fields["caps"][1], "caps").items():
        value = r.scalar(value_node, f"caps {name}")
        if name not in known:
            r.fail(key_node, f"unknown cap '{name}' (expected one of: {', '.join(sorted(known))})")
        elif value is None or not value.isdigit() or not 1 <= int(value) <= 7:
            r.fail(value_node, f"caps {name} must be a whole number from 1 to 7, not '{value}'")
        else:
            values[name] = int(value)
    return Caps(**values)


def _read_name(r: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> str | None:
    if "name" not in fields:
        return None
    node = fields["name"][1]
    name = r.scalar(node, "name")
    if name is not None and not _SLUG.match(name):
        r.fail(node, f"name '{name}' must be lowercase letters, digits and dashes")
        return None
    return name


def _read_size(r: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> int | None:
    if "infusions" not in fields:
        return None
    node = fields["infusions"][1]
    value = r.scalar(node, "infusions")
    if value is None or not value.isdigit() or not 1 <= int(value) <= 20:
        r.fail(node, f"infusions must be a whole number from 1 to 20, not '{value}'")
        return None
    return int(value)


def _read_window(r: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> SendWindow:
    if "send_window" not in fields:
        return DEFAULT_WINDOW
    node = fields["send_window"][1]
    parts = r.mapping(node, "send_window")
    start = _read_time(r, parts, "start", "send_window start")
    end = _read_time(r, parts, "end", "send_window end")
    if start is None or end is None:
        return DEFAULT_WINDOW
    if start < _EARLIEST or end > _LATEST:
        r.fail(node, f"send_window {start:%H:%M}-{end:%H:%M} must lie within 08:00-21:00")
    elif _minutes(end) - _minutes(start) < 120:
        r.fail(node, f"send_window {start:%H:%M}-{end:%H:%M} must be at least two hours long")
    return SendWindow(start, end)


def _read_time(
    r: _Reader,
    parts: dict[str, tuple[yaml.Node, yaml.Node]],
    key: str,
    what: str,
    step: str | None = None,
) -> time | None:
    if key not in parts:
        r.fail(None, f"{what} is missing", step)
        return None
    node = parts[key][1]
    value = r.scalar(node, what, step)
    parsed = parse_hhmm(value) if value is not None else None
    if value is not None and parsed is None:
        r.fail(node, f"{what} '{value}' is not a time like \"09:30\" (24-hour HH:MM)", step)
    return parsed


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _read_grace(r: _Reader, fields: dict[str, tuple[yaml.Node, yaml.Node]]) -> timedelta:
    if "late_grace" not in fields:
        return DEFAULT_GRACE
    node = fields["late_grace"][1]
    value = r.scalar(node, "late_grace") or ""
    grace = parse_offset(value)
    if grace is None or grace < timedelta(0):
        r.fail(node, f"late_grace '{value}' must be a duration like 2h or 30m")
        return DEFAULT_GRACE
    return grace


def _read_steps(
    r: _Reader,
    fields: dict[str, tuple[yaml.Node, yaml.Node]],
    size: int | None,
    window: SendWindow,
    messages: Mapping[str, frozenset[Channel]] | None,
) -> list[Step]:
    if "steps" not in fields:
        return []
    node = fields["steps"][1]
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        r.fail(node, "steps must be a non-empty list")
        return []
    steps: list[Step] = []
    seen: set[str] = set()
    for step_node in node.value:
        reader = _StepReader(r, step_node, size, window, messages)
        step = reader.read()
        if reader.key in seen:
            r.fail(step_node, f"duplicate step key '{reader.key}'", reader.key)
        if reader.key:
            seen.add(reader.key)
        if step is not None:
            steps.append(step)
    return steps


class _StepReader:
    def __init__(
        self,
        r: _Reader,
        node: yaml.Node,
        size: int | None,
        window: SendWindow,
        messages: Mapping[str, frozenset[Channel]] | None,
    ) -> None:
        self.r, self.node, self.size, self.window, self.messages = r, node, size, window, messages
        self.fields = r.mapping(node, "a step")
        self.key: str | None = None

    def fail(self, node: yaml.Node | None, message: str) -> None:
        self.r.fail(node if node is not None else self.node, message, self.key)

    def value(self, name: str) -> tuple[yaml.Node, str] | None:
        if name not in self.fields:
            return None
        node = self.fields[name][1]
        text = self.r.scalar(node, name, self.key)
        return (node, text) if text is not None else None

    def read(self) -> Step | None:
        if not self.fields:
            return None
        before = len(self.r.problems)
        key = self._key()
        for name, (key_node, _) in self.fields.items():
            if name not in _STEP_FIELDS:
                self.fail(
                    key_node,
                    f"unknown field '{name}' (expected one of: {', '.join(sorted(_STEP_FIELDS))})",
                )
        for required in ("key", "anchor", "offset", "channels", "message"):
            if required not in self.fields:
                self.fail(None, f"missing required field '{required}'")
        anchor, offset, at = self._anchor(), self._offset(), self._at()
        channels, message, requires = self._channels(), self._message(), self._requires()
        if offset is not None and at is not None and offset % timedelta(days=1):
            self.fail(self.fields["at"][1], "'at' needs an offset in whole days or weeks")
        self._check_message_channels(message, channels)
        if len(self.r.problems) > before or None in (key, anchor, offset, message):
            return None
        line = self.node.start_mark.line + 1
        latest, priority, essential = self._latest(offset), self._priority(), self._essential()
        if len(self.r.problems) > before:
            return None
        return Step(
            key,  # type: ignore[arg-type]
            anchor,  # type: ignore[arg-type]
            offset,  # type: ignore[arg-type]
            at,
            channels,
            message,  # type: ignore[arg-type]
            requires,
            line,
            latest,
            priority,
            essential,
        )

    def _latest(self, offset: timedelta | None) -> timedelta | None:
        found = self.value("latest")
        if found is None:
            return None
        node, text = found
        latest = parse_offset(text)
        if latest is None:
            self.fail(node, f"malformed latest '{text}' (expected an offset like +2d or -3h)")
        elif offset is not None and latest < offset:
            self.fail(node, f"latest '{text}' is before the step's own offset")
        return latest

    def _priority(self) -> Priority:
        found = self.value("priority")
        if found is None:
            return Priority.NORMAL
        node, text = found
        if text.strip().upper() not in Priority.__members__:
            self.fail(node, f"unknown priority '{text}' (expected: high, normal, low)")
            return Priority.NORMAL
        return Priority[text.strip().upper()]

    def _essential(self) -> bool:
        found = self.value("essential")
        if found is None:
            return False
        node, text = found
        if text.strip().lower() not in ("true", "false"):
            self.fail(node, f"essential must be true or false, not '{text}'")
        return text.strip().lower() == "true"

    def _key(self) -> str | None:
        found = self.value("key")
        if found is None:
            return None
        node, key = found
        if not _SLUG.match(key):
            self.fail(node, f"step key '{key}' must be lowercase letters, digits and dashes")
            return None
        self.key = key
        return key

    def _infusion_number(self, node: yaml.Node, number: int) -> int | None:
        if number < 1 or (self.size is not None and number > self.size):
            self.fail(node, f"infusion {number} is outside the series (1 to {self.size})")
            return None
        return number

    def _anchor(self) -> Anchor | None:
        found = self.value("anchor")
        if found is None:
            return None
        node, text = found
        text = " ".join(text.split()).lower()
        if text == "enrollment":
            return Anchor(AnchorKind.ENROLLMENT)
        if text == "last infusion":
            return Anchor(AnchorKind.LAST_INFUSION)
        match = _ANCHOR_INFUSION.match(text)
        if match:
            number = self._infusion_number(node, int(match.group(1)))
            return Anchor(AnchorKind.INFUSION, number) if number else None
        self.fail(
            node, f"unknown anchor '{text}' (expected: enrollment, infusion N, last infusion)"
        )
        return None

    def _offset(self) -> timedelta | None:
        found = self.value("offset")
        if found is None:
            return None
        node, text = found
        offset = parse_offset(text)
        if offset is None:
            self.fail(
                node,
                f"malformed offset '{text}' (expected a signed number and unit: -2d, +1w, 3h, 90m)",
            )
        return offset

    def _at(self) -> time | None:
        found = self.value("at")
        if found is None:
            return None
        node, text = found
        at = parse_hhmm(text)
        if at is None:
            self.fail(node, f"'at' value '{text}' is not a time like \"18:00\" (24-hour HH:MM)")
        elif not self.window.start <= at < self.window.end:
            self.fail(
                node,
                f"'at' {at:%H:%M} is outside the send window "
                f"{self.window.start:%H:%M}-{self.window.end:%H:%M}",
            )
        return at

    def _channels(self) -> tuple[Channel, ...]:
        if "channels" not in self.fields:
            return ()
        node = self.fields["channels"][1]
        items = node.value if isinstance(node, yaml.SequenceNode) else None
        if not items:
            self.fail(node, "channels must be a non-empty list, e.g. [email, sms]")
            return ()
        channels: list[Channel] = []
        for item in items:
            name = str(item.value).strip().lower() if isinstance(item, yaml.ScalarNode) else ""
            if name not in {c.value for c in Channel}:
                self.fail(item, f"unknown channel '{name}' (expected: email, sms)")
            elif Channel(name) in channels:
                self.fail(item, f"channel '{name}' is listed twice")
            else:
                channels.append(Channel(name))
        return tuple(channels)

    def _message(self) -> str | None:
        found = self.value("message")
        if found is None:
            return None
        node, key = found
        if self.messages is not None and key not in self.messages:
            self.fail(node, f"unknown message '{key}' (no folder messages/{key}/)")
            return None
        return key

    def _requires(self) -> int | None:
        found = self.value("requires")
        if found is None:
            return None
        node, text = found
        match = _REQUIRES.match(" ".join(text.split()).lower())
        if not match:
            self.fail(node, f"malformed condition '{text}' (expected: infusion N done)")
            return None
        return self._infusion_number(node, int(match.group(1)))

    def _check_message_channels(self, message: str | None, channels: tuple[Channel, ...]) -> None:
        if self.messages is None or message is None or message not in self.messages:
            return
        for channel in channels:
            if channel not in self.messages[message]:
                file = "email.md" if channel is Channel.EMAIL else "sms.txt"
                self.fail(
                    self.fields["message"][1],
                    f"message '{message}' has no {channel.value} text (messages/{message}/{file})",
                )
