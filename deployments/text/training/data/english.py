"""Readers of the English abuse and hate-speech sets (tweets, Reddit, Gab, forums, chatbots)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from .common import (
    Row,
    Split,
    cells,
    clean,
    flag,
    hate,
    majority,
    official_split,
    read_json,
    records,
    text_key,
    tsv,
    unquote,
)


def davidson(folder: Path) -> Iterator[Row]:
    for r in records(folder / "labeled_data.csv.gz"):
        cls = r["class"]  # 0 hate, 1 offensive, 2 neither (coder majority)
        labels = {"toxicity": flag(cls != "2"), "identity_attack": flag(cls == "0")}
        yield Row(r["tweet"], labels, "en")


def hatexplain(folder: Path) -> Iterator[Row]:
    for r in records(folder / "hatexplain_train_val.csv.gz"):
        labels = {"toxicity": flag(r["label_binary"] == "toxic")}
        if r["label"]:
            labels["identity_attack"] = flag(r["label"] == "hatespeech")
        yield Row(r["text"], labels, "en", split=official_split(r["split"], "val"))


def _bytes_literal(text: str) -> str:
    """ToxiGen stores texts as Python bytes literals (``b'...'``)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.removeprefix("b'").removesuffix("'")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def toxigen(folder: Path) -> Iterator[Row]:
    lewd = {"contains lewd content": 1.0, "doesn't contain lewd content": 0.0}
    for r in records(folder / "toxigen_annotated_train.csv.gz"):
        labels: dict[str, float] = {}
        human = float(r["toxicity_human"])  # mean of 3 ratings on 1..5; 3.0 is undecided
        if human != 3.0:
            labels["toxicity"] = labels["identity_attack"] = flag(human > 3.0)
        if r["lewd"] in lewd:
            labels["sexual"] = lewd[r["lewd"]]
        yield Row(_bytes_literal(r["text"]), labels, "en")


def tweeteval(folder: Path) -> Iterator[Row]:
    for r in records(folder / "tweeteval_hate_offensive_train_val.csv.gz"):
        if r["task"] != "hate":
            continue  # the offensive task is OLID level A: read with OLID's B/C labels
        yield Row(r["text"], hate(r["label"] == "1"), "en",
                  split=official_split(r["split"], "val"))


def ethos(folder: Path) -> Iterator[Row]:
    for r in records(folder / "Ethos_Dataset_Binary.csv.gz", ";"):
        yield Row(r["comment"], hate(float(r["isHate"]) >= 0.5), "en")
    for r in records(folder / "Ethos_Dataset_Multi_Label.csv.gz", ";"):  # the hateful ones
        labels = hate(True) | {"violence": flag(float(r["violence"]) >= 0.5)}
        yield Row(r["comment"], labels, "en")


def stormfront(folder: Path) -> Iterator[Row]:
    for r in records(folder / "stormfront_annotations_with_text.csv.gz"):
        if r["label"] in ("hate", "noHate"):  # "relation" is hate only in context
            yield Row(r["text"], hate(r["label"] == "hate"), "en")


def _tweeteval_offensive_splits(folder: Path) -> dict[str, Split]:
    splits: dict[str, Split] = {}
    for r in records(folder / "tweeteval_hate_offensive_train_val.csv.gz"):
        if r["task"] == "offensive":
            key = text_key(clean(r["text"]))
            if splits.get(key) != "validation":
                splits[key] = official_split(r["split"], "val")
    return splits


def _olid_labels(a: str, b: str) -> dict[str, float]:
    if a == "NOT":  # OLID: "posts that do not contain offense or profanity"
        return dict.fromkeys(("toxicity", "insult", "profanity", "threat"), 0.0)
    if b == "UNT":  # untargeted: profanity and swearing
        return {"toxicity": 1.0, "profanity": 1.0, "insult": 0.0, "threat": 0.0}
    return {"toxicity": 1.0, "insult": 1.0}  # TIN: targeted insult (or, rarely, threat)


def olid(folder: Path) -> Iterator[Row]:
    splits = _tweeteval_offensive_splits(folder.parent / "tweeteval-hate-offensive")
    for r in tsv(folder / "olid-training-v1.0.tsv.gz"):
        text = unquote(r["tweet"])
        labels = _olid_labels(r["subtask_a"], r["subtask_b"])
        yield Row(text, labels, "en", split=splits.get(text_key(clean(text))))


