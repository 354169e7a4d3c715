"""Quality figures for the text ensemble on held-out validation splits.

Used twice: by training, to decide which categories the artifact may advertise, and by
``modserve eval text``. Figures are computed per category over all sets that label it (pooled)
and per set, for each component and for the ensemble, so a regression shows where it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from deployments.text.data import Example
from deployments.text.metrics import auroc, average_precision, f1_at
from deployments.text.model import TextScores

COMPONENTS = ("ensemble", "head", "ngram")


def label_matrix(examples: Sequence[Example], categories: Sequence[str]) -> np.ndarray:
    """Labels as floats with NaN where a set says nothing about a category."""
    y = np.full((len(examples), len(categories)), np.nan, dtype=np.float32)
    for i, ex in enumerate(examples):
        for j, cat in enumerate(categories):
            if cat in ex.labels:
                y[i, j] = ex.labels[cat]
    return y


def _figures(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | int]:
    return {
        "n": int(len(y)),
        "positives": int((y >= 0.5).sum()),
        "auroc": _round(auroc(y, p)),
        "auprc": _round(average_precision(y, p)),
        "f1": _round(f1_at(y, p, threshold)),
    }


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 4)


def evaluate(
    scores: TextScores, examples: Sequence[Example], threshold: float = 0.5
) -> dict[str, dict[str, dict[str, float | int]]]:
    """``{"pooled": {category/component: figures}, "<set>": {category: ensemble figures}}``."""
    y = label_matrix(examples, scores.categories)
    sources = np.array([ex.source for ex in examples])
    report: dict[str, dict[str, dict[str, float | int]]] = {"pooled": {}}
    for j, cat in enumerate(scores.categories):
        known = ~np.isnan(y[:, j])
        if not known.any():
            continue
        for comp in COMPONENTS:
            probs = getattr(scores, comp)[:, j]
            key = cat if comp == "ensemble" else f"{cat}/{comp}"
            report["pooled"][key] = _figures(y[known, j], probs[known], threshold)
        for source in sorted(set(sources[known])):
            rows = known & (sources == source)
            report.setdefault(source, {})[cat] = _figures(
                y[rows, j], scores.ensemble[rows, j], threshold
            )
    return report


def format_table(report: dict[str, dict[str, dict[str, float | int]]]) -> str:
    """A readable table: one line per (set, category), pooled rows first."""
    lines = [f"{'set':44} {'category':26} {'n':>6} {'pos':>5} {'AUROC':>6} {'AUPRC':>6} {'F1':>6}"]
    for source, cats in report.items():
        for cat, f in cats.items():
            lines.append(
                f"{source:44} {cat:26} {f['n']:>6} {f['positives']:>5} "
                f"{f['auroc']:>6.3f} {f['auprc']:>6.3f} {f['f1']:>6.3f}"
            )
    return "\n".join(lines)
