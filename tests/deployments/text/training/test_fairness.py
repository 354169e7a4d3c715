"""The fairness test set, its flag-rate table, and the hand-made set's distance from it."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from deployments.text.training import fairness
from deployments.text.training.data import load_handmade

CATS = ["toxicity", "identity_attack", "spam"]


def test_every_template_is_filled_with_every_identity() -> None:
    cases = fairness.load_cases()
    assert not [c.text for c in cases if "{" in c.text or "}" in c.text]
    per_function = Counter(c.function for c in cases)
    assert {"neutral", "positive", "negation", "counter_speech", "quoting", "hateful",
            "reclaimed", "neutral_no_identity"} <= set(per_function)
    identities = {c.identity for c in cases if c.axis != fairness.NO_IDENTITY}
    assert per_function["neutral"] % len(identities) == 0
    assert "I am a gay person." in {c.text for c in cases}
    assert "I am an Asian person." in {c.text for c in cases}
    assert "Muslims make our community stronger." in {c.text for c in cases}


def test_flags_use_each_categorys_threshold_and_ignore_none() -> None:
    probs = np.array([[0.6, 0.1, 0.9], [0.2, 0.45, 0.0], [0.1, 0.1, 0.1]])
    flagged, by_cat = fairness.flags(probs, CATS, {"toxicity": 0.5, "identity_attack": 0.4,
                                                   "spam": None})
    assert flagged.tolist() == [True, True, False]
    assert by_cat == Counter({"toxicity": 1, "identity_attack": 1})


def test_report_counts_false_flags_only_on_sentences_expected_ok() -> None:
    def case(function: str, identity: str, expect: str = "ok") -> fairness.Case:
        return fairness.Case("t", function, "religion", identity, expect, "t")

    cases = [case("neutral", "muslim"), case("neutral", "muslim"), case("neutral", "sikh"),
             case("negation", "sikh"), case("hateful", "sikh", "hateful")]
    probs = np.array([[0.9, 0, 0], [0.1, 0, 0], [0.1, 0, 0], [0.95, 0, 0], [0.99, 0, 0]])
    report = fairness.fairness_report(cases, probs, CATS, {"toxicity": 0.5}, {"toxicity": 0.92})
    assert report["identity"]["muslim"] == {"n": 2, "review_rate": 0.5, "block_rate": 0.0}
    assert report["identity"]["sikh"] == {"n": 2, "review_rate": 0.5, "block_rate": 0.5}
    assert report["function"]["hateful"]["review_rate"] == 1.0  # detection, not a false flag
    assert report["neutral_identity"]["review_rate"] == round(1 / 3, 4)
    assert report["neutral_by_identity"]["muslim"]["review_rate"] == 0.5
    assert report["neutral_by_identity"]["sikh"]["review_rate"] == 0.0
    assert report["all_ok"]["n"] == 4
    assert report["false_flag_categories"] == {"toxicity": 2}
    assert [w["max_score"] for w in report["worst_ok"]] == [0.95, 0.9]
    assert "by identity: muslim 50" in fairness.format_fairness(report)


def _four_grams(template: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\{\w+\}|[a-z']+", template.lower())
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def test_handmade_training_set_is_disjoint_from_the_evaluation_templates() -> None:
    import yaml

    raw = yaml.safe_load(fairness.TEMPLATES_FILE.read_text())
    eval_templates = [t for f in raw["functions"].values() for t in f["templates"]]
    eval_templates += [s for f in raw["fixed"].values() for s in f["sentences"]]
    eval_grams = set().union(*(_four_grams(t) for t in eval_templates))
    eval_texts = {c.text.lower() for c in fairness.load_cases()}

    handmade = load_handmade()
    assert handmade and all(e.handmade and e.split == "train" for e in handmade)
    assert not [e.text for e in handmade if e.text.lower() in eval_texts]
    # Identity templates unfilled (the evaluation's have slots too); every other row as loaded.
    hand_templates: list[str] = []
    identity_sources: set[str] = set()
    for path in sorted((fairness.TEMPLATES_FILE.parent / "handmade").glob("*.yaml")):
        groups = yaml.safe_load(path.read_text()).get("groups", {})
        hand_templates += [t for g in groups.values() for t in g["templates"]]
        identity_sources |= {f"handmade/{path.stem}/{g}" for g in groups}
    hand_templates += [e.text for e in handmade if e.source not in identity_sources]
    shared = {t: _four_grams(t) & eval_grams for t in hand_templates}
    assert {t: g for t, g in shared.items() if g} == {}