def gab(folder: Path) -> Iterator[Row]:
    for r in records(folder / "ghc_train.tsv.gz", "\t"):
        hd, cv, vo = (float(r[c]) for c in ("hd", "cv", "vo"))
        labels = {"identity_attack": hd, "profanity": vo, "threat": cv, "violence": cv,
                  "toxicity": max(hd, cv, vo)}
        yield Row(r["text"], labels, "en")


_STRAY_QUOTES = re.compile(r'(?:(?<=\s)|^)"+(?=\s|$)')


def _implicit_text(post: str) -> str:
    """Implicit-hate posts carry stray quote tokens from a lossy export (`` " " "``)."""
    return " ".join(_STRAY_QUOTES.sub(" ", post).split())


def implicit_hate(folder: Path) -> Iterator[Row]:
    for r in records(folder / "implicit_hate_v1_stg1_posts.tsv.gz", "\t"):
        is_hate = r["label"] in ("implicit_hate", "explicit_hate")
        yield Row(_implicit_text(r["post"]), hate(is_hate), "en")
    for r in records(folder / "implicit_hate_v1_stg2_posts.tsv.gz", "\t"):  # implicit only
        threat = "threatening" in (r["implicit_class"], r["extra_implicit_class"])
        yield Row(_implicit_text(r["post"]), hate(True) | {"threat": flag(threat)}, "en")


_SPAN_TYPES = {"Insult": "insult", "Insu": "insult", "Threat": "threat",
               "Identity based Attack": "identity_attack", "Identity based ": "identity_attack",
               "Profane/Obscene": "profanity"}
TOXIC_SPANS = "toxic-spans-civil-comments"
SPAN_CATEGORIES = ("toxicity", "insult", "threat", "identity_attack", "profanity")


def toxic_spans_votes(folder: Path) -> list[tuple[str, list[set[str]]]]:
    """Per comment, its text and one set per voting rater of the categories they marked
    ("toxicity" for any span). A rater who ticked "not toxic" votes an empty set; one with
    neither spans nor "not toxic" (incl. "all toxic" with no span) abstains."""
    types: dict[str, set[str]] = {}  # annotation id -> categories its rater marked
    for r in records(folder / "spans.csv.gz"):
        types.setdefault(r["annotation"], {"toxicity"}).add(_SPAN_TYPES.get(r["type"], "other"))
    votes: dict[str, list[set[str]]] = {}  # comment id -> votes
    for r in records(folder / "annotations.csv.gz"):
        marked = types.get(r["annotation"])
        if marked is not None or r["not toxic"] == "True":
            votes.setdefault(r["comment_id"], []).append(marked or set())
    return [(r["comment_text"], votes.get(r["comment_id"], []))
            for r in records(folder / "comments.csv.gz")]


def toxic_spans(folder: Path) -> Iterator[Row]:
    for text, raters in toxic_spans_votes(folder):
        labels = {cat: majority(sum(cat in m for m in raters), len(raters))
                  for cat in SPAN_CATEGORIES}
        yield Row(text, {k: v for k, v in labels.items() if v is not None}, "en")


def edos(folder: Path) -> Iterator[Row]:
    for r in records(folder / "edos_labelled_aggregated_train_dev.csv.gz"):
        if r["label_sexist"] != "sexist":
            continue  # "not sexist" posts still include racist and violent ones: no negatives
        cat = r["label_category"][:1]  # 1 threats, 2 derogation, 3 animosity, 4 prejudiced
        labels = {"identity_attack": 1.0, "threat": flag(cat == "1")}
        if cat in ("1", "2", "3"):
            labels["toxicity"] = 1.0
        if cat == "1":
            labels["violence"] = 1.0
        yield Row(r["text"], labels, "en", split=official_split(r["split"], "dev"))


def threatgram(folder: Path) -> Iterator[Row]:
    for r in read_json(folder / "Labeled_15076.json.gz"):
        if r["Label"] == 2:  # violent threat / call for violence
            yield Row(r["reply"], {"threat": 1.0, "violence": 1.0}, "en")
        elif r["Label"] == 0:
            yield Row(r["reply"], {"threat": 0.0}, "en")
        # 1 (calls for legal punishment; legend inferred, mixed with violent calls): unknown


