"""The regex fallback: a lexicon scorer that needs no model.

When the text ensemble fails, times out or sheds load, the ingress still owes an answer. This
scorer gives one from a short English lexicon (``lexicon.txt``, whose header documents the
format) compiled with RE2, so its cost stays linear in the text whatever the input. Every
signal it returns is marked ``degraded``: it knows words, not meaning.

Scores: each match of a term counts its weight (1 unless the lexicon says otherwise); a
category with ``m`` weighted matches scores ``min(0.95, 1 - 0.5 ** m)``: one match 0.5, two
0.75, three 0.875, never full certainty. ``toxicity`` counts its own terms plus every insult,
identity-attack and threat match and half of each profanity match, because those are what
make a post toxic in the labelled data this stands in for.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2

from deployments.normalize import match_form
from deployments.signals import TEXT_CATEGORIES, CategoryInfo, Signal

LEXICON_PATH = Path(__file__).with_name("lexicon.txt")
ANALYZER = "fallback"
MAX_SCORE = 0.95
# Between letters of a term: a few non-word characters ("f.u.c.k", "f u c k", "f_u_c_k").
SEPARATOR = r"[\W_]{0,3}"
# What else adds to toxicity, and how much each match counts there.
TOXICITY_SOURCES = {"insult": 1.0, "identity_attack": 1.0, "threat": 1.0, "profanity": 0.5}

DESCRIPTIONS = {
    "toxicity": "hostile terms, plus insult, identity-attack, threat and profanity matches",
    "insult": "a short list of English insults",
    "profanity": "a short list of English swear words",
    "identity_attack": "English slurs and dehumanising statements about a group",
    "threat": "English threat phrases ('i will kill you', 'you should die')",
    "self_harm": "English phrases about hurting or killing oneself",
    "sexual": "English sexually explicit terms",
    "spam": "promotional phrases, link shorteners and repeated links",
}

class LexiconError(ValueError):
    """The lexicon file is malformed; the message names the line."""


def term_pattern(term: str) -> str:
    """RE2 source for one term: whole word, separators between letters, repeats allowed.

    A run of ``n`` equal letters matches ``n`` or more of them (so "stuuupid" matches "stupid"
    while "ass" still needs two s and never matches "as").
    """
    prefix = term.endswith("*")
    words = "".join(ch if ch.isalnum() else " " for ch in match_form(term.rstrip("*"))).split()
    if not words:
        raise LexiconError(f"term {term!r} has no letters")
    body = SEPARATOR.join(_letters(word) for word in words)
    return rf"\b{body}\w*" if prefix else rf"\b{body}(?:e?s)?\b"


def _letters(word: str) -> str:
    parts, i = [], 0
    while i < len(word):
        run = len(word) - i - len(word[i:].lstrip(word[i]))
        letter = re2.escape(word[i])
        parts.append(rf"{letter}(?:{SEPARATOR}{letter}){{{run - 1},}}")
        i += run
    return SEPARATOR.join(parts)


@dataclass(frozen=True)
class LexiconEntry:
    category: str
    pattern: str
    weight: float
    line: int


def parse_lexicon(text: str) -> list[LexiconEntry]:
    """Read the lexicon format described at the top of ``lexicon.txt``."""
    entries: list[LexiconEntry] = []
    macros: dict[str, str] = {}
    category: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            name, _, value = line[1:].partition("=")
            macros[name.strip()] = value.strip()
        elif line.startswith("[") and line.endswith("]"):
            category = _section(line[1:-1].strip(), number)
        elif category is None:
            raise LexiconError(f"line {number}: term before any [category] section")
        else:
            entries.append(_entry(category, line, macros, number))
    return entries


def _section(name: str, number: int) -> str:
    if name not in DESCRIPTIONS:
        raise LexiconError(f"line {number}: no description for category {name!r}")
    return name


def _entry(category: str, line: str, macros: dict[str, str], number: int) -> LexiconEntry:
    body, marker, weight_text = line.rpartition(" weight=")
    if not marker:
        body, weight_text = line, "1"
    try:
        weight = float(weight_text)
    except ValueError:
        raise LexiconError(f"line {number}: bad weight {weight_text!r}") from None
    body = body.strip()
    if body.startswith("re:"):
        pattern = body[3:]
        for name, value in macros.items():
            pattern = pattern.replace(f"%{name}%", value)
    else:
        pattern = term_pattern(body)
    try:
        re2.compile(pattern)
    except re2.error as exc:
        raise LexiconError(f"line {number}: {exc}") from None
    return LexiconEntry(category, pattern, weight, number)


class RegexScorer:
    """Scores texts against the lexicon; the model-free stand-in for the text ensemble."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        text = lexicon_path.read_text(encoding="utf-8")
        self.version = "lexicon-" + hashlib.sha256(text.encode()).hexdigest()[:12]
        entries = parse_lexicon(text)
        self._covered = [c for c in TEXT_CATEGORIES if c in {e.category for e in entries}]
        if "toxicity" not in self._covered:
            self._covered.insert(0, "toxicity")
        self._groups = _compile_groups(entries)

    def categories(self) -> list[CategoryInfo]:
        return [CategoryInfo(name, "text", "lexicon", DESCRIPTIONS[name]) for name in self._covered]

    def score(self, texts: Sequence[str]) -> list[Signal]:
        return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> Signal:
        matches = self._matches(match_form(text))
        matches["toxicity"] = matches.get("toxicity", 0.0) + sum(
            weight * matches.get(category, 0.0) for category, weight in TOXICITY_SOURCES.items()
        )
        return Signal(
            analyzer=ANALYZER,
            modality="text",
            model_version=self.version,
            scores={c: _score(matches.get(c, 0.0)) for c in self._covered},
            details={"lexicon": {c: m for c, m in matches.items() if m}},
            degraded=True,
        )

    def _matches(self, folded: str) -> dict[str, float]:
        """Weighted match counts per category (within one group, matches never overlap)."""
        counts: dict[str, float] = {}
        for category, weight, regex in self._groups:
            found = sum(1 for _ in regex.finditer(folded))
            if found:
                counts[category] = counts.get(category, 0.0) + weight * found
        return counts


def _score(matches: float) -> float:
    return round(min(MAX_SCORE, 1.0 - math.pow(0.5, matches)), 4)


def _compile_groups(entries: Iterable[LexiconEntry]) -> list[tuple[str, float, Any]]:
    """One RE2 alternation per (category, weight), so a phrase listed twice counts once."""
    grouped: dict[tuple[str, float], list[str]] = {}
    for entry in entries:
        grouped.setdefault((entry.category, entry.weight), []).append(f"(?:{entry.pattern})")
    options = re2.Options()
    options.max_mem = 64 << 20
    return [
        (category, weight, re2.compile("|".join(patterns), options))
        for (category, weight), patterns in grouped.items()
    ]
