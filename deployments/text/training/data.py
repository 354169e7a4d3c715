"""The labelled training data of the text model: one loader per public set in ``../shared/data``.

Why this module exists: every public moderation set labels a different slice of harm with its
own scheme, so training one multi-label model on all of them needs a single, reviewed map from
each scheme onto the native categories of ``deployments/signals.py``. A set only carries a label
for a category it really says something about; everything else stays unknown (absent), never
"missing means negative". The map is documented row by row in ``LABELS.md`` (rendered from
``label_table()``, and a test keeps the two in step).

The validation split is fixed here too, so every trainer and evaluator sees the same held-out
rows: a set's official validation split where the copy has one, otherwise a stable 15% hash of
the normalised text. Splits are decided per text, not per row, and agree across sets: a text
in any official validation split is validation in every set, a text in an official train split
is train in every set, and every other text falls on the same side of the hash wherever it
appears. Within one set, duplicate texts are merged and their labels averaged.

``Example.text`` is the set's text cleaned minimally (HTML entities, wrappers, Reddit user
names); obfuscation handling is ``normalize.py``'s job, applied by the trainer as at serving.
Reading uses only the standard library, so the package does not depend on pandas.
"""

from __future__ import annotations

import ast
import csv
import gc
import gzip
import hashlib
import html
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal, NamedTuple

Split = Literal["train", "validation"]
VALIDATION_SHARE = 0.15

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


class Row(NamedTuple):
    """One text as a loader reads it, before cleaning, merging and splitting."""

    text: str
    labels: dict[str, float]
    language: str
    subset: str = ""
    split: Split | None = None  # the set's official split, when the copy has one


@dataclass(frozen=True)
class Loader:
    """How one set becomes rows, with the documentation of that mapping (see LABELS.md)."""

    read: Callable[[Path], Iterable[Row]]
    language: str
    rule: str
    validation: str
    licence: str

    @property
    def official(self) -> bool:
        return self.validation.startswith("official")


# --- reading -------------------------------------------------------------------------------


def _cells(path: Path, delimiter: str = ",", quoted: bool = True) -> Iterator[list[str]]:
    """Rows of a gzipped CSV/TSV; ``quoted=False`` for files whose texts hold bare quotes."""
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as fh:
        if quoted:
            yield from csv.reader(fh, delimiter=delimiter)
        else:
            yield from csv.reader(fh, delimiter=delimiter, quoting=csv.QUOTE_NONE)


def _records(path: Path, delimiter: str = ",", quoted: bool = True) -> Iterator[dict[str, str]]:
    rows = _cells(path, delimiter, quoted)
    header = next(rows)
    for cells in rows:
        yield dict(zip(header, cells, strict=False))


def _tsv(path: Path) -> Iterator[dict[str, str]]:
    """Tab-separated files whose texts contain bare quote characters (no CSV quoting)."""
    return _records(path, "\t", quoted=False)


def _unquote(text: str) -> str:
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


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _split(value: str, validation: str) -> Split:
    return "validation" if value == validation else "train"


def _hate(is_hate: bool) -> dict[str, float]:
    """Hate-speech sets: hate is a toxic identity attack; "not hate" can still be offensive."""
    return {"identity_attack": 1.0, "toxicity": 1.0} if is_hate else {"identity_attack": 0.0}


# --- one reader per set --------------------------------------------------------------------


def _davidson(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "labeled_data.csv.gz"):
        cls = r["class"]  # 0 hate, 1 offensive, 2 neither (coder majority)
        labels = {"toxicity": _flag(cls != "2"), "identity_attack": _flag(cls == "0")}
        yield Row(r["tweet"], labels, "en")


def _hatexplain(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "hatexplain_train_val.csv.gz"):
        labels = {"toxicity": _flag(r["label_binary"] == "toxic")}
        if r["label"]:
            labels["identity_attack"] = _flag(r["label"] == "hatespeech")
        yield Row(r["text"], labels, "en", split=_split(r["split"], "val"))


