"""Readers of the single-category sets: self-harm and suicide risk, SMS and comment spam."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .common import Row, cells, flag, records


def post_list(cell: str) -> list[str]:
    """A stringified Python list; some cells were cut at 32,759 characters mid-post."""
    try:
        return [str(p) for p in ast.literal_eval(cell)]
    except (ValueError, SyntaxError):
        cut = max(cell.rfind("', "), cell.rfind('", '))
        return post_list(cell[: cut + 1] + "]") if cut > 0 else []


def cssrs(folder: Path) -> Iterator[Row]:
    risk = {"Supportive": 0.0, "Ideation": 1.0, "Behavior": 1.0, "Attempt": 1.0}
    for r in records(folder / "500_Reddit_users_posts_labels.csv.gz"):
        if r["Label"] in risk:  # "Indicator" (risk signs, no ideation stated) stays unknown
            yield Row("\n\n".join(post_list(r["Post"])), {"self_harm": risk[r["Label"]]}, "en")


def sms_spam(folder: Path) -> Iterator[Row]:
    for label, text in cells(folder / "SMSSpamCollection.tsv.gz", "\t", False):
        yield Row(text, {"spam": flag(label == "spam")}, "en")


def youtube_spam(folder: Path) -> Iterator[Row]:
    for r in records(folder / "youtube_spam_collection.csv.gz"):  # AUTHOR is not used
        yield Row(r["CONTENT"], {"spam": flag(r["label"] == "1")}, "en")


def sdcnl(folder: Path) -> Iterator[Row]:
    for r in records(folder / "training-set.csv.gz"):  # the author column is never read
        text = f"{r['title']}\n\n{r['selftext']}"
        yield Row(text, {"self_harm": flag(r["is_suicide"] == "1")}, "en")


def suicidal_twitter(folder: Path) -> Iterator[Row]:
    for r in records(folder / "twitter-suicidal_data.csv.gz"):
        yield Row(r["tweet"], {"self_harm": flag(r["intention"] == "1")}, "en", subset="set1")
    for r in records(folder / "Suicide_Ideation_Dataset_Twitter-based.csv.gz"):
        label = flag(r["Suicide"].strip() == "Potential Suicide post")
        yield Row(r["Tweet"], {"self_harm": label}, "en", subset="set2")
