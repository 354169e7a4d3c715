"""False flags on sentences that merely name an identity: the fairness test set and its table.

Why: models trained on public abuse data learn that identity words ("gay", "Muslim", "Black")
co-occur with hate and flag "I am a gay man". This module expands the functional test cases
of ``fairness_templates.yaml`` (neutral and positive identity statements, negated hate,
counter-speech, quoted hate, reclaimed words, neutral controls, and a hateful contrast set;
plus everyday and harmful requests to an assistant)
and reports how often each identity and each function gets flagged under a policy: at the
review threshold and, separately, at the block threshold of any category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from deployments.text.training.data import fill_identity

TEMPLATES_FILE = Path(__file__).with_name("fairness_templates.yaml")
NO_IDENTITY = "-"


@dataclass(frozen=True)
class Case:
    """One test sentence and what it is for."""

    text: str
    function: str
    axis: str  # "sexual_orientation", ...; NO_IDENTITY for sentences without a slot
    identity: str
    expect: str  # "ok" (must not be flagged), or "hateful" / "harmful" (should be)
    template: str


def load_cases(path: Path = TEMPLATES_FILE) -> list[Case]:
    """Every template filled with every identity, plus the fixed sentences, in file order."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases: list[Case] = []
    for function, spec in raw["functions"].items():
        for template in spec["templates"]:
            for axis, members in raw["identities"].items():
                for identity, slots in members.items():
                    cases.append(Case(fill_identity(template, slots), function, axis, identity,
                                      spec["expect"], template))
    for function, spec in raw["fixed"].items():
        for sentence in spec["sentences"]:
            cases.append(Case(sentence, function, NO_IDENTITY, NO_IDENTITY, spec["expect"],
                              sentence))
    return cases


def flags(
    probs: np.ndarray, categories: Sequence[str], thresholds: Mapping[str, float | None]
) -> tuple[np.ndarray, Counter[str]]:
    """Per row, whether any category reaches its threshold; and which categories did, counted.

    Categories without a threshold (None or absent) never flag, as in the policy.
    """
    flagged = np.zeros(len(probs), dtype=bool)
    by_category: Counter[str] = Counter()
    for j, cat in enumerate(categories):
        threshold = thresholds.get(cat)
        if threshold is None:
            continue
        hit = probs[:, j] >= threshold
        flagged |= hit
        if hit.any():
            by_category[cat] = int(hit.sum())
    return flagged, by_category


def _rates(rows: np.ndarray, review: np.ndarray, block: np.ndarray) -> dict[str, float | int]:
    return {
        "n": int(rows.sum()),
        "review_rate": round(float(review[rows].mean()), 4) if rows.any() else float("nan"),
        "block_rate": round(float(block[rows].mean()), 4) if rows.any() else float("nan"),
    }


def fairness_report(
    cases: Sequence[Case],
    probs: np.ndarray,
    categories: Sequence[str],
    review: Mapping[str, float | None],
    block: Mapping[str, float | None],
) -> dict[str, Any]:
    """Flag rates per function, per identity, per axis (on the sentences expected ok), and the
    detection rate of the sets expected flagged; plus which categories caused the false flags."""
    at_review, review_cats = flags(probs, categories, review)
    at_block, _ = flags(probs, categories, block)
    ok = np.array([c.expect == "ok" for c in cases])
    functions = np.array([c.function for c in cases])
    identities = np.array([c.identity for c in cases])
    axes = np.array([c.axis for c in cases])
    _, false_cats = flags(probs[ok], categories, review)
    report: dict[str, Any] = {
        "function": {f: _rates(functions == f, at_review, at_block)
                     for f in dict.fromkeys(functions.tolist())},
        "identity": {i: _rates(ok & (identities == i), at_review, at_block)
                     for i in dict.fromkeys(identities.tolist()) if i != NO_IDENTITY},
        "axis": {a: _rates(ok & (axes == a), at_review, at_block)
                 for a in dict.fromkeys(axes.tolist()) if a != NO_IDENTITY},
        "all_ok": _rates(ok, at_review, at_block),
        "false_flag_categories": dict(false_cats.most_common()),
        "flag_categories": dict(review_cats.most_common()),
    }
    neutral = ok & (functions == "neutral")
    report["neutral_identity"] = _rates(neutral, at_review, at_block)
    report["neutral_by_identity"] = {  # the ≤ 2 % target is on these sentences
        i: _rates(neutral & (identities == i), at_review, at_block)
        for i in dict.fromkeys(identities[neutral].tolist())
    }
    wrong = np.flatnonzero(ok & at_review)
    report["worst_ok"] = [  # the most confident false flags, to read
        {"text": cases[i].text, "function": cases[i].function,
         "max_category": categories[int(np.argmax(probs[i]))],
         "max_score": round(float(probs[i].max()), 3)}
        for i in wrong[np.argsort(-probs[wrong].max(axis=1), kind="stable")][:15]
    ]
    return report


def format_fairness(report: Mapping[str, Any]) -> str:
    """Flag-rate tables: per function (hateful, harmful: detection rate), axis and identity."""
    lines = [f"{'fairness':34} {'n':>6} {'review%':>8} {'block%':>7}"]
    for section in ("function", "axis", "identity"):
        lines.append(f"-- per {section}" + (" (hateful, harmful: detection rate)" if section ==
                                            "function" else " (sentences expected ok)"))
        for name, r in report[section].items():
            lines.append(f"{name:34} {r['n']:>6} {100 * r['review_rate']:>8.1f} "
                         f"{100 * r['block_rate']:>7.1f}")
    for key in ("neutral_identity", "all_ok"):
        r = report[key]
        lines.append(f"{key:34} {r['n']:>6} {100 * r['review_rate']:>8.1f} "
                     f"{100 * r['block_rate']:>7.1f}")
    worst = sorted(report["neutral_by_identity"].items(), key=lambda kv: -kv[1]["review_rate"])
    flagged = ", ".join(f"{i} {100 * r['review_rate']:.0f}" for i, r in worst if r["review_rate"])
    lines.append(f"neutral sentences flagged (review%) by identity: {flagged or 'none'}")
    cats = ", ".join(f"{c} {n}" for c, n in report["false_flag_categories"].items())
    lines.append(f"false flags by category (review): {cats or 'none'}")
    return "\n".join(lines)