def _bytes_literal(text: str) -> str:
    """ToxiGen stores texts as Python bytes literals (``b'...'``)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.removeprefix("b'").removesuffix("'")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _toxigen(folder: Path) -> Iterator[Row]:
    lewd = {"contains lewd content": 1.0, "doesn't contain lewd content": 0.0}
    for r in _records(folder / "toxigen_annotated_train.csv.gz"):
        labels: dict[str, float] = {}
        human = float(r["toxicity_human"])  # mean of 3 ratings on 1..5; 3.0 is undecided
        if human != 3.0:
            labels["toxicity"] = labels["identity_attack"] = _flag(human > 3.0)
        if r["lewd"] in lewd:
            labels["sexual"] = lewd[r["lewd"]]
        yield Row(_bytes_literal(r["text"]), labels, "en")


def _tweeteval(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "tweeteval_hate_offensive_train_val.csv.gz"):
        if r["task"] != "hate":
            continue  # the offensive task is OLID level A: read with OLID's B/C labels
        yield Row(r["text"], _hate(r["label"] == "1"), "en", split=_split(r["split"], "val"))


def _ethos(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "Ethos_Dataset_Binary.csv.gz", ";"):
        yield Row(r["comment"], _hate(float(r["isHate"]) >= 0.5), "en")
    for r in _records(folder / "Ethos_Dataset_Multi_Label.csv.gz", ";"):  # the hateful ones
        labels = _hate(True) | {"violence": _flag(float(r["violence"]) >= 0.5)}
        yield Row(r["comment"], labels, "en")


def _stormfront(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "stormfront_annotations_with_text.csv.gz"):
        if r["label"] in ("hate", "noHate"):  # "relation" is hate only in context
            yield Row(r["text"], _hate(r["label"] == "hate"), "en")


def _mlma(folder: Path) -> Iterator[Row]:
    for lang in ("en", "fr", "ar"):
        for r in _records(folder / f"{lang}_dataset.csv.gz"):
            kinds = set(r["sentiment"].split("_"))
            labels = {"toxicity": _flag(kinds != {"normal"})}
            if kinds == {"normal"} or "hateful" in kinds:
                labels["identity_attack"] = _flag("hateful" in kinds)
            yield Row(r["tweet"], labels, lang, subset=lang)


def _germeval2018(folder: Path) -> Iterator[Row]:
    fine_map = {"INSULT": "insult", "PROFANITY": "profanity", "ABUSE": "identity_attack"}
    for text, coarse, fine in _cells(folder / "germeval2018.training.tsv.gz", "\t", False):
        if coarse == "OTHER":
            labels = dict.fromkeys(("toxicity", "insult", "profanity", "identity_attack"), 0.0)
        else:
            labels = {"toxicity": 1.0, fine_map[fine]: 1.0}
        yield Row(text, labels, "de")


def _portuguese(folder: Path) -> Iterator[Row]:
    name = "2019-05-28_portuguese_hate_speech_binary_classification.csv.gz"
    for r in _records(folder / name):
        yield Row(r["text"], _hate(r["hatespeech_comb"] == "1"), "pt")


def _post_list(cell: str) -> list[str]:
    """A stringified Python list; some cells were cut at 32,759 characters mid-post."""
    try:
        return [str(p) for p in ast.literal_eval(cell)]
    except (ValueError, SyntaxError):
        cut = max(cell.rfind("', "), cell.rfind('", '))
        return _post_list(cell[: cut + 1] + "]") if cut > 0 else []


def _cssrs(folder: Path) -> Iterator[Row]:
    risk = {"Supportive": 0.0, "Ideation": 1.0, "Behavior": 1.0, "Attempt": 1.0}
    for r in _records(folder / "500_Reddit_users_posts_labels.csv.gz"):
        if r["Label"] in risk:  # "Indicator" (risk signs, no ideation stated) stays unknown
            yield Row("\n\n".join(_post_list(r["Post"])), {"self_harm": risk[r["Label"]]}, "en")


def _sms_spam(folder: Path) -> Iterator[Row]:
    for label, text in _cells(folder / "SMSSpamCollection.tsv.gz", "\t", False):
        yield Row(text, {"spam": _flag(label == "spam")}, "en")


def _youtube_spam(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "youtube_spam_collection.csv.gz"):  # AUTHOR is not used
        yield Row(r["CONTENT"], {"spam": _flag(r["label"] == "1")}, "en")


def _tweeteval_offensive_splits(folder: Path) -> dict[str, Split]:
    splits: dict[str, Split] = {}
    for r in _records(folder / "tweeteval_hate_offensive_train_val.csv.gz"):
        if r["task"] == "offensive":
            key = text_key(clean(r["text"]))
            if splits.get(key) != "validation":
                splits[key] = _split(r["split"], "val")
    return splits


def _olid_labels(a: str, b: str) -> dict[str, float]:
    if a == "NOT":  # OLID: "posts that do not contain offense or profanity"
        return dict.fromkeys(("toxicity", "insult", "profanity", "threat"), 0.0)
    if b == "UNT":  # untargeted: profanity and swearing
        return {"toxicity": 1.0, "profanity": 1.0, "insult": 0.0, "threat": 0.0}
    return {"toxicity": 1.0, "insult": 1.0}  # TIN: targeted insult (or, rarely, threat)


def _olid(folder: Path) -> Iterator[Row]:
    splits = _tweeteval_offensive_splits(folder.parent / "tweeteval-hate-offensive")
    for r in _tsv(folder / "olid-training-v1.0.tsv.gz"):
        text = _unquote(r["tweet"])
        labels = _olid_labels(r["subtask_a"], r["subtask_b"])
        yield Row(text, labels, "en", split=splits.get(text_key(clean(text))))


def _gab(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "ghc_train.tsv.gz", "\t"):
        hd, cv, vo = (float(r[c]) for c in ("hd", "cv", "vo"))
        labels = {"identity_attack": hd, "profanity": vo, "threat": cv, "violence": cv,
                  "toxicity": max(hd, cv, vo)}
        yield Row(r["text"], labels, "en")


_STRAY_QUOTES = re.compile(r'(?:(?<=\s)|^)"+(?=\s|$)')


def _implicit_text(post: str) -> str:
    """Implicit-hate posts carry stray quote tokens from a lossy export (`` " " "``)."""
    return " ".join(_STRAY_QUOTES.sub(" ", post).split())


def _implicit_hate(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "implicit_hate_v1_stg1_posts.tsv.gz", "\t"):
        hate = r["label"] in ("implicit_hate", "explicit_hate")
        yield Row(_implicit_text(r["post"]), _hate(hate), "en")
    for r in _records(folder / "implicit_hate_v1_stg2_posts.tsv.gz", "\t"):  # implicit only
        threat = "threatening" in (r["implicit_class"], r["extra_implicit_class"])
        yield Row(_implicit_text(r["post"]), _hate(True) | {"threat": _flag(threat)}, "en")


_SPAN_TYPES = {"Insult": "insult", "Insu": "insult", "Threat": "threat",
               "Identity based Attack": "identity_attack", "Identity based ": "identity_attack",
               "Profane/Obscene": "profanity"}


def _majority(yes: int, voters: int) -> float | None:
    if voters == 0 or 2 * yes == voters:
        return None  # no raters or a tie: unknown
    return _flag(2 * yes > voters)


TOXIC_SPANS = "toxic-spans-civil-comments"
SPAN_CATEGORIES = ("toxicity", "insult", "threat", "identity_attack", "profanity")


def toxic_spans_votes(folder: Path) -> list[tuple[str, list[set[str]]]]:
    """Per comment, its text and one set per voting rater of the categories they marked
    ("toxicity" for any span). A rater who ticked "not toxic" votes an empty set; one with
    neither spans nor "not toxic" (incl. "all toxic" with no span) abstains."""
    types: dict[str, set[str]] = {}  # annotation id -> categories its rater marked
    for r in _records(folder / "spans.csv.gz"):
        types.setdefault(r["annotation"], {"toxicity"}).add(_SPAN_TYPES.get(r["type"], "other"))
    votes: dict[str, list[set[str]]] = {}  # comment id -> votes
    for r in _records(folder / "annotations.csv.gz"):
        marked = types.get(r["annotation"])
        if marked is not None or r["not toxic"] == "True":
            votes.setdefault(r["comment_id"], []).append(marked or set())
    return [(r["comment_text"], votes.get(r["comment_id"], []))
            for r in _records(folder / "comments.csv.gz")]


def _toxic_spans(folder: Path) -> Iterator[Row]:
    for text, raters in toxic_spans_votes(folder):
        labels = {cat: _majority(sum(cat in m for m in raters), len(raters))
                  for cat in SPAN_CATEGORIES}
        yield Row(text, {k: v for k, v in labels.items() if v is not None}, "en")


def _edos(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "edos_labelled_aggregated_train_dev.csv.gz"):
        if r["label_sexist"] != "sexist":
            continue  # "not sexist" posts still include racist and violent ones: no negatives
        cat = r["label_category"][:1]  # 1 threats, 2 derogation, 3 animosity, 4 prejudiced
        labels = {"identity_attack": 1.0, "threat": _flag(cat == "1")}
        if cat in ("1", "2", "3"):
            labels["toxicity"] = 1.0
        if cat == "1":
            labels["violence"] = 1.0
        yield Row(r["text"], labels, "en", split=_split(r["split"], "dev"))


def _threatgram(folder: Path) -> Iterator[Row]:
    with gzip.open(folder / "Labeled_15076.json.gz", "rt", encoding="utf-8") as fh:
        replies = json.load(fh)
    for r in replies:
        if r["Label"] == 2:  # violent threat / call for violence
            yield Row(r["reply"], {"threat": 1.0, "violence": 1.0}, "en")
        elif r["Label"] == 0:
            yield Row(r["reply"], {"threat": 0.0}, "en")
        # 1 (calls for legal punishment; legend inferred, mixed with violent calls): unknown


def _sdcnl(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "training-set.csv.gz"):  # the author column is never read
        text = f"{r['title']}\n\n{r['selftext']}"
        yield Row(text, {"self_harm": _flag(r["is_suicide"] == "1")}, "en")


def _suicidal_twitter(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "twitter-suicidal_data.csv.gz"):
        yield Row(r["tweet"], {"self_harm": _flag(r["intention"] == "1")}, "en", subset="set1")
    for r in _records(folder / "Suicide_Ideation_Dataset_Twitter-based.csv.gz"):
        label = _flag(r["Suicide"].strip() == "Potential Suicide post")
        yield Row(r["Tweet"], {"self_harm": label}, "en", subset="set2")


def _jigsaw(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "validation.csv.gz"):
        lang = r["lang"]
        yield Row(r["comment_text"], {"toxicity": _flag(r["toxic"] == "1")}, lang, subset=lang)


def _offenseval2020(folder: Path) -> Iterator[Row]:
    files = {"tr": "turkish", "el": "greek", "da": "danish", "ar": "arabic"}
    for lang, name in files.items():
        for r in _tsv(folder / f"{name}_train_full.tsv.gz"):
            text = _unquote(r["tweet"])
            labels = ({"toxicity": 1.0} if r["subtask_a"] == "1"
                      else dict.fromkeys(("toxicity", "insult", "profanity", "threat"), 0.0))
            yield Row(text, labels, lang, subset=lang)


def _germeval2026(folder: Path) -> Iterator[Row]:
    for r in _records(folder / "vio_train_26.csv.gz", ";"):
        vio = r["vio"]
        labels = {"violence": _flag(vio != "nothing")}
        if vio in ("nothing", "call2violence"):
            labels["threat"] = _flag(vio == "call2violence")
        yield Row(r["description"], labels, "de")
    for r in _records(folder / "def_train.csv.gz", ";"):
        if r["DEF"] == "TRUE":  # FALSE rows still contain insults: no negatives
            yield Row(r["description"], {"insult": 1.0, "toxicity": 1.0}, "de")


def _constraint(folder: Path) -> Iterator[Row]:
    for part in ("train", "valid"):
        for r in _records(folder / f"constraint_hindi_{part}.csv.gz"):
            tags = {t.strip() for t in r["Labels Set"].split(",")}
            labels = {"identity_attack": _flag("hate" in tags),
                      "insult": _flag("offensive" in tags)}
            if tags & {"hate", "offensive"}:
                labels["toxicity"] = 1.0
            elif "defamation" not in tags:  # non-hostile, or fake news only
                labels["toxicity"] = 0.0
            yield Row(r["Post"], labels, "hi", split=_split(part, "valid"))


def _korean(folder: Path) -> Iterator[Row]:
    for part in ("train", "dev"):
        for r in _records(folder / f"{part}.tsv.gz", "\t"):
            labels = {"toxicity": _flag(r["hate"] != "none")}
            if r["bias"] == "none" or r["hate"] == "none":
                labels["identity_attack"] = 0.0
            elif r["hate"] == "hate":
                labels["identity_attack"] = 1.0
            yield Row(r["comments"], labels, "ko", split=_split(part, "dev"))


def _cold(folder: Path) -> Iterator[Row]:
    for part in ("train", "dev"):
        for r in _records(folder / f"{part}.csv.gz"):
            yield Row(r["TEXT"], {"toxicity": _flag(r["label"] == "1")}, "zh",
                      split=_split(part, "dev"))


_CONVABUSE_FIELDS = ("not", "ambiguous", "mild", "strong", "very_strong", "ableist", "homophobic",
                     "intellectual", "racist", "sexist", "sex_harassment", "transphobic",
                     "generalised", "individual", "system", "explicit", "implicit")
_IDENTITY_TYPES = frozenset({"ableist", "homophobic", "racist", "sexist", "transphobic"})


def _convabuse_raters(cells: list[str]) -> list[set[str]]:
    """Per rater, the fields set to 1; read by position (the header repeats some names)."""
    raters = []
    width = len(_CONVABUSE_FIELDS)
    for start in range(7, len(cells) - width + 1, width):
        block = [c.split(",")[0].strip() for c in cells[start : start + width]]
        if any(block):  # "1, 1" marks a repeat annotation: the first one counts
            raters.append({f for f, v in zip(_CONVABUSE_FIELDS, block, strict=True) if v == "1"})
    return raters


def _convabuse_labels(raters: list[set[str]]) -> dict[str, float]:
    n = len(raters)
    abusive = sum(bool(r & {"mild", "strong", "very_strong"}) for r in raters)
    labels: dict[str, float] = {}
    if 2 * abusive > n:
        severe = sum(bool(r & {"strong", "very_strong"}) for r in raters)
        labels |= {"toxicity": 1.0, "severe_toxicity": _flag(2 * severe > n),
                   "identity_attack": _flag(2 * sum(bool(r & _IDENTITY_TYPES) for r in raters) > n),
                   "sexual": 0.0}
    elif 2 * sum("not" in r for r in raters) > n:
        labels |= {"toxicity": 0.0, "severe_toxicity": 0.0, "identity_attack": 0.0}
    if any("sex_harassment" in r for r in raters):
        labels["sexual"] = 1.0
    return labels


def _convabuse(folder: Path) -> Iterator[Row]:
    for part in ("train", "valid"):
        rows = _cells(folder / f"ConvAbuseEMNLP{part}.csv.gz")
        next(rows)
        for cells in rows:
            labels = _convabuse_labels(_convabuse_raters(cells))
            yield Row(cells[5], labels, "en", split=_split(part, "valid"))


# --- the registry --------------------------------------------------------------------------

_HASH = "15% hash"
_NO_LICENCE = "none stated: research use, check before external use"

SOURCES: Mapping[str, Loader] = MappingProxyType({
    "davidson-hate-offensive": Loader(
        _davidson, "en",
        "class 0 hate → toxicity 1, identity_attack 1; class 1 offensive → toxicity 1, "
        "identity_attack 0; class 2 neither → toxicity 0, identity_attack 0",
        _HASH, "MIT"),
    "hatexplain": Loader(
        _hatexplain, "en",
        "label_binary toxic → toxicity 1, non-toxic → 0; 3-class hatespeech → identity_attack 1, "
        "offensive/normal → 0 (unknown where the 3-class label is missing)",
        "official val", "MIT (HF card CC-BY-4.0)"),
    "toxigen-annotated": Loader(
        _toxigen, "en",
        "toxicity_human (mean of 3, 1-5) > 3 → toxicity 1 and identity_attack 1 (every text is "
        "about a group), < 3 → both 0, exactly 3 → unknown; lewd: contains → sexual 1, doesn't → "
        "sexual 0 (might/disagreement unknown); the prompt `label` is not used",
        _HASH, "MIT (research use)"),
    "tweeteval-hate-offensive": Loader(
        _tweeteval, "en",
        "hate task only: 1 → identity_attack 1, toxicity 1; 0 → identity_attack 0 (not-hate "
        "tweets can still be offensive: toxicity unknown). The offensive task is the same tweets "
        "as OLID level A and is read there (with tweeteval's split)",
        "official val", "per task / Twitter terms"),
    "ethos": Loader(
        _ethos, "en",
        "binary isHate ≥ 0.5 → identity_attack 1, toxicity 1; < 0.5 → identity_attack 0; "
        "multi-label (hateful rows only) violence ≥ 0.5 → violence 1, else violence 0",
        _HASH, "GPL-3.0 (copyleft)"),
    "stormfront-hate-speech": Loader(
        _stormfront, "en",
        "hate → identity_attack 1, toxicity 1; noHate → identity_attack 0; relation and "
        "idk/skip rows dropped",
        _HASH, "CC BY-SA 3.0 ES"),
    "mlma-multilingual-hate": Loader(
        _mlma, "en, fr, ar",
        "sentiment exactly `normal` → toxicity 0, identity_attack 0; anything else → toxicity 1; "
        "`hateful` among the hostility types → identity_attack 1",
        _HASH, "MIT"),
    "germeval2018-offensive-de": Loader(
        _germeval2018, "de",
        "OTHER → toxicity, insult, profanity, identity_attack 0; OFFENSE → toxicity 1 plus fine "
        "INSULT → insult 1, PROFANITY → profanity 1, ABUSE (group-based degradation) → "
        "identity_attack 1",
        _HASH, "CC BY 4.0"),
    "portuguese-hate-speech": Loader(
        _portuguese, "pt",
        "binary file hatespeech_comb 1 → identity_attack 1, toxicity 1; 0 → identity_attack 0 "
        "(hierarchical file not used: its classes are hate sub-types)",
        _HASH, "none stated, research only"),
    "reddit-cssrs-suicide-risk": Loader(
        _cssrs, "en",
        "one example per user (posts joined): Supportive → self_harm 0; Ideation, Behavior, "
        "Attempt → self_harm 1; Indicator dropped (risk signs without stated ideation)",
        _HASH, "not stated (orig. CC BY 4.0?)"),
    "sms-spam-collection": Loader(
        _sms_spam, "en", "spam → spam 1, ham → spam 0", _HASH, "CC BY 4.0 (UCI)"),
    "youtube-spam-collection": Loader(
        _youtube_spam, "en", "label 1 → spam 1, 0 → spam 0", _HASH, "CC BY 4.0 (UCI)"),
    "olid-offenseval2019": Loader(
        _olid, "en",
        "A NOT → toxicity, insult, profanity, threat 0; OFF → toxicity 1; B UNT → profanity 1, "
        "insult 0, threat 0; B TIN → insult 1 (targeted insults and the rarer threats are one "
        "class: threat unknown); C not used",
        "official (tweeteval offensive val)", _NO_LICENCE),
    "gab-hate-corpus": Loader(
        _gab, "en",
        "hd → identity_attack, vo → profanity, cv → threat and violence, each 1/0; any of the "
        "three → toxicity 1, all zero → toxicity 0",
        _HASH, "CC BY 4.0 (OSF; copy states none)"),
    "implicit-hate-corpus": Loader(
        _implicit_hate, "en",
        "stage 1 implicit/explicit hate → identity_attack 1, toxicity 1; not_hate → "
        "identity_attack 0; stage 2 (implicit hate) threatening → threat 1, other classes → "
        "threat 0; stage 3 not used",
        _HASH, _NO_LICENCE),
    TOXIC_SPANS: Loader(
        _toxic_spans, "en",
        "per comment, strict majority of voting raters: any span → toxicity, Insult → insult, "
        "Threat → threat, Identity based Attack → identity_attack, Profane/Obscene → profanity "
        "(1 if a majority marked it, 0 if a majority did not, tie unknown; raters voting `not "
        "toxic` count as marking nothing)",
        _HASH, "CC0"),
    "edos-sexism": Loader(
        _edos, "en",
        "sexist rows only: identity_attack 1; category 1 (threats, plans to harm, incitement) → "
        "threat 1, violence 1, categories 2-4 → threat 0; categories 1-3 → toxicity 1 "
        "(4 prejudiced discussion: toxicity unknown); not-sexist rows dropped",
        "official dev", "CC0"),
    "threatgram101-telegram-threats": Loader(
        _threatgram, "en",
        "Label 2 → threat 1, violence 1; 0 → threat 0; 1 (legal-punishment calls) dropped",
        _HASH, "CC BY 4.0"),
    "sdcnl-suicide-vs-depression": Loader(
        _sdcnl, "en",
        "title + selftext: r/SuicideWatch → self_harm 1, r/depression → self_harm 0",
        _HASH, _NO_LICENCE),
    "suicidal-ideation-twitter": Loader(
        _suicidal_twitter, "en",
        "set1 intention 1/0, set2 Potential Suicide post / Not → self_harm 1/0; empty texts "
        "dropped, duplicates merged",
        _HASH, _NO_LICENCE),
    "jigsaw-multilingual-2020-validation": Loader(
        _jigsaw, "es, it, tr", "toxic 1/0 → toxicity 1/0", _HASH, "CC0 (text CC BY-SA 3.0)"),
    "offenseval2020-multilingual": Loader(
        _offenseval2020, "tr, el, da, ar",
        "OFF → toxicity 1; NOT → toxicity, insult, profanity, threat 0 (OLID guidelines)",
        _HASH, _NO_LICENCE),
    "germeval2026-violence-defamation-de": Loader(
        _germeval2026, "de",
        "vio nothing → violence 0, threat 0; any other vio class → violence 1; call2violence → "
        "threat 1 (other classes: threat unknown); DEF TRUE → insult 1, toxicity 1 (FALSE rows "
        "dropped: they still hold insults)",
        _HASH, "GPL-3.0 (repo)"),
    "constraint2021-hindi-hostility": Loader(
        _constraint, "hi",
        "hate → identity_attack 1 else 0; offensive → insult 1 else 0; hate or offensive → "
        "toxicity 1; non-hostile or fake only → toxicity 0; defamation only → toxicity unknown",
        "official valid", _NO_LICENCE),
    "korean-hate-speech-beep": Loader(
        _korean, "ko",
        "hate/offensive → toxicity 1, none → 0; hate with gender/other bias → identity_attack 1; "
        "bias none or hate none → identity_attack 0; offensive with bias → unknown",
        "official dev", "CC BY-SA 4.0"),
    "cold-chinese-offensive": Loader(
        _cold, "zh", "offensive 1 → toxicity 1, safe 0 → toxicity 0", "official dev",
        "Apache-2.0"),
    "convabuse": Loader(
        _convabuse, "en",
        "majority of raters abusive (−1..−3) → toxicity 1, identity_attack 1 if a majority "
        "chose an identity type (ableist, homophobic, racist, sexist, transphobic) else 0, "
        "severe_toxicity 1 if a majority chose strong/very strong else 0; majority not "
        "abusive → toxicity, severe_toxicity, identity_attack 0; any rater sex_harassment → "
        "sexual 1, abusive without it → sexual 0",
        "official valid", "CC BY 4.0"),
})

SKIPPED: Mapping[str, str] = MappingProxyType({
    "phishing-urls-webfraud": (
        "bare URLs, not posts; phishing and legitimate URLs come from different sources, so a "
        "model learns the sources, and labelling legitimate URLs spam 0 would teach that a "
        "bare link is fine (the URLs are live malicious links, too)"),
})


def label_table() -> list[dict[str, str]]:
    """The label map as rows (set, language, labels, validation, licence), as in LABELS.md."""
    rows = [{"set": name, "language": src.language, "labels": src.rule,
             "validation": src.validation, "licence": src.licence}
            for name, src in SOURCES.items()]
    rows += [{"set": name, "language": "-", "labels": f"skipped: {why}", "validation": "-",
              "licence": "-"} for name, why in SKIPPED.items()]
    return rows


# --- merging, splitting, sampling ----------------------------------------------------------


@dataclass
class _Merged:
    """One distinct text of a set: the first copy's text, every copy's labels."""

    text: str
    language: str
    labels: list[dict[str, float]]
    split: Split | None  # official split; "validation" if any copy is

    def mean_labels(self) -> dict[str, float]:
        if len(self.labels) == 1:
            return self.labels[0]
        pooled: dict[str, list[float]] = {}
        for labels in self.labels:
            for cat, value in labels.items():
                pooled.setdefault(cat, []).append(value)
        return {cat: sum(values) / len(values) for cat, values in pooled.items()}


def _merged(data_dir: Path, name: str) -> tuple[tuple[str, str, _Merged], ...]:
    """(source, key, merged row) per distinct text of one set."""
    merged: dict[tuple[str, str], _Merged] = {}
    for row in SOURCES[name].read(data_dir / name):
        text = clean(row.text)
        key = text_key(text)
        if not key or not row.labels:
            continue
        source = f"{name}/{row.subset}" if row.subset else name
        slot = merged.get((source, key))
        if slot is None:
            slot = merged[source, key] = _Merged(text, row.language, [], None)
        slot.labels.append(row.labels)
        if row.split is not None and slot.split != "validation":
            slot.split = row.split
    return tuple((source, key, m) for (source, key), m in merged.items())


# Sets with an official split are read once for the split index and kept for their examples.
_merged_official = cache(_merged)


@cache
def _official_splits(data_dir: Path) -> Mapping[str, Split]:
    """Text key → split over every official split; validation wins over train."""
    splits: dict[str, Split] = {}
    for name, src in SOURCES.items():
        if src.official:
            for _, key, m in _merged_official(data_dir, name):
                if m.split is not None and splits.get(key) != "validation":
                    splits[key] = m.split
    return MappingProxyType(splits)


@cache
def _examples(data_dir: Path, name: str) -> tuple[Example, ...]:
    official = _official_splits(data_dir)
    rows = _merged_official(data_dir, name) if SOURCES[name].official else _merged(data_dir, name)
    return tuple(
        Example(m.text, source, m.language, official.get(key) or hash_split(key),
                MappingProxyType(m.mean_labels()))
        for source, key, m in rows
    )


def _subsample(examples: Sequence[Example], limit: int, seed: int) -> list[Example]:
    """At most ``limit`` per ``Example.source``, drawn per split in proportion (seeded)."""
    groups: dict[str, dict[str, list[int]]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.source, {}).setdefault(ex.split, []).append(i)
    keep: list[int] = []
    for source, by_split in groups.items():
        total = sum(len(ids) for ids in by_split.values())
        n_val = len(by_split.get("validation", []))
        k_val = min(n_val, max(round(limit * n_val / total), int(n_val > 0 and limit > 1)))
        for split, k in (("validation", k_val), ("train", limit - k_val)):
            ids = by_split.get(split, [])
            rng = random.Random(f"{seed}/{source}/{split}")
            keep += ids if len(ids) <= k else rng.sample(ids, k)
    return [examples[i] for i in sorted(keep)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates ~10^6 small acyclic objects; generational GC passes over them cost
    about a third of the load time and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_examples(
    data_dir: Path,
    sources: Sequence[str] | None = None,
    *,
    max_per_source: int | None = None,
    seed: int = 13,
) -> list[Example]:
    """All examples of ``sources`` (default: every set in ``SOURCES``), in registry order.

    ``max_per_source`` keeps a seeded subsample of at most that many examples per
    ``Example.source`` (so per language for multi-language sets), split proportions kept.
    Results are cached per process; the split never depends on ``sources`` or ``seed``.
    """
    names = list(SOURCES) if sources is None else list(sources)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCES)}")
    data_dir = Path(data_dir).resolve()
    out: list[Example] = []
    with _gc_paused():
        for name in names:
            examples = _examples(data_dir, name)
            out += examples if max_per_source is None else _subsample(examples, max_per_source,
                                                                       seed)
    return out


