from __future__ import annotations

import math

import numpy as np
import pytest

from deployments.text.training.measures import auroc, average_precision, f1_at, recall_at


def test_perfect_and_inverted_ranking() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    assert auroc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auroc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert average_precision(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_ties_count_half() -> None:
    y = np.array([0, 1], dtype=float)
    assert auroc(y, np.array([0.5, 0.5])) == 0.5


def test_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300).astype(float)
    s = np.round(rng.random(300) + 0.4 * y, 2)
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(y, s) == pytest.approx(pairs)


def test_one_class_is_nan() -> None:
    assert math.isnan(auroc(np.ones(3), np.array([0.1, 0.2, 0.3])))
    assert math.isnan(average_precision(np.zeros(3), np.array([0.1, 0.2, 0.3])))


def test_f1_and_recall_at_threshold() -> None:
    y = np.array([1, 1, 0, 0], dtype=float)
    s = np.array([0.9, 0.4, 0.6, 0.1])
    assert f1_at(y, s, 0.5) == pytest.approx(0.5)
    assert recall_at(y, s, 0.5) == pytest.approx(0.5)
