"""What every reader shares: the row and example types, file reading, cleaning and the split key.

A reader turns one set's files into ``Row``s; cleaning, merging and splitting happen once, in
``loading.py``, with the functions here, so every set is cleaned and keyed the same way.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

Split = Literal["train", "validation"]
VALIDATION_SHARE = 0.15
HASH = "15% hash"
NO_LICENCE = "none stated: research use, check before external use"

csv.field_size_limit(2**31 - 1)  # C-SSRS packs a user's posts into one ~32k-character cell


@dataclass(frozen=True)
class Example:
    """One labelled text; ``labels`` holds only the categories its set really labels."""

    text: str
    source: str
    language: str
    split: Split
    labels: Mapping[str, float]
    handmade: bool = False  # written by hand to fix the model: trained on, never evaluated


def labelled_by_set(examples: Iterable[Example]) -> dict[str, set[str]]:
    """Each set's categories: every category any of its rows among ``examples`` labels."""
    labelled: dict[str, set[str]] = {}
    for e in examples:
        labelled.setdefault(e.source, set()).update(e.labels)
    return labelled


class Row(NamedTuple):
    """One text as a loader reads it, before cleaning, merging and splitting."""

    text: str
    labels: dict[str, float]
    language: str
    subset: str = ""
    split: Split | None = None  # the set's official split, when the copy has one


@dataclass(frozen=True)
class Loader:
    """How one set becomes rows, with the documentation of that mapping (see docs/labels.md)."""

    read: Callable[[Path], Iterable[Row]]
    language: str
    rule: str
    validation: str
    licence: str

    @property
    def official(self) -> bool:
        return self.validation.startswith("official")


# --- reading -------------------------------------------------------------------------------


def cells(path: Path, delimiter: str = ",", quoted: bool = True) -> Iterator[list[str]]:
    """Rows of a gzipped CSV/TSV; ``quoted=False`` for files whose texts hold bare quotes."""
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
        if quoted:
            yield from csv.reader(fh, delimiter=delimiter)
        else:
            yield from csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE)


def records(path: Path, delimiter: str = ",", quoted: bool = True) -> Iterator[dict[str, str]]:
    rows = cells(path, delimiter, quoted)
    header = next(rows)
    for row in rows:
        yield dict(zip(header, row, strict=False))


def tsv(path: Path) -> Iterator[dict[str, str]]:
    """Tab-separated files whose texts contain bare quote characters (no CSV quoting)."""
    return records(path, "\t", quoted=False)


def read_json(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def unquote(text: str) -> str:
    """Undo CSV quoting that some rows of an otherwise unquoted TSV carry (``"a ""b"" c"``)."""
    if len(text) > 1 and text[0] == text[-1] == '"' and '"' not in text[1:-1].replace('""', ""):
        return text[1:-1].replace('""', '"')
    return text


# --- cleaning and keys ---------------------------------------------------------------------

_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});")
_REDDIT_USER = re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{3,20}")
_LINE_BREAK = re.compile(r"\r\n?|\|LBR\||<LF>")  # GermEval writes |LBR|, OffensEval ar <LF>
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")  # the same on case-folded ASCII, and faster
_PLACEHOLDERS = frozenset({"user", "url", "number"})


def clean(text: str) -> str:
    """Minimal cleaning shared by all sets: entities, line breaks, Reddit user names, edges."""
    for _ in range(2):  # some texts were escaped twice ("&amp;#9773;")
        if "&" in text:
            text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    if "u/" in text:
        text = _REDDIT_USER.sub("u/user", text)
    if "\r" in text or "|LBR|" in text or "<LF>" in text:
        text = _LINE_BREAK.sub("\n", text)
    return text.replace("\ufeff", "").strip()


def text_key(text: str) -> str:
    """The normalised form that defines "the same text" for duplicates and for the split.

    Case, punctuation, spacing and the sets' user/URL placeholders do not count, so a tweet
    and its anonymised copy in another set share a key. Empty for texts with no content.
    """
    if text.isascii():
        folded = text.lower()
        words = _ASCII_WORD.findall(folded)
    else:
        folded = unicodedata.normalize("NFKC", text).casefold()
        words = _WORD.findall(folded)
    if "user" in folded or "url" in folded or "number" in folded:
        words = [w for w in words if w not in _PLACEHOLDERS]
    if words:
        return " ".join(words)
    return "".join(ch for ch in folded if not ch.isspace() and not ch.isascii())  # emoji-only


def hash_split(key: str) -> Split:
    """A stable 15% validation draw (blake2b, not ``hash()``, so it holds across processes)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return "validation" if int.from_bytes(digest, "big") < VALIDATION_SHARE * 2**64 else "train"


# --- small label helpers -------------------------------------------------------------------


def flag(value: bool) -> float:
    return 1.0 if value else 0.0


def official_split(value: str, validation: str) -> Split:
    """The split of a row whose set calls its validation split ``validation``."""
    return "validation" if value == validation else "train"


def hate(is_hate: bool) -> dict[str, float]:
    """Hate-speech sets: hate is a toxic identity attack; "not hate" can still be offensive."""
    return {"identity_attack": 1.0, "toxicity": 1.0} if is_hate else {"identity_attack": 0.0}


def majority(yes: int, voters: int) -> float | None:
    """1 if a strict majority said yes, 0 if a strict majority did not, None on a tie."""
    if voters == 0 or 2 * yes == voters:
        return None  # no raters or a tie: unknown
    return flag(2 * yes > voters)