# --- hand-made training rows ---------------------------------------------------------------

HANDMADE_DIR = Path(__file__).with_name("handmade")


def fill_identity(template: str, slots: Mapping[str, str]) -> str:
    """A template with its identity slots filled: {adj}, {a_adj} (with "a"/"an"), {group},
    {Group} (capitalised for a sentence start). Shared by the hand-made set and the fairness
    evaluation, which must fill templates the same way."""
    adj, group = slots["adj"], slots["group"]
    article = "an" if adj[0].lower() in "aeiou" else "a"
    return template.format(adj=adj, a_adj=f"{article} {adj}", group=group,
                           Group=group[0].upper() + group[1:])


def load_handmade(directory: Path = HANDMADE_DIR) -> list[Example]:
    """The hand-made training rows (see the header of each file), tagged ``handmade=True``.

    Split "train" and the tag both keep them out of evaluation: ``evaluate.evaluable`` and
    ``evaluate.evaluate`` drop tagged rows whatever split they carry. Not part of
    ``load_examples``: a trainer adds them on purpose.
    """
    import yaml  # only here: the public sets need nothing beyond the standard library

    out: list[Example] = []
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        identities = [slots for members in raw["identities"].values()
                      for slots in members.values()]
        rows: list[tuple[str, str, Mapping[str, float]]] = []
        for group, spec in raw.get("groups", {}).items():
            rows += [(group, fill_identity(t, slots), spec["labels"])
                     for t in spec["templates"] for slots in identities]
        for group, spec in raw.get("fixed", {}).items():
            rows += [(group, s, spec["labels"]) for s in spec["sentences"]]
        for group, text, labels in rows:
            out.append(Example(text, f"handmade/{path.stem}/{group}", "en", "train",
                               MappingProxyType({c: float(v) for c, v in labels.items()}),
                               handmade=True))
    return out


# --- reviewer labels -----------------------------------------------------------------------


def load_jsonl_examples(path: Path, source: str = "reviews") -> list[Example]:
    """Labelled rows from a JSONL file, as ``modserve reviews export`` writes them.

    Each line is ``{"text": ..., "labels": {category: 0..1}, "language"?: ...}``; other keys
    are ignored. This is how reviewers' decisions flow back into training: the rows join the
    public sets with the same split rule (the stable text hash), so a text is never trained on
    in one run and validated on in another. Raises ``ValueError`` naming the first bad line.
    """
    from deployments.signals import TEXT_CATEGORIES

    examples: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, labels = clean(str(row["text"])), dict(row["labels"])
                unknown = [c for c in labels if c not in TEXT_CATEGORIES]
                if unknown or not all(0.0 <= float(v) <= 1.0 for v in labels.values()):
                    raise ValueError(f"labels must be text categories in [0, 1]: {labels}")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            key = text_key(text)
            if key and labels:
                floats = {c: float(v) for c, v in labels.items()}
                language = str(row.get("language", "und"))
                examples.append(
                    Example(text, source, language, hash_split(key), MappingProxyType(floats))
                )
    return examples
