"""The text ensemble: sentence-encoder heads, a char n-gram model, and a calibrated combiner.

Each component gives a logit per category: one small MLP head per sentence encoder the artifact
names (see ``encoder.py``) and one linear model per n-gram kind it names (characters, words).
A per-category logistic combiner fit on a held-out calibration fold of the training data turns
those logits into one calibrated probability, so 0.5 means what a policy threshold assumes.
All trained weights live in one safetensors file with a JSON manifest beside it; this module
only reads them (``training/train.py`` writes them).

A post is scored whole: a text longer than ``LONG_TEXT`` characters is read in overlapping
windows of ``WINDOW_CHARS``, what the encoder reads, and sentence by sentence, and the post gets
each category's highest score over its pieces. One abusive passage flags the post wherever it
stands: a sentence-vector model averages a threat away among the harmless sentences around it
("We walked along the river and talked about the garden." before "I am going to find you and
kill you." cuts its threat score from 0.69 to 0.09 with text model 5b855a2af9). Spam is what
a post is for, not a passage of it, so it is read from the windows only: a link on a line of
its own reads as spam (1.00) wherever it stands.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from deployments.normalize import normalize
from deployments.signals import CATEGORY_DESCRIPTIONS, CategoryInfo, Signal
from deployments.text.encoder import Encoder, load_encoder
from deployments.text.language import LanguageDetector
from deployments.text.ngram import HASHERS, NgramLinear

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"
WEIGHTS_FILE = "text_model.safetensors"
MANIFEST_FILE = "text_model.json"
METRICS_FILE = "metrics.json"  # training's validation report, beside the artifact
# Parts of that report (``evaluate.evaluate`` writes it): every validation row, the English rows.
POOLED, POOLED_EN = "pooled", "pooled-en"
NGRAM = "char_ngram"  # the n-gram component of every artifact; "word_ngram" where named
# Texts longer than LONG_TEXT are also scored per sentence. The encoder reads WINDOW_CHARS
# characters; a longer text or sentence is read in windows of that size overlapping by
# WINDOW_OVERLAP, so a phrase cut by one window is whole in the next.
LONG_TEXT = 280
WINDOW_CHARS = 512
WINDOW_OVERLAP = 96
# Categories of a post as a whole, read from its windows and never from a sentence alone. With
# spam read from sentences too (mostly a link on its own line), 15.3 % of the harmless
# validation posts of 281-1,000 characters went to review; with spam from windows, 13.0 %.
WHOLE_POST_CATEGORIES = frozenset({"spam"})
_SENTENCE_END = re.compile(r"(?<=[.!?;:…。！？])\s+|\s*\n\s*")
# Short names of the encoders' heads, used in tensor names and in per-component scores.
HEAD_NAMES = {
    "all-MiniLM-L6-v2": "minilm_head",
    "use-multilingual-v3": "use_head",
    "use-multilingual-v3-tokens": "use_tokens_head",
}


class EmbeddingHead(torch.nn.Module):
    """A small multi-task MLP over sentence embeddings: one logit per trained category."""

    def __init__(self, dim: int, num_categories: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, num_categories),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(embeddings)
        return out


@dataclass
class TextWeights:
    """Everything training produces: the heads, the n-gram models, the combiner, the manifest."""

    heads: dict[str, EmbeddingHead]  # encoder name -> its head, in manifest order
    ngrams: dict[str, NgramLinear]  # n-gram component name -> its model, in manifest order
    # (categories, components x categories + 1): per category, a weight for each component's
    # logit of each category (component-major, as ``combine`` concatenates them), then a bias
    combiner: torch.Tensor
    manifest: dict[str, Any]

    @property
    def categories(self) -> list[str]:
        return list(self.manifest["categories"])

    @property
    def components(self) -> list[str]:
        """Component names in combiner order: one head per encoder, then the n-gram models."""
        return [HEAD_NAMES[name] for name in self.heads] + list(self.ngrams)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"{HEAD_NAMES[name]}.{k}": v.half()
            for name, head in self.heads.items()
            for k, v in head.state_dict().items()
        }
        for name, ngram in self.ngrams.items():
            tensors[f"{_prefix(name)}.weight"] = ngram.bag.weight.detach().half()
            tensors[f"{_prefix(name)}.bias"] = ngram.bias.detach().float()
        tensors["combiner"] = self.combiner.float()
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / WEIGHTS_FILE))
        (directory / MANIFEST_FILE).write_text(json.dumps(self.manifest, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> TextWeights:
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        tensors = load_file(str(directory / WEIGHTS_FILE))
        n = len(manifest["categories"])
        heads = {}
        for name in manifest["encoders"]:
            prefix = f"{HEAD_NAMES[name]}."
            state = {
                k.removeprefix(prefix): v.float()
                for k, v in tensors.items()
                if k.startswith(prefix)
            }
            head = EmbeddingHead(state["net.0.weight"].shape[1], n, hidden=manifest["head_hidden"])
            head.load_state_dict(state)
            heads[name] = head.eval()
        ngrams = {}
        for name in manifest.get("ngrams", [NGRAM]):
            ngram = NgramLinear(manifest["buckets"], n)
            ngram.bag.weight.data = tensors[f"{_prefix(name)}.weight"].float()
            ngram.bias.data = tensors[f"{_prefix(name)}.bias"].float()
            ngrams[name] = ngram.eval()
        return cls(heads, ngrams, tensors["combiner"].float(), manifest)


def _prefix(ngram: str) -> str:
    """Tensor-name prefix of an n-gram component ("ngram" for the character model)."""
    return "ngram" if ngram == NGRAM else ngram


def validation_auroc(path: Path, version: str) -> dict[str, dict[str, float]]:
    """Per category, the ensemble's validation AUROC pooled over every set ("all") and over
    the English sets ("en"), from the metrics training wrote for this very artifact; empty
    when there is no such file or it belongs to another version."""
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if metrics.get("version") != version:
        return {}
    figures: dict[str, dict[str, float]] = {}
    for key, part in (("all", POOLED), ("en", POOLED_EN)):
        rows = metrics.get("validation", {}).get(part, {})
        for category in rows.keys() & CATEGORY_DESCRIPTIONS.keys():  # not the component keys
            auroc = rows[category].get("auroc")
            if isinstance(auroc, float) and math.isfinite(auroc):
                figures.setdefault(category, {})[key] = auroc
    return figures


def component_key(category: str, component: str) -> str:
    """The report key of one component's own figures for ``category``."""
    return f"{category}/{component}"


