"""``modserve eval text`` without a model: a word-list scorer stands in for the ensemble."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from deployments.normalize import normalize
from deployments.text.model import TextScores
from deployments.text.training import evaluate as ev
from deployments.text.training.data import TOXIC_SPANS, Example, load_handmade, toxic_spans_votes

CATS = ["toxicity", "insult", "identity_attack"]
REVIEW: dict[str, float | None] = {"toxicity": 0.5, "insult": 0.5, "identity_attack": 0.4}
BLOCK: dict[str, float | None] = {"toxicity": 0.85, "insult": 0.9, "identity_attack": 0.8}


def word_scorer(texts: Sequence[str]) -> TextScores:
    """Insult 0.9 when the normalised text has "idiot"; "hate" → identity attack; toxicity both.
    Spaced letters defeat it on purpose, because it reads raw text for "moron"."""
    rows = []
    for raw in texts:
        text = normalize(raw).lower()
        insult = 0.9 if "idiot" in text or "moron" in raw.lower() else 0.1
        attack = 0.8 if "hate" in text else 0.05
        rows.append([max(insult, attack), insult, attack])
    probs = np.array(rows, dtype=np.float32).reshape(len(texts), len(CATS))
    return TextScores(CATS, {"use_head": probs, "char_ngram": probs}, ensemble=probs)


def example(text: str, labels: dict[str, float], split: str = "validation",
            handmade: bool = False, source: str = "set-a") -> Example:
    return Example(text, source, "en", split, MappingProxyType(labels),  # type: ignore[arg-type]
                   handmade=handmade)


def examples() -> list[Example]:
    rows = [example(f"you idiot number {i}", {"insult": 1.0, "toxicity": 1.0}) for i in range(8)]
    rows += [example(f"you moron number {i}", {"insult": 1.0, "toxicity": 1.0}) for i in range(4)]
    rows += [example(f"lovely day number {i}", {"insult": 0.0, "toxicity": 0.0})
             for i in range(12)]
    rows += [example(f"train idiot {i}", {"insult": 1.0}, split="train") for i in range(20)]
    rows += [example(f"train moron {i}", {"insult": 1.0}, split="train") for i in range(20)]
    rows += [example(f"train nice day {i}", {"insult": 0.0}, split="train") for i in range(40)]
    return rows


def test_handmade_rows_never_reach_any_figure() -> None:
    val = [e for e in examples() if e.split == "validation"]
    forged = [example("you lovely idiot", {"insult": 0.0}, handmade=True, source="handmade/x")]
    assert ev.evaluable(val + forged) == val  # even one claiming the validation split
    clean = ev.evaluate(word_scorer([e.text for e in val]), val, REVIEW)
    mixed = ev.evaluate(word_scorer([e.text for e in val + forged]), val + forged, REVIEW)
    assert mixed == clean
    assert "handmade/x" not in mixed


def test_shipped_handmade_rows_are_tagged_and_excluded() -> None:
    rows = load_handmade()
    assert {e.source.split("/")[0] for e in rows} == {"handmade"}
    assert "sexual_minors" not in set().union(*(e.labels for e in rows))
    forged = [Example(e.text, e.source, e.language, "validation", e.labels, handmade=True)
              for e in rows[:50]]
    assert ev.evaluable(forged) == []
    sample = ev.obfuscation_sample(forged, ["toxicity", "identity_attack"], 10, seed=1)
    assert sample == []


def test_validation_figures_use_per_category_thresholds() -> None:
    val = ev.evaluable(examples())
    scores = word_scorer([e.text for e in val])
    strict = ev.evaluate(scores, val, {"insult": 0.95})
    assert strict["pooled"]["insult"]["f1"] == 0.0  # 0.9 never reaches 0.95
    assert ev.evaluate(scores, val, REVIEW)["pooled"]["insult"]["f1"] == 1.0
    assert set(strict["pooled"]) >= {"insult", "insult/use_head", "insult/char_ngram"}


def test_english_pool_leaves_other_languages_out() -> None:
    val = ev.evaluable(examples())
    # a German row the word scorer gets wrong: it lowers the pooled AUROC, not the English one
    german = Example("du Idiot", "set-de", "de", "validation",
                     MappingProxyType({"insult": 0.0}))  # type: ignore[arg-type]
    report = ev.evaluate(word_scorer([e.text for e in [*val, german]]), [*val, german], REVIEW)
    assert report["pooled-en"]["insult"]["n"] == 24
    assert report["pooled-en"]["insult"]["auroc"] == 1.0
    assert report["pooled"]["insult"]["n"] == 25 and report["pooled"]["insult"]["auroc"] < 1.0


def test_run_eval_reports_every_part_as_json(tmp_path: Path) -> None:
    toxic_spans_folder(tmp_path)
    result = ev.run_eval(word_scorer, examples(), REVIEW, BLOCK, obfuscation_per_category=50,
                         data_dir=tmp_path)
    json.dumps(result)  # JSON-able
    insult = result["validation"]["pooled"]["insult"]
    assert insult["n"] == 24 and insult["positives"] == 12 and insult["f1"] == 1.0

    obf = result["obfuscation"]
    assert obf["texts"] == 12 and set(obf["transform"]) == set(ev.obfuscate.ALL_TRANSFORMS)
    # "idiot" is read from normalised text, "moron" from raw text: every disguise of "moron"
    # is missed (4 of 12 texts); these disguises of "idiot" the normaliser always undoes
    assert obf["category"]["insult"]["clean_recall"] == 1.0
    for transform in ("spaced", "homoglyph", "zero_width", "wide"):
        assert obf["transform"][transform]["ratio"] == pytest.approx(8 / 12, abs=1e-3)
    assert obf["overall"]["ratio"] <= 8 / 12
    assert obf["missed_examples"]

    fair = result["fairness"]
    assert fair["function"]["hateful"]["review_rate"] > 0  # "I hate ..." is caught
    assert fair["neutral_identity"]["review_rate"] == 0.0
    assert set(result["agreement"]) == {TOXIC_SPANS}
    table = ev.format_report(result)
    assert "transform spaced" in table and "neutral_identity" in table and "insult" in table
    assert "rater agreement" in table
    with pytest.raises(ValueError, match="data folder"):
        ev.run_eval(word_scorer, examples(), REVIEW, BLOCK, parts=["agreement"])


def test_parts_can_be_skipped() -> None:
    result = ev.run_eval(word_scorer, examples(), REVIEW, BLOCK, parts=["validation"])
    assert set(result) == {"parts", "validation"}


def test_score_all_chunks_and_merges_in_order() -> None:
    texts = [f"idiot {i}" if i % 3 else f"fine {i}" for i in range(10)]
    merged = ev.score_all(word_scorer, texts, "t", chunk=3)
    assert np.array_equal(merged.ensemble, word_scorer(texts).ensemble)
    with pytest.raises(ValueError):
        ev.score_all(word_scorer, [], "t")


def test_rater_agreement_scores_a_panel_against_the_other_raters() -> None:
    yes, no = {"toxicity", "insult"}, set()
    agreeing = [[yes] * 7, [no] * 7, [no, no, yes, yes, yes, yes, no]]  # panel 1/3 vs majority
    figures = ev.rater_agreement(agreeing, "insult")
    assert (figures["n"], figures["positives"], figures["auroc"]) == (3, 2, 1.0)
    assert figures["f1"] == pytest.approx(2 / 3, abs=1e-3)  # the 1-of-3 panel is below 0.5
    opposed = [[yes] * 3 + [no] * 4, [no] * 3 + [yes] * 4]
    assert ev.rater_agreement(opposed, "insult")["auroc"] == 0.0
    skipped = [[yes] * 6, [yes] * 3 + [yes, yes, no, no]]  # too few raters; a 2-2 tie
    assert ev.rater_agreement(opposed + skipped, "insult")["n"] == 2


def toxic_spans_folder(root: Path) -> Path:
    """Toxic Spans' three files for three comments, raters in file order:

    - "you idiot": 7 votes; the first three raters' share of insult is 2/3, and 3 of the other
      4 mark it (a positive);
    - "nice day": 7 votes and one rater with neither spans nor "not toxic" (abstains); the first
      three's share is 2/3 too, but none of the other 4 mark it (a negative);
    - "what a day": 2 votes, too few for the panel.
    """
    folder = root / TOXIC_SPANS
    folder.mkdir()
    marks = {"c1": ["I", "IT", "", "I", "I", "I", ""], "c2": ["I", "I", "", "", "", "", "", "-"],
             "c3": ["I", ""]}
    spans, annotations = [("annotation", "type")], [("annotation", "comment_id", "not toxic")]
    for comment, raters in marks.items():
        for mark in raters:
            annotation = f"a{len(annotations)}"
            annotations.append((annotation, comment, str(mark == "")))
            spans += [(annotation, {"I": "Insult", "T": "Threat"}[m]) for m in mark.strip("-")]
    comments = [("comment_id", "comment_text"), ("c1", "you idiot"), ("c2", "nice day"),
                ("c3", "what a day")]
    for name, rows in {"spans": spans, "annotations": annotations, "comments": comments}.items():
        with gzip.open(folder / f"{name}.csv.gz", "wt", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return folder


def test_toxic_spans_votes_keep_each_raters_marks(tmp_path: Path) -> None:
    votes = dict(toxic_spans_votes(toxic_spans_folder(tmp_path)))
    assert votes["you idiot"][:3] == [{"toxicity", "insult"}, {"toxicity", "insult", "threat"},
                                      set()]
    assert len(votes["nice day"]) == 7  # the abstaining rater is not a vote
    assert votes["what a day"] == [{"toxicity", "insult"}, set()]


def test_agreement_puts_the_model_beside_the_raters_on_validation_comments(
    tmp_path: Path,
) -> None:
    toxic_spans_folder(tmp_path)
    held = [example(t, {"insult": 0.0}, source=ev.TOXIC_SPANS) for t in ("you idiot", "nice day")]
    report = ev.agreement_report(tmp_path, word_scorer, held)
    everyone = report[ev.TOXIC_SPANS]
    assert set(everyone) == {"toxicity", "insult", "threat", "identity_attack", "profanity"}
    assert (everyone["insult"]["n"], everyone["insult"]["auroc"]) == (2, 0.5)
    validation = report[f"{ev.TOXIC_SPANS} validation"]
    assert validation["insult/3 raters"]["auroc"] == 0.5
    assert validation["insult/model"]["auroc"] == 1.0  # "idiot" 0.9, "nice day" 0.1
    assert "threat/model" not in validation  # the scorer has no threat
    training = [dataclasses.replace(e, split="train") for e in held]
    assert set(ev.agreement_report(tmp_path, word_scorer, training)) == {ev.TOXIC_SPANS}
    assert ev.agreement_report(tmp_path / "elsewhere", word_scorer, held) == {}


def test_ordinary_posts_count_what_the_policy_sends_to_review_and_block() -> None:
    rows = [example(f"lovely day number {i}", {"insult": 0.0, "toxicity": 0.0}) for i in range(8)]
    quiet = {"identity_attack": 0.0, "insult": 0.0}
    rows += [example("I hate my alarm clock", quiet, source="set-b"),
             example("you idiot", quiet, source="set-b"),  # a set's own false label
             example("you moron", {"insult": 0.0}, source="set-b"),  # unlabelled identity_attack
             example("you idiot", {"insult": 1.0}, source="set-c")]  # harmful: not ordinary
    result = ev.run_eval(word_scorer, rows, REVIEW, BLOCK, parts=["ordinary"])["ordinary"]
    assert result["n"] == 10  # every harmless row of every set, and no harmful one
    assert result["review"] == 0.0 and result["block"] == 0.2  # both reach their block scores
    assert result["category"]["insult"] == {"review": 0.1, "block": 0.1}
    assert result["category"]["identity_attack"]["review"] == 0.1
    assert result["set"]["set-b"] == {"n": 2, "review": 0.0, "block": 1.0}
    assert result["length"]["1-280"] == {"n": 10, "review": 0.0, "block": 0.2}
    assert result["length"]["1001+"]["n"] == 0
    text = ev.format_report({"ordinary": result})
    assert "ordinary posts (10 harmless validation rows): review 0.00%, block 20.00%" in text


def test_each_language_gets_its_own_pool() -> None:
    rows = [dataclasses.replace(e, language="de" if i % 2 else "en")
            for i, e in enumerate(examples()) if e.split == "validation"]
    report = ev.evaluate(word_scorer([e.text for e in rows]), rows)
    assert report["pooled-de"]["insult"]["n"] + report["pooled-en"]["insult"]["n"] == len(rows)


POLICY_TEXT = """\
name: p
categories:
  # a comment stays
  toxicity:        {review: 0.74, block: 0.95}   # P 0.98
  insult:          {review: 0.43, block: null}
  illicit:         {review: 0.78, block: null}
  gore:            {review: 0.40, block: 0.80}
