"""Obfuscated copies of validation texts, made the way abusers disguise words from moderation.

Why: a moderation model is only as good as its worst spelling. This generator rewrites the
words a label rests on with the tricks seen in the wild — "f u c k", "st.upid", "k1ll",
"1d10t", Cyrillic "ѕtupid", zero-width and combining characters, "stuuupid", fullwidth and
mathematical letters, and mixes of these — so evaluation can report recall on the obfuscated
copy divided by recall on the clean text.

Which words are rewritten: the (at most two) most *salient* words of the text — those whose
document frequency among the positives of one of the text's positive categories is at least
``MIN_LOG_ODDS`` (e², ≈7×, after correcting for class sizes) that among the negatives, on the
training split (``salient_words``). That is what an abuser does (disguise the slur, not
"the"), and it is model-independent, so a before/after comparison of two models runs on the
same obfuscated texts. Disguising every word of 3+ letters at random instead would mostly hit
words the label does not rest on and flatter the model. Being learned from data, salience
also picks some set artefacts (e.g. "Ive" in suicide tweets), which makes those texts easier.
Only texts with at least one salient word are used; texts whose label rests on no single word
(implicit hate) say nothing about obfuscation. Seeded: the same seed gives the same variants.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

MIN_LOG_ODDS = 2.0  # salient: ≥ e² ≈ 7× as frequent (by documents) in positives as in negatives
MIN_POSITIVE_DOCS = 4  # ...and seen in at least this many positive texts
MAX_WORDS_PER_TEXT = 2  # disguise the two most telling words, as a person typing would

_ALPHA_WORD = re.compile(r"[^\W\d_]{3,}")  # salient words are words of 3+ letters

# --- the transforms: one word in, its disguised spelling out ---------------------------------

_LEET = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7"}  # not l→1: 1 reads i
# Cyrillic and Greek letters that look like Latin ones (a subset of what abusers use).
_HOMOGLYPH = {
    "a": "аα", "c": "с", "d": "ԁ", "e": "е", "h": "һ", "i": "іι", "j": "ј", "k": "κ",
    "l": "ӏ", "o": "оο", "p": "рρ", "s": "ѕ", "u": "υ", "v": "ν", "x": "хχ", "y": "уγ",
    "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "I": "ІΙ", "K": "КΚ", "M": "МΜ",
    "O": "ОΟ", "P": "РΡ", "T": "ТΤ", "X": "ХΧ", "Y": "ҮΥ",
}
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_COMBINING = [chr(c) for c in range(0x0300, 0x0370)]
# Fullwidth letters and some Unicode mathematical alphabets (bold, italic, script, fraktur,
# double-struck, sans-serif, monospace): offsets of their capital A from "A".
_WIDE_ALPHABETS = (0xFF21, 0x1D400, 0x1D434, 0x1D4D0, 0x1D56C, 0x1D5A0, 0x1D670)
_SPACERS = (" ", ".", "-", "_", "*", " . ")
_INNER = ".*_~·"


def _positions(word: str, rng: random.Random, ok: Callable[[str], bool], share: float) -> set[int]:
    """At least one (if any qualify), otherwise each qualifying position with ``share``."""
    cands = [i for i, ch in enumerate(word) if ok(ch)]
    if not cands:
        return set()
    chosen = {i for i in cands if rng.random() < share}
    return chosen or {rng.choice(cands)}


def spaced(word: str, rng: random.Random) -> str:
    """"f u c k", "s.t.u.p.i.d", "k-i-l-l": one separator between every letter."""
    return rng.choice(_SPACERS).join(word)


def inner_punct(word: str, rng: random.Random) -> str:
    """"st.upid", "id*iot": one punctuation mark inside the word."""
    cut = rng.randrange(1, len(word))
    return word[:cut] + rng.choice(_INNER) + word[cut:]


def leet(word: str, rng: random.Random) -> str:
    """"k1ll", "1d10t", "$hit": digits and symbols for letters they resemble."""
    at = _positions(word, rng, lambda ch: ch.lower() in _LEET, 0.6)
    return "".join(rng.choice(_LEET[ch.lower()]) if i in at else ch for i, ch in enumerate(word))


def homoglyph(word: str, rng: random.Random) -> str:
    """"ѕtupid", "іdіot": Cyrillic and Greek letters that look Latin."""
    at = _positions(word, rng, lambda ch: ch in _HOMOGLYPH, 0.5)
    return "".join(rng.choice(_HOMOGLYPH[ch]) if i in at else ch for i, ch in enumerate(word))


def zero_width(word: str, rng: random.Random) -> str:
    """Invisible characters (zero-width space/joiners, word joiner, BOM, soft hyphen) inside."""
    inside = _positions(word[1:], rng, lambda _: True, 0.5)
    mark = rng.choice(_ZERO_WIDTH)
    return word[0] + "".join(mark + ch if i in inside else ch for i, ch in enumerate(word[1:]))


def combining(word: str, rng: random.Random) -> str:
    """Combining diacritics on some letters: one mark ("fúck") or a zalgo stack of 2-4."""
    at = _positions(word, rng, str.isalpha, 0.5)
    stack = rng.choice((1, 1, 2, 3, 4))
    return "".join(
        ch + "".join(rng.choice(_COMBINING) for _ in range(stack)) if i in at else ch
        for i, ch in enumerate(word)
    )


def repeat(word: str, rng: random.Random) -> str:
    """"stuuupid", "fuuuuck": one or two letters held down for 3-6 characters."""
    at = _positions(word, rng, str.isalpha, 0.2)
    return "".join(ch * rng.randint(3, 6) if i in at else ch for i, ch in enumerate(word))


def wide(word: str, rng: random.Random) -> str:
    """Fullwidth or mathematical letters ("ｆｕｃｋ", "𝐟𝐮𝐜𝐤") for the whole word."""
    base = rng.choice(_WIDE_ALPHABETS)
    lower = base + (0x20 if base == 0xFF21 else 26)

    def one(ch: str) -> str:
        if "A" <= ch <= "Z":
            cp = base + ord(ch) - ord("A")
        elif "a" <= ch <= "z":
            cp = lower + ord(ch) - ord("a")
        else:
            return ch
        return chr(cp) if chr(cp).isprintable() and chr(cp).isalpha() else ch  # holes: ℎ, ℭ

    return "".join(one(ch) for ch in word)


Transform = Callable[[str, random.Random], str]
TRANSFORMS: dict[str, Transform] = {
    "spaced": spaced,
    "inner_punct": inner_punct,
    "leet": leet,
    "homoglyph": homoglyph,
    "zero_width": zero_width,
    "combining": combining,
    "repeat": repeat,
    "wide": wide,
}
# Mixes apply a letter substitution first, then an insertion, as people combine them.
_SUBSTITUTIONS = ("leet", "homoglyph", "wide")
_INSERTIONS = ("spaced", "inner_punct", "zero_width", "combining", "repeat")


def mix(word: str, rng: random.Random) -> str:
    """"k 1 l l", "ѕt.upid", "іdііiot": one substitution and one insertion."""
    first = TRANSFORMS[rng.choice(_SUBSTITUTIONS)](word, rng)
    return TRANSFORMS[rng.choice(_INSERTIONS)](first, rng)


ALL_TRANSFORMS: dict[str, Transform] = {**TRANSFORMS, "mix": mix}


# --- which words: salience from the training split --------------------------------------------


def _doc_words(text: str) -> set[str]:
    return {w.lower() for w in _ALPHA_WORD.findall(text)}


def salient_words(
    rows: Iterable[tuple[str, Mapping[str, float]]],
    min_log_odds: float = MIN_LOG_ODDS,
    min_positive_docs: int = MIN_POSITIVE_DOCS,
) -> dict[str, dict[str, float]]:
    """Per category, ``word -> smoothed log-odds`` for the words that carry its positive label.

    ``rows`` are (text, labels) from the training split. Document frequencies with add-one
    smoothing; only rows whose set labels the category count.
    """
    pos: dict[str, Counter[str]] = {}
    neg: dict[str, Counter[str]] = {}
    n_pos: Counter[str] = Counter()
    n_neg: Counter[str] = Counter()
    for text, labels in rows:
        words = _doc_words(text)
        for cat, value in labels.items():
            if value >= 0.5:
                pos.setdefault(cat, Counter()).update(words)
                n_pos[cat] += 1
            else:
                neg.setdefault(cat, Counter()).update(words)
                n_neg[cat] += 1
    table: dict[str, dict[str, float]] = {}
    for cat, counts in pos.items():
        negatives = neg.get(cat, Counter())
        scale = math.log((n_neg[cat] + 2) / (n_pos[cat] + 2))
        table[cat] = {
            w: round(odds, 3)
            for w, c in counts.items()
            if c >= min_positive_docs
            and (odds := math.log((c + 1) / (negatives[w] + 1)) + scale) >= min_log_odds
        }
    return table


def pick_words(
    text: str, categories: Sequence[str], salience: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """The (at most ``MAX_WORDS_PER_TEXT``) most telling words of ``text`` for ``categories``."""
    best: dict[str, float] = {}
    for word in set(_ALPHA_WORD.findall(text)):
        score = max((salience.get(c, {}).get(word.lower(), -math.inf) for c in categories),
                    default=-math.inf)
        if score > -math.inf:
            best[word] = score
    return sorted(best, key=lambda w: (-best[w], w))[:MAX_WORDS_PER_TEXT]


def obfuscate(text: str, words: Sequence[str], transform: Transform, rng: random.Random) -> str:
    """``text`` with every whole-word occurrence of ``words`` disguised by ``transform``."""
    if not words:
        return text
    alternatives = "|".join(map(re.escape, words))
    pattern = re.compile(rf"(?<![^\W\d_])(?:{alternatives})(?![^\W\d_])")
    return pattern.sub(lambda m: transform(m.group(), rng), text)


@dataclass(frozen=True)
class Variant:
    """One obfuscated copy of one text: which transform, which words."""

    index: int  # of the clean text in the sample
    transform: str
    words: tuple[str, ...]
    text: str


def variants(
    texts: Sequence[str],
    categories: Sequence[Sequence[str]],
    salience: Mapping[str, Mapping[str, float]],
    transforms: Sequence[str] = tuple(ALL_TRANSFORMS),
    seed: int = 13,
) -> list[Variant]:
    """Every text (with a salient word) under every transform; ``categories[i]`` are text i's
    positive categories. Seeded per (seed, text, transform), so adding texts changes nothing."""
    out: list[Variant] = []
    for i, (text, cats) in enumerate(zip(texts, categories, strict=True)):
        words = tuple(pick_words(text, cats, salience))
        if not words:
            continue
        for name in transforms:
            rng = random.Random(f"{seed}/{name}/{text}")
            out.append(Variant(i, name, words, obfuscate(text, words, ALL_TRANSFORMS[name], rng)))
    return out