_CONVABUSE_FIELDS = ("not", "ambiguous", "mild", "strong", "very_strong", "ableist", "homophobic",
                     "intellectual", "racist", "sexist", "sex_harassment", "transphobic",
                     "generalised", "individual", "system", "explicit", "implicit")
_IDENTITY_TYPES = frozenset({"ableist", "homophobic", "racist", "sexist", "transphobic"})


def _convabuse_raters(row: list[str]) -> list[set[str]]:
    """Per rater, the fields set to 1; read by position (the header repeats some names)."""
    raters = []
    width = len(_CONVABUSE_FIELDS)
    for start in range(7, len(row) - width + 1, width):
        block = [c.split(",")[0].strip() for c in row[start : start + width]]
        if any(block):  # "1, 1" marks a repeat annotation: the first one counts
            raters.append({f for f, v in zip(_CONVABUSE_FIELDS, block, strict=True) if v == "1"})
    return raters


def _convabuse_labels(raters: list[set[str]]) -> dict[str, float]:
    n = len(raters)
    abusive = sum(bool(r & {"mild", "strong", "very_strong"}) for r in raters)
    labels: dict[str, float] = {}
    if 2 * abusive > n:
        severe = sum(bool(r & {"strong", "very_strong"}) for r in raters)
        labels |= {"toxicity": 1.0, "severe_toxicity": flag(2 * severe > n),
                   "identity_attack": flag(2 * sum(bool(r & _IDENTITY_TYPES) for r in raters) > n),
                   "sexual": 0.0}
    elif 2 * sum("not" in r for r in raters) > n:
        labels |= {"toxicity": 0.0, "severe_toxicity": 0.0, "identity_attack": 0.0}
    if any("sex_harassment" in r for r in raters):
        labels["sexual"] = 1.0
    return labels


def convabuse(folder: Path) -> Iterator[Row]:
    for part in ("train", "valid"):
        rows = cells(folder / f"ConvAbuseEMNLP{part}.csv.gz")
        next(rows)
        for row in rows:
            labels = _convabuse_labels(_convabuse_raters(row))
            yield Row(row[5], labels, "en", split=official_split(part, "valid"))


# --- expert-labelled, adversarial and conversational sets ---------------------------------

_CAD_ABUSE = frozenset({"IdentityDirectedAbuse", "AffiliationDirectedAbuse", "PersonDirectedAbuse"})


def _cad_labels(tags: set[str]) -> dict[str, float]:
    if not tags & _CAD_ABUSE:  # Neutral or CounterSpeech: judged not abusive by experts
        return dict.fromkeys(("toxicity", "insult", "identity_attack"), 0.0)
    # Entries are multi-label, so abuse without the identity tag is not identity-directed.
    labels = {"toxicity": 1.0, "identity_attack": flag("IdentityDirectedAbuse" in tags)}
    if tags & {"PersonDirectedAbuse", "AffiliationDirectedAbuse"}:
        labels["insult"] = 1.0
    return labels


def cad(folder: Path) -> Iterator[Row]:
    for part in ("train", "dev"):
        for r in tsv(folder / f"cad_v1_1_{part}.tsv.gz"):
            text = "\n".join(line.strip() for line in r["text"].split("[linebreak]"))
            labels = _cad_labels(set(r["labels"].split(",")))
            yield Row(text, labels, "en", split=official_split(part, "dev"))


def _typed_hate(is_hate: bool, kind: str) -> dict[str, float]:
    """Dynabench hate: typed hate rows say whether they are threatening (one type per row)."""
    labels = hate(is_hate)
    if is_hate and kind not in ("notgiven", "none", ""):
        labels["threat"] = flag(kind.startswith("threatening"))
    return labels


def dynahate(folder: Path) -> Iterator[Row]:
    for r in records(folder / "db_dev.csv.gz"):
        yield Row(r["text"], _typed_hate(r["label"] == "hate", r["type"]), "en")


def hatemoji(folder: Path) -> Iterator[Row]:
    # A perturbation often differs from its original only in an emoji, which the text key
    # ignores: the two kinds are separate sources so that a contrast pair is not merged.
    for part in ("train", "validation"):
        for r in records(folder / f"{part}.csv.gz"):
            labels = _typed_hate(r["label_gold"] == "1", r["type"])
            yield Row(r["text"], labels, "en", subset=r["set"],
                      split=official_split(part, "validation"))


