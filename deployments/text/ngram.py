"""N-gram linear models: character n-grams (cheap, multilingual, hard to dodge by misspelling)
and word n-grams (what a bag-of-words classifier sees: whole words and word pairs).

Character 2-5-grams of the normalised, lower-cased text are hashed (CRC32, stable across
processes, unlike ``hash()``) into a fixed number of buckets, weighted by sublinear term
frequency and L2-normalised, then scored by one linear layer per category. Where the
transformer sees meaning, this model sees spelling; the ensemble uses both.

``hash_texts`` computes the CRC32s with numpy over a whole batch at once: one
``zlib.crc32`` call per gram was a seventh of the serving time. ``hash_text_reference`` is
the plain definition it must match (a test pins the two together). ``hash_words`` does the
same for word 1-2-grams (a few per text, so plain ``zlib.crc32`` is cheap enough), with the
same weighting.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

NGRAM_RANGE = (2, 5)
# Texts hashed together: bounds the working arrays when training hashes a whole corpus.
CHUNK_TEXTS = 1024
_MAX_UTF8 = 4  # bytes in one character


@dataclass(frozen=True)
class HashedBatch:
    """Bag-of-n-grams for a batch in EmbeddingBag form: flat ids, row offsets, row weights."""

    ids: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor


def padded_words(text: str) -> str:
    """The lower-cased words of ``text`` joined by one space, with a space at each end
    (so that grams mark word starts and ends); empty when there is no word."""
    words = text.lower().split()
    return f" {' '.join(words)} " if words else ""


def ngram_counts(text: str, low: int = NGRAM_RANGE[0], high: int = NGRAM_RANGE[1]) -> Counter[str]:
    padded = padded_words(text)
    grams: Counter[str] = Counter()
    for n in range(low, high + 1):
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def hash_text_reference(text: str, buckets: int) -> dict[int, float]:
    """Bucket -> weight for one text, one ``zlib.crc32`` per gram: the definition."""
    row: Counter[int] = Counter()
    for gram, count in ngram_counts(text).items():
        row[zlib.crc32(gram.encode("utf-8")) % buckets] += count
    tf = {bucket: 1.0 + math.log(count) for bucket, count in row.items()}
    norm = math.sqrt(sum(v * v for v in tf.values())) or 1.0
    return {bucket: v / norm for bucket, v in tf.items()}


def _crc_table() -> np.ndarray:
    """The byte table of the reflected CRC-32 (polynomial 0xEDB88320) that zlib computes."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()


