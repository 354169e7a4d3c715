"""Ranking and threshold metrics in plain numpy, so evaluation needs no extra library."""

from __future__ import annotations

import numpy as np


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); NaN if one class."""
    y = labels >= 0.5
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as the mean precision at each positive."""
    y = labels >= 0.5
    if not y.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    hits = y[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    y = labels >= 0.5
    pred = scores >= threshold
    tp = int((y & pred).sum())
    denom = int(y.sum()) + int(pred.sum())
    return float(2 * tp / denom) if denom else float("nan")


def recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    y = labels >= 0.5
    return float((scores[y] >= threshold).mean()) if y.any() else float("nan")


def precision_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    pred = scores >= threshold
    return float((labels[pred] >= 0.5).mean()) if pred.any() else float("nan")
