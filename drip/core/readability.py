"""PURE. Word counts and a Flesch-Kincaid reading grade for short English emails.

A simple heuristic (vowel groups for syllables), good enough to tell plain words from hard ones;
the guardrails use it as a warning, never to refuse a message.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’%-]*")


def words(text: str) -> list[str]:
    """The words of a text: letters and digits, with inner apostrophes, % and hyphens."""
    return _WORD.findall(text)


def syllables(word: str) -> int:
    """A rough English syllable count: vowel groups, less a silent final -e or -ed."""
    word = word.lower().replace("’", "'").strip("'")
    if word.endswith("'s"):
        word = word[:-2]
    groups = len(re.findall(r"[aeiouy]+", word))
    silent_e = word.endswith("e") and not word.endswith(("le", "ee", "ye")) and len(word) > 2
    silent_ed = word.endswith("ed") and not word.endswith(("ted", "ded"))
    if (silent_e or silent_ed) and groups > 1:
        groups -= 1
    return max(1, groups)


def sentences(markdown: str) -> list[str]:
    """Sentences of a Markdown body: a paragraph or list item ends one; so do . ! ? (not a colon).

    Template variables count as one short word each.
    """
    text = re.sub(r"\{\{[^}]*\}\}", "Alex", markdown).replace("**", "")
    blocks = [b.strip() for b in re.split(r"\n\s*\n|\n(?=\s*- )", text) if b.strip()]
    found = []
    for block in blocks:
        block = re.sub(r"^\s*- ", "", " ".join(block.split()))
        found += [s for s in re.split(r"(?<=[.!?])[\"”]?\s+", block) if words(s)]
    return found


def fk_grade(markdown: str) -> float:
    """Flesch-Kincaid grade level: 0.39 words/sentence + 11.8 syllables/word - 15.59."""
    found = sentences(markdown)
    all_words = [w for s in found for w in words(s)]
    if not all_words:
        return 0.0
    per_sentence = len(all_words) / len(found)
    per_word = sum(map(syllables, all_words)) / len(all_words)
    return 0.39 * per_sentence + 11.8 * per_word - 15.59


def prose(email_body: str) -> str:
    """The body without a "Hi name," greeting line and a "{{ clinic_name }}" sign-off line,
    which are not sentences and would skew the grade."""
    lines = email_body.strip().splitlines()
    if lines and lines[0].startswith("Hi "):
        lines = lines[1:]
    if lines and lines[-1].strip() == "{{ clinic_name }}":
        lines = lines[:-1]
    return "\n".join(lines)
