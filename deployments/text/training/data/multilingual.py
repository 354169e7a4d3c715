"""Readers of the sets in languages other than English (one language each, or one per file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .common import Row, cells, flag, hate, official_split, records, tsv, unquote


def mlma(folder: Path) -> Iterator[Row]:
    for lang in ("en", "fr", "ar"):
        for r in records(folder / f"{lang}_dataset.csv.gz"):
            kinds = set(r["sentiment"].split("_"))
            labels = {"toxicity": flag(kinds != {"normal"})}
            if kinds == {"normal"} or "hateful" in kinds:
                labels["identity_attack"] = flag("hateful" in kinds)
            yield Row(r["tweet"], labels, lang, subset=lang)


def germeval2018(folder: Path) -> Iterator[Row]:
    fine_map = {"INSULT": "insult", "PROFANITY": "profanity", "ABUSE": "identity_attack"}
    for text, coarse, fine in cells(folder / "germeval2018.training.tsv.gz", "\t", False):
        if coarse == "OTHER":
            labels = dict.fromkeys(("toxicity", "insult", "profanity", "identity_attack"), 0.0)
        else:
            labels = {"toxicity": 1.0, fine_map[fine]: 1.0}
        yield Row(text, labels, "de")


def portuguese(folder: Path) -> Iterator[Row]:
    name = "2019-05-28_portuguese_hate_speech_binary_classification.csv.gz"
    for r in records(folder / name):
        yield Row(r["text"], hate(r["hatespeech_comb"] == "1"), "pt")


def jigsaw(folder: Path) -> Iterator[Row]:
    for r in records(folder / "validation.csv.gz"):
        lang = r["lang"]
        yield Row(r["comment_text"], {"toxicity": flag(r["toxic"] == "1")}, lang, subset=lang)


def offenseval2020(folder: Path) -> Iterator[Row]:
    files = {"tr": "turkish", "el": "greek", "da": "danish", "ar": "arabic"}
    for lang, name in files.items():
        for r in tsv(folder / f"{name}_train_full.tsv.gz"):
            text = unquote(r["tweet"])
            labels = ({"toxicity": 1.0} if r["subtask_a"] == "1"
                      else dict.fromkeys(("toxicity", "insult", "profanity", "threat"), 0.0))
            yield Row(text, labels, lang, subset=lang)


def germeval2026(folder: Path) -> Iterator[Row]:
    for r in records(folder / "vio_train_26.csv.gz", ";"):
        vio = r["vio"]
        labels = {"violence": flag(vio != "nothing")}
        if vio in ("nothing", "call2violence"):
            labels["threat"] = flag(vio == "call2violence")
        yield Row(r["description"], labels, "de")
    for r in records(folder / "def_train.csv.gz", ";"):
        if r["DEF"] == "TRUE":  # FALSE rows still contain insults: no negatives
            yield Row(r["description"], {"insult": 1.0, "toxicity": 1.0}, "de")


def constraint(folder: Path) -> Iterator[Row]:
    for part in ("train", "valid"):
        for r in records(folder / f"constraint_hindi_{part}.csv.gz"):
            tags = {t.strip() for t in r["Labels Set"].split(",")}
            labels = {"identity_attack": flag("hate" in tags),
                      "insult": flag("offensive" in tags)}
            if tags & {"hate", "offensive"}:
                labels["toxicity"] = 1.0
            elif "defamation" not in tags:  # non-hostile, or fake news only
                labels["toxicity"] = 0.0
            yield Row(r["Post"], labels, "hi", split=official_split(part, "valid"))


def korean(folder: Path) -> Iterator[Row]:
    for part in ("train", "dev"):
        for r in records(folder / f"{part}.tsv.gz", "\t"):
            labels = {"toxicity": flag(r["hate"] != "none")}
            if r["bias"] == "none" or r["hate"] == "none":
                labels["identity_attack"] = 0.0
            elif r["hate"] == "hate":
                labels["identity_attack"] = 1.0
            yield Row(r["comments"], labels, "ko", split=official_split(part, "dev"))


def cold(folder: Path) -> Iterator[Row]:
    for part in ("train", "dev"):
        for r in records(folder / f"{part}.csv.gz"):
            yield Row(r["TEXT"], {"toxicity": flag(r["label"] == "1")}, "zh",
                      split=official_split(part, "dev"))


# Category votes of the Japanese set that match a native category; 迷惑行為 (nuisance),
# 出会い・プライバシー侵害 (solicitation, privacy) and 偏向表現 (biased expression) match none.
_JAPANESE_CATEGORIES = {"category_卑語": "profanity", "category_差別": "identity_attack",
                        "category_猥褻": "sexual", "category_違法行為": "illicit"}


def _japanese_labels(r: dict[str, str]) -> dict[str, float]:
    n = int(r["annotation_num"])
    toxic, very = int(r["Toxic"]) + int(r["Very Toxic"]), int(r["Very Toxic"])
    labels: dict[str, float] = {}
    if 2 * toxic > n:
        labels |= {"toxicity": 1.0, "severe_toxicity": flag(2 * very > n)}
    elif 2 * int(r["Not Toxic"]) > n:
        labels |= {"toxicity": 0.0, "severe_toxicity": 0.0}
    for column, cat in _JAPANESE_CATEGORIES.items():
        votes = int(r[column])
        if 2 * votes > n:
            labels[cat] = 1.0
        elif votes == 0 and "toxicity" in labels:
            labels[cat] = 0.0
    return labels


def japanese(folder: Path) -> Iterator[Row]:
    for r in records(folder / "subset.csv.gz"):
        yield Row(r["text"], _japanese_labels(r), "ja")
