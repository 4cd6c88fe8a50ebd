"""PURE. What an inbound SMS asks for: crisis, opt-out (STOP), opt-in (START), HELP, or other.

Twilio's single-word lists (the whole message is the keyword) are matched case, space and
punctuation insensitively. Plain-language opt-outs ("stop texting me", "no more texts") count as
STOP too: since April 2025 the FCC requires honouring revocation "by any reasonable means".
Crisis wording (``crisis_phrases.txt``, whole words anywhere in the message) is checked
separately and wins over the rest for the reply; a message can be both crisis and STOP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    OTHER = "other"


@dataclass(frozen=True)
class Classification:
    """``crisis`` and ``keyword`` are independent: "STOP I want to die" is crisis and STOP."""

    crisis: bool
    keyword: Keyword

    @property
    def kind(self) -> str:
        """One label for storage and logs: crisis first, then the keyword."""
        return "crisis" if self.crisis else self.keyword.value


# Twilio's default single-word lists (Advanced Opt-Out uses the same).
SINGLE_WORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("start", "yes", "unstop"), Keyword.START),
    **dict.fromkeys(("help", "info"), Keyword.HELP),
}
# Plain-language revocations, matched against the whole normalised message.
_TEXTS = r"(texts?|texting|txts?|messages?|messaging|msgs?|sms|reminders?)"
_POLITE = r"(please|pls|plz|thanks|thank you|thx|now|it)"
_PLAIN_STOP = re.compile(
    "|".join(
        (
            rf"^({_POLITE} )*(stop|unsubscribe|optout|stopall)( {_POLITE})*$",
            rf"\bstop (texting|messaging|sending|contacting|txting|{_TEXTS})\b",
            rf"\bstop (the|these|your|all|all the|all these|all of the) {_TEXTS}\b",
            rf"\bno more {_TEXTS}\b",
            r"\bopt (me )?out\b",
            r"\bunsubscribe me\b",
            r"\b(remove|take) me (off|from)\b",
            r"\b(dont|do not|never) (text|message|contact|txt) me\b",
            rf"\b(do not|dont) want (any more |anymore |these |your )?{_TEXTS}\b",
        )
    )
)


def normalise(body: str) -> str:
    """Lower case, apostrophes dropped ("don't" -> "dont"), other punctuation as spaces, single
    spaces. Digits stay ("want 2 die")."""
    text = body.lower().replace("'", "").replace("\u2019", "").replace("`", "")
    return " ".join(re.sub(r"[^\w\s]|_", " ", text).split())


def parse_phrases(text: str) -> tuple[str, ...]:
    """The phrases in a phrase file: one a line, ``#`` comments and blank lines ignored,
    normalised like messages are."""
    lines = (line.split("#", 1)[0] for line in text.splitlines())
    return tuple(dict.fromkeys(p for p in map(normalise, lines) if p))


@cache
def crisis_phrases() -> tuple[str, ...]:
    """The reviewed list shipped with drip (``crisis_phrases.txt`` next to this module)."""
    return parse_phrases(resources.files(__package__).joinpath("crisis_phrases.txt").read_text())


@cache
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted((re.escape(p) for p in phrases), key=len, reverse=True)
    return re.compile(rf"\b({'|'.join(alternatives)})\b")


def is_crisis(body: str, phrases: tuple[str, ...] | None = None) -> bool:
    """True if any crisis phrase appears in ``body`` as whole words."""
    pattern = _phrase_pattern(crisis_phrases() if phrases is None else phrases)
    return pattern.search(normalise(body)) is not None


def keyword_of(body: str) -> Keyword:
    """The keyword family of a message: a single word from Twilio's lists, a plain-language
    opt-out, or OTHER."""
    text = normalise(body)
    single = SINGLE_WORDS.get(text.replace(" ", ""))
    if single is not None:
        return single
    return Keyword.STOP if _PLAIN_STOP.search(text) else Keyword.OTHER


# A crisis message that opens with one of these is also an opt-out ("STOP I want to die"): the
# patient asked us to stop, and the crisis reply is an answer, not a scheduled message. Not
# "end"/"quit"/"cancel": "end it all" and "quit my job" are not requests to stop texting.
_CRISIS_OPT_OUT_OPENERS = ("stop", "stopall", "unsubscribe", "optout")


def classify(body: str, phrases: tuple[str, ...] | None = None) -> Classification:
    """Crisis (by phrase) and keyword family of one inbound message."""
    crisis, keyword = is_crisis(body, phrases), keyword_of(body)
    first_word = normalise(body).partition(" ")[0]
    if crisis and keyword is Keyword.OTHER and first_word in _CRISIS_OPT_OUT_OPENERS:
        keyword = Keyword.STOP
    return Classification(crisis, keyword)
