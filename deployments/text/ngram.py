"""A character n-gram linear model: cheap, multilingual, and hard to dodge by misspelling.

Character 2-5-grams of the normalised, lower-cased text are hashed (CRC32, stable across
processes, unlike ``hash()``) into a fixed number of buckets, weighted by sublinear term
frequency and L2-normalised, then scored by one linear layer per category. Where the
transformer sees meaning, this model sees spelling; the ensemble uses both.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

NGRAM_RANGE = (2, 5)


@dataclass(frozen=True)
class HashedBatch:
    """Bag-of-n-grams for a batch in EmbeddingBag form: flat ids, row offsets, row weights."""

    ids: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor


def ngram_counts(text: str, low: int = NGRAM_RANGE[0], high: int = NGRAM_RANGE[1]) -> Counter[str]:
    words = text.lower().split()
    grams: Counter[str] = Counter()
    if not words:
        return grams
    padded = f" {' '.join(words)} "
    for n in range(low, high + 1):
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def hash_texts(texts: Sequence[str], buckets: int) -> HashedBatch:
    ids: list[int] = []
    weights: list[float] = []
    offsets: list[int] = []
    for text in texts:
        offsets.append(len(ids))
        row: Counter[int] = Counter()
        for gram, count in ngram_counts(text).items():
            row[zlib.crc32(gram.encode("utf-8")) % buckets] += count
        tf = {bucket: 1.0 + math.log(count) for bucket, count in row.items()}
        norm = math.sqrt(sum(v * v for v in tf.values())) or 1.0
        ids.extend(tf)
        weights.extend(v / norm for v in tf.values())
    return HashedBatch(
        ids=torch.tensor(ids, dtype=torch.long),
        offsets=torch.tensor(offsets, dtype=torch.long),
        weights=torch.tensor(weights, dtype=torch.float32),
    )


class NgramLinear(torch.nn.Module):
    """Logits per category from hashed n-grams: one weight row per bucket, one bias per class."""

    def __init__(self, buckets: int, num_categories: int) -> None:
        super().__init__()
        self.buckets = buckets
        # Sparse gradients: a batch touches a few thousand of the buckets, so training updates
        # only those rows (SparseAdam) instead of all of them every step.
        self.bag = torch.nn.EmbeddingBag(buckets, num_categories, mode="sum", sparse=True)
        torch.nn.init.zeros_(self.bag.weight)
        self.bias = torch.nn.Parameter(torch.zeros(num_categories))

    def forward(self, batch: HashedBatch) -> torch.Tensor:
        out: torch.Tensor = self.bag(batch.ids, batch.offsets, per_sample_weights=batch.weights)
        return out + self.bias