platforms:
  facebook:
    toxicity: {review: 0.74, block: 0.95}
"""


def test_derive_moves_only_the_thresholds_at_the_old_points() -> None:
    old = {"toxicity": {"review": 0.7432, "block": 0.9480},
           "insult": {"review": 0.434, "block": 0.8}, "illicit": {"review": 0.23, "block": 0.9}}
    new = {"toxicity": {"review": 0.8123, "block": 0.9480},
           "insult": {"review": 0.51, "block": 0.9}, "illicit": {"review": 0.31, "block": 0.95}}
    text, changes = ev.derive_policy(POLICY_TEXT, old, new)
    lines = text.splitlines()
    assert lines[3] == "  toxicity:        {review: 0.81, block: 0.95}   # P 0.98"
    assert lines[4] == "  insult:          {review: 0.51, block: null}"
    assert lines[5] == "  illicit:         {review: 0.78, block: null}"  # set by hand: kept
    assert lines[2] == "  # a comment stays"
    assert lines[6] == "  gore:            {review: 0.40, block: 0.80}"
    assert lines[-1] == "    toxicity: {review: 0.74, block: 0.95}"  # platform overrides kept
    assert changes == ["toxicity review 0.74 -> 0.81 (operating point 0.743 -> 0.812)",
                       "insult review 0.43 -> 0.51 (operating point 0.434 -> 0.510)"]
    assert ev.derive_policy(POLICY_TEXT, old, old) == (POLICY_TEXT, [])


def test_under_and_at_a_point_allow_the_two_decimal_rounding() -> None:
    assert ev.at_point(0.74, 0.7449) and not ev.at_point(0.74, 0.7451)
    assert not ev.under_point(0.74, 0.7449) and ev.under_point(0.74, 0.7451)
    assert not ev.under_point(0.90, 0.5)