_SBIC_IDENTITIES = frozenset({"race", "gender", "culture", "disabled"})


def _yes_no(answers: list[str]) -> float | None:
    """Strict majority of SBIC answers (1.0 yes, 0.5 maybe, 0.0 no): 1, 0 or None."""
    if 2 * answers.count("1.0") > len(answers):
        return 1.0
    if 2 * answers.count("0.0") > len(answers):
        return 0.0
    return None


def _sbic_labels(raters: list[list[dict[str, str]]]) -> dict[str, float]:
    """One list of rows per annotator (an annotator has one row per target group named)."""
    first = [rows[0] for rows in raters]
    votes = {"toxicity": _yes_no([r["offensiveYN"] for r in first if r["offensiveYN"]]),
             "sexual": _yes_no([r["sexYN"] for r in first])}
    if votes["toxicity"] == 0.0:
        votes["identity_attack"] = 0.0
    elif votes["toxicity"] == 1.0:
        group = sum(any(r["whoTarget"] == "1.0" and r["targetCategory"] in _SBIC_IDENTITIES
                        for r in rows) for rows in raters)
        votes["identity_attack"] = 1.0 if 2 * group > len(raters) else None
    return {cat: value for cat, value in votes.items() if value is not None}


def sbic(folder: Path) -> Iterator[Row]:
    posts = {r["post"] for r in records(folder / "SBIC.v2.agg.dev.csv.gz")}  # filtered copy
    raters: dict[str, dict[tuple[str, str], list[dict[str, str]]]] = {}
    for r in records(folder / "SBIC.v2.dev.csv.gz"):
        if r["post"] in posts:
            raters.setdefault(r["post"], {}).setdefault((r["WorkerId"], r["HITId"]), []).append(r)
    for post, by_rater in raters.items():
        yield Row(post, _sbic_labels(list(by_rater.values())), "en")


_VIOLENT_THREATS = frozenset({"Threatening_Physical_violence", "Threatening_Sexual_violence"})


def _misogyny_labels(level_1: str, level_2: str, level_3: str) -> dict[str, float]:
    if level_1 == "Misogynistic":
        labels = {"identity_attack": 1.0, "toxicity": 1.0}
        if level_2 == "Misogynistic_personal_attack":
            labels["insult"] = 1.0
        if level_3 in _VIOLENT_THREATS:
            labels |= {"threat": 1.0, "violence": 1.0}
        elif level_3 != "Threatening_Privacy":
            labels["threat"] = 0.0
        return labels
    if level_2 == "Nonmisogynistic_personal_attack":
        return {"insult": 1.0, "toxicity": 1.0, "identity_attack": 0.0}
    if level_2 == "Counter_speech":
        return dict.fromkeys(("toxicity", "insult", "identity_attack"), 0.0)
    # None of the categories: neither misogyny nor a personal attack, but general rudeness and
    # abuse of other groups were not annotated, so toxicity stays unknown.
    return {"insult": 0.0, "identity_attack": 0.0}


def online_misogyny(folder: Path) -> Iterator[Row]:
    for r in records(folder / "final_labels.csv.gz"):
        if r["body"].strip() in ("[removed]", "[deleted]"):
            continue
        labels = _misogyny_labels(r["level_1"], r["level_2"], r["level_3"])
        yield Row(r["body"], labels, "en", split=official_split(r["split"], "test"))


def _undo_mojibake(text: str) -> str:
    """Tweets whose UTF-8 bytes were decoded as Latin-1 (``Iâ\\x80\\x99m``), where they
    round-trip."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def cyberbullying(folder: Path) -> Iterator[Row]:
    for r in records(folder / "cyberbullying_tweets.csv.gz"):
        kind = r["cyberbullying_type"]
        if kind in ("ethnicity", "not_cyberbullying"):  # the other classes: see the rule
            text = _undo_mojibake(r["tweet_text"])
            yield Row(text, {"toxicity": flag(kind == "ethnicity")}, "en")


def diasafety(folder: Path) -> Iterator[Row]:
    for part in ("train", "val"):
        for r in read_json(folder / f"{part}.json.gz"):
            if r["category"] == "Offending User":  # the only class that shows in the reply
                unsafe = flag(r["label"] == "Unsafe")
                yield Row(r["response"], {"toxicity": unsafe, "insult": unsafe}, "en",
                          split=official_split(part, "val"))