def _crc_add_char(state: np.ndarray, data: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Feed each state the bytes data[lo:hi] of one character (1 to 4 bytes), in place."""
    for j in range(_MAX_UTF8):
        idx = lo + j
        more = idx < hi
        if not more.any():
            break  # all remaining characters are shorter (ASCII text stops after one byte)
        fed = _CRC_TABLE[(state ^ data[idx]) & 0xFF] ^ (state >> 8)
        np.copyto(state, fed, where=more)


def _gram_hashes(padded: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text index, CRC32) of every gram occurrence in the padded texts.

    The CRC is extended one character at a time from every start position, so the state after
    n characters is the hash of the n-gram starting there.
    """
    lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    data = np.frombuffer("".join(padded).encode("utf-8"), dtype=np.uint8)
    starts = np.flatnonzero((data & 0xC0) != 0x80)  # the first byte of each character
    # Past the last character every bound is the end, so those characters have no bytes.
    bounds = np.concatenate([starts, np.full(NGRAM_RANGE[1] + 1, len(data))])
    data = np.concatenate([data, np.zeros(_MAX_UTF8, dtype=np.uint8)])
    chars = np.arange(len(starts))
    text_of = np.repeat(np.arange(len(padded)), lengths)
    room = np.repeat(np.cumsum(lengths), lengths) - chars  # characters left in its own text
    state = np.full(len(chars), 0xFFFFFFFF, dtype=np.uint32)
    texts, crcs = [], []
    for n in range(1, NGRAM_RANGE[1] + 1):
        _crc_add_char(state, data, bounds[chars + n - 1], bounds[chars + n])
        if n >= NGRAM_RANGE[0]:
            inside = room >= n
            texts.append(text_of[inside])
            crcs.append(state[inside] ^ np.uint32(0xFFFFFFFF))
    return np.concatenate(texts), np.concatenate(crcs)


def _first_and_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys (sorted), the index of each one's first occurrence, and its count.

    One plain sort of key-and-position pairs: ``np.unique(return_index=True)`` needs a stable
    argsort, several times slower. Fits int64 while keys * len(keys) < 2**63.
    """
    size = len(keys)
    tagged = np.sort(keys * size + np.arange(size))
    runs = np.flatnonzero(np.diff(tagged // size, prepend=-1))
    counts = np.diff(np.append(runs, size))
    return tagged[runs] // size, tagged[runs] % size, counts


def _hash_chunk(texts: Sequence[str], buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids, row offsets and weights exactly as ``hash_text_reference`` gives them.

    Buckets keep the reference's order (first occurrence, shorter grams first), so that the
    EmbeddingBag adds them up in the same order and the logits stay bit-identical.
    """
    text_of, crc = _gram_hashes([padded_words(t) for t in texts])
    keys, first, counts = _first_and_counts(text_of * buckets + crc % buckets)
    order = np.argsort(keys // buckets * max(len(crc), 1) + first)
    keys, counts = keys[order], counts[order]
    rows = keys // buckets
    tf = 1.0 + np.log(counts)
    norm = np.sqrt(np.bincount(rows, weights=tf * tf, minlength=len(texts)))
    offsets = np.searchsorted(rows, np.arange(len(texts)))
    return keys % buckets, offsets, tf / norm[rows]


_WORD = re.compile(r"[^\W_]+")
WORD_NGRAMS = 2


def word_grams(text: str) -> list[str]:
    """Lower-cased words and adjacent word pairs of ``text``."""
    words = _WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def hash_words(texts: Sequence[str], buckets: int) -> HashedBatch:
    """Bag of word 1-2-grams per text, hashed and weighted as ``hash_text_reference``."""
    ids: list[int] = []
    offsets: list[int] = []
    weights: list[float] = []
    for text in texts:
        row: Counter[int] = Counter(
            zlib.crc32(g.encode("utf-8")) % buckets for g in word_grams(text)
        )
        tf = [1.0 + math.log(c) for c in row.values()]
        norm = math.sqrt(sum(v * v for v in tf)) or 1.0
        offsets.append(len(ids))
        ids += row
        weights += [v / norm for v in tf]
    return HashedBatch(
        ids=torch.tensor(ids, dtype=torch.int64),
        offsets=torch.tensor(offsets, dtype=torch.int64),
        weights=torch.tensor(weights, dtype=torch.float32),
    )


def hash_texts(texts: Sequence[str], buckets: int) -> HashedBatch:
    ids, offsets, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    done = 0
    for start in range(0, len(texts), CHUNK_TEXTS):
        chunk_ids, chunk_offsets, chunk_weights = _hash_chunk(
            texts[start : start + CHUNK_TEXTS], buckets
        )
        ids.append(chunk_ids)
        offsets.append(chunk_offsets + done)
        weights.append(chunk_weights)
        done += len(chunk_ids)
    return HashedBatch(
        ids=torch.from_numpy(np.concatenate(ids).astype(np.int64)),
        offsets=torch.from_numpy(np.concatenate(offsets).astype(np.int64)),
        weights=torch.from_numpy(np.concatenate(weights).astype(np.float32)),
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


# The n-gram components an artifact may have, by name, with the features each one reads.
HASHERS = {"char_ngram": hash_texts, "word_ngram": hash_words}