def combine(combiner: torch.Tensor, logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Calibrated ensemble probabilities, per category, from every component's logits of
    every category (most categories weigh only their own; see ``STACKED`` in train.py)."""
    features = torch.cat(list(logits), dim=1)  # (texts, components x categories)
    return torch.sigmoid(features @ combiner[:, :-1].T + combiner[:, -1])


@dataclass(frozen=True)
class TextScores:
    """Probabilities per component and for the ensemble, each of shape (texts, categories)."""

    categories: list[str]
    components: dict[str, np.ndarray]
    ensemble: np.ndarray


class TextModel:
    """Scores texts over the categories the trained artifact advertises. No Ray in here."""

    def __init__(
        self,
        artifact_dir: Path = ARTIFACT_DIR,
        device: str = "auto",
        encoders: Mapping[str, Encoder] | None = None,
    ) -> None:
        self.weights = TextWeights.load(artifact_dir)
        manifest = self.weights.manifest
        given = dict(encoders or {})
        self.encoders = {
            name: given.get(name) or load_encoder(name, device, manifest["max_length"])
            for name in self.weights.heads
        }
        for name, head in self.weights.heads.items():
            head.to(self.encoders[name].device)
        self.version: str = manifest["version"]
        self.advertised: list[str] = list(manifest["advertised"])
        self.validation_auroc = validation_auroc(artifact_dir / METRICS_FILE, self.version)
        self.languages = LanguageDetector()

    def categories(self) -> list[CategoryInfo]:
        return [
            CategoryInfo(name, "text", "model", CATEGORY_DESCRIPTIONS[name],
                         self.validation_auroc.get(name))
            for name in self.advertised
        ]

    def score(self, texts: Sequence[str]) -> TextScores:
        """Probabilities for every trained category (advertised or not), each text scored whole:
        the highest score over its pieces."""
        pieces = post_pieces(texts)
        embeddings = {name: self.encoders[name].encode(pieces.texts)
                      for name in self.weights.heads}
        return whole_posts(score_pieces(self.weights, embeddings, pieces.texts), pieces)

    def predict(self, texts: Sequence[str]) -> list[Signal]:
        """One Signal per text, in order, over the advertised categories."""
        scores = self.score(texts)
        cols = [scores.categories.index(c) for c in self.advertised]
        languages = self.languages.detect(texts)
        return [
            Signal(
                analyzer="text",
                modality="text",
                model_version=self.version,
                scores=_row(scores.ensemble[i], self.advertised, cols),
                details={
                    name: _row(probs[i], self.advertised, cols)
                    for name, probs in scores.components.items()
                },
                language=languages[i],
            )
            for i in range(len(texts))
        ]


@dataclass(frozen=True)
class Pieces:
    """What is scored for a batch of posts: the normalised pieces (``text_pieces``), each one's
    post (index into the batch), and which pieces are windows of a whole post (the others are
    its sentences)."""

    texts: list[str]
    owner: np.ndarray
    window: np.ndarray
    posts: int


def post_pieces(texts: Sequence[str]) -> Pieces:
    """Each of ``texts`` normalised and cut into the pieces that are scored."""
    pieces: list[str] = []
    owner: list[int] = []
    window: list[bool] = []
    for i, text in enumerate(texts):
        whole, sentences = text_pieces(normalize(text))
        pieces += whole + sentences
        owner += [i] * (len(whole) + len(sentences))
        window += [True] * len(whole) + [False] * len(sentences)
    return Pieces(pieces, np.array(owner, dtype=np.int64), np.array(window, dtype=bool),
                  len(texts))


def score_pieces(
    weights: TextWeights,
    embeddings: Mapping[str, np.ndarray],
    pieces: Sequence[str],
) -> TextScores:
    """Every component's and the ensemble's probabilities for normalised ``pieces``, from each
    encoder's ``embeddings`` of them (serving encodes them; training reads its cache)."""
    hashed = {name: HASHERS[name](pieces, m.buckets) for name, m in weights.ngrams.items()}
    with torch.inference_mode(), _one_torch_thread():
        logits = []
        for name, head in weights.heads.items():
            emb = torch.from_numpy(embeddings[name]).to(next(head.parameters()).device)
            logits.append(head(emb).float().cpu())
        logits += [ngram(hashed[name]) for name, ngram in weights.ngrams.items()]
        ensemble = combine(weights.combiner, logits)
    return TextScores(
        categories=weights.categories,
        components={
            name: torch.sigmoid(logit).numpy()
            for name, logit in zip(weights.components, logits, strict=True)
        },
        ensemble=ensemble.numpy(),
    )


def whole_posts(scores: TextScores, pieces: Pieces) -> TextScores:
    """Per post, each category's highest score over its pieces, over its windows alone for
    ``WHOLE_POST_CATEGORIES``."""
    if len(pieces.texts) == pieces.posts:
        return scores  # one piece per post, in order
    whole = [k for k, c in enumerate(scores.categories) if c in WHOLE_POST_CATEGORIES]

    def per_post(values: np.ndarray) -> np.ndarray:
        out = _max_by(values, pieces.owner, pieces.posts)
        if whole:
            windows = values[pieces.window][:, whole]
            out[:, whole] = _max_by(windows, pieces.owner[pieces.window], pieces.posts)
        return out

    return TextScores(
        categories=scores.categories,
        components={k: per_post(v) for k, v in scores.components.items()},
        ensemble=per_post(scores.ensemble),
    )


def text_pieces(text: str) -> tuple[list[str], list[str]]:
    """What is scored for one (normalised) text: (its windows, its distinct sentences not
    already a window); a text of at most ``LONG_TEXT`` characters is one window."""
    if len(text) <= LONG_TEXT:
        return [text], []
    whole = windows(text)
    sentences: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentences += windows(sentence) if sentence else []
    return whole, [s for s in dict.fromkeys(sentences) if s not in whole]


def windows(text: str, size: int = WINDOW_CHARS, overlap: int = WINDOW_OVERLAP) -> list[str]:
    """``text`` as pieces of at most ``size`` characters, each starting ``overlap`` characters
    before the previous one ended, cut at white space where there is some; one piece if short."""
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while True:
        end = start + size
        if end >= len(text):
            out.append(text[start:])
            return out
        cut = text.rfind(" ", start + size // 2, end)
        end = cut if cut > 0 else end
        out.append(text[start:end])
        start = max(end - overlap, start + 1)
        space = text.find(" ", start, end)
        start = space + 1 if 0 <= space < end else start


def _max_by(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Row-wise maximum of ``values`` per owner (each owner has at least one row)."""
    out = np.full((n, values.shape[1]), -1.0, dtype=values.dtype)
    np.maximum.at(out, owner, values)
    return out


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run the heads on one thread. Their ops are tiny, and on two threads each one waits at a
    barrier for the second core: on a loaded 2-core machine (load 4-5) a batch of 32 spent
    30-44 ms in the MLP head instead of 0.4 ms. Encoders keep their own thread settings."""
    with _TORCH_THREADS:  # two calls at once must not restore each other's setting
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


_TORCH_THREADS = threading.Lock()


def _row(values: np.ndarray, names: list[str], cols: list[int]) -> dict[str, float]:
    return {name: round(float(values[col]), 4) for name, col in zip(names, cols, strict=True)}
