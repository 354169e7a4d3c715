"""The text ensemble: MiniLM embeddings + trained heads, a char n-gram model, and a combiner.

Both components give a logit per category; a per-category logistic combiner fit on a held-out
calibration fold of the training data turns the pair into one calibrated probability, so 0.5
means what a policy threshold assumes. All trained weights live in one safetensors file with a
JSON manifest beside it; this module only reads them (``train.py`` writes them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from deployments.signals import CATEGORY_DESCRIPTIONS, CategoryInfo, Signal
from deployments.text.encoder import EMBEDDING_DIM, MiniLMEncoder
from deployments.text.ngram import NgramLinear, hash_texts
from deployments.text.normalize import normalize

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
WEIGHTS_FILE = "text_model.safetensors"
MANIFEST_FILE = "text_model.json"


class EmbeddingHead(torch.nn.Module):
    """A small multi-task MLP over sentence embeddings: one logit per trained category."""

    def __init__(self, num_categories: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(EMBEDDING_DIM, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, num_categories),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(embeddings)
        return out


@dataclass
class TextWeights:
    """Everything training produces: the two components, the combiner and the manifest."""

    head: EmbeddingHead
    ngram: NgramLinear
    combiner: torch.Tensor  # (categories, 3): weight on head logit, on n-gram logit, bias
    manifest: dict[str, Any]

    @property
    def categories(self) -> list[str]:
        return list(self.manifest["categories"])

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"head.{k}": v.half() for k, v in self.head.state_dict().items()}
        tensors["ngram.weight"] = self.ngram.bag.weight.detach().half()
        tensors["ngram.bias"] = self.ngram.bias.detach().float()
        tensors["combiner"] = self.combiner.float()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS_FILE))
        (directory / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> TextWeights:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        tensors = load_file(str(directory / WEIGHTS_FILE))
        n = len(manifest["categories"])
        head = EmbeddingHead(n, hidden=manifest["head_hidden"])
        head.load_state_dict(
            {k[5:]: v.float() for k, v in tensors.items() if k.startswith("head.")}
        )
        ngram = NgramLinear(manifest["buckets"], n)
        ngram.bag.weight.data = tensors["ngram.weight"].float()
        ngram.bias.data = tensors["ngram.bias"].float()
        return cls(head.eval(), ngram.eval(), tensors["combiner"].float(), manifest)


def combine(combiner: torch.Tensor, head: torch.Tensor, ngram: torch.Tensor) -> torch.Tensor:
    """Calibrated ensemble probabilities from the two components' logits, per category."""
    return torch.sigmoid(head * combiner[:, 0] + ngram * combiner[:, 1] + combiner[:, 2])


@dataclass(frozen=True)
class TextScores:
    """Probabilities per component and for the ensemble, shape (texts, categories)."""

    categories: list[str]
    head: np.ndarray
    ngram: np.ndarray
    ensemble: np.ndarray


class TextModel:
    """Scores texts over the categories the trained artifact advertises. No Ray in here."""

    def __init__(
        self,
        artifact_dir: Path = ARTIFACT_DIR,
        device: str = "auto",
        encoder: MiniLMEncoder | None = None,
    ) -> None:
        self.weights = TextWeights.load(artifact_dir)
        manifest = self.weights.manifest
        self.encoder = encoder or MiniLMEncoder(device=device, max_length=manifest["max_length"])
        self.weights.head.to(self.encoder.device)
        self.version: str = manifest["version"]
        self.advertised: list[str] = list(manifest["advertised"])

    def categories(self) -> list[CategoryInfo]:
        return [
            CategoryInfo(name, "text", "model", CATEGORY_DESCRIPTIONS[name])
            for name in self.advertised
        ]

    @torch.inference_mode()
    def score(self, texts: Sequence[str]) -> TextScores:
        """Probabilities for every trained category (advertised or not); used by evaluation."""
        clean = [normalize(t) for t in texts]
        emb = torch.from_numpy(self.encoder.encode(clean)).to(self.encoder.device)
        head = self.weights.head(emb).float().cpu()
        ngram = self.weights.ngram(hash_texts(clean, self.weights.ngram.buckets))
        ensemble = combine(self.weights.combiner, head, ngram)
        return TextScores(
            categories=self.weights.categories,
            head=torch.sigmoid(head).numpy(),
            ngram=torch.sigmoid(ngram).numpy(),
            ensemble=ensemble.numpy(),
        )

    def predict(self, texts: Sequence[str]) -> list[Signal]:
        """One Signal per text, in order, over the advertised categories."""
        scores = self.score(texts)
        cols = [scores.categories.index(c) for c in self.advertised]
        return [
            Signal(
                analyzer="text",
                modality="text",
                model_version=self.version,
                scores=_row(scores.ensemble[i], self.advertised, cols),
                details={
                    "minilm_head": _row(scores.head[i], self.advertised, cols),
                    "char_ngram": _row(scores.ngram[i], self.advertised, cols),
                },
            )
            for i in range(len(texts))
        ]


def _row(values: np.ndarray, names: list[str], cols: list[int]) -> dict[str, float]:
    return {name: round(float(values[col]), 4) for name, col in zip(names, cols, strict=True)}
