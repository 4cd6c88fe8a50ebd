"""PURE. Exact SMS segment counting and splitting (GSM 03.38 / UCS-2).

GSM-7: 160 septets in one segment, 153 per part when concatenated; the extension characters
``^ { } \\ [ ] ~ | €`` and form feed take two septets (escape + char) and are never split.
Anything outside GSM-7 sends the whole message as UCS-2: 70 UTF-16 code units in one segment,
67 per part; a character outside the BMP (most emoji) is a surrogate pair, two units, never split.
An empty text is one (empty) segment: carriers bill a message, not its length.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[]~|€\f")

_GSM7 = GSM7_BASIC | GSM7_EXTENSION
_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsSegments:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def encoding_of(text: str) -> str:
    """ "GSM-7" when every character is in the GSM 03.38 basic or extension table."""
    return "GSM-7" if _GSM7.issuperset(text) else "UCS-2"


def unit_cost(char: str, encoding: str) -> int:
    """Septets or UTF-16 code units one character takes."""
    if encoding == "GSM-7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def split_segments(text: str) -> list[str]:
    """The parts the text is sent as; joining them gives the text back."""
    encoding = encoding_of(text)
    single, per_part = _LIMITS[encoding]
    costs = [unit_cost(c, encoding) for c in text]
    if sum(costs) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char, cost in zip(text, costs, strict=True):
        if used + cost > per_part:  # a two-unit character moves whole to the next part
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost
    parts.append("".join(current))
    return parts


def count_segments(text: str) -> SmsSegments:
    encoding = encoding_of(text)
    if encoding == "GSM-7":
        units = len(text) + sum(text.count(c) for c in GSM7_EXTENSION)
    else:
        units = len(text.encode("utf-16-le", "surrogatepass")) // 2  # code units
    fits_one = units <= _LIMITS[encoding][0]
    return SmsSegments(encoding, units, 1 if fits_one else len(split_segments(text)))
