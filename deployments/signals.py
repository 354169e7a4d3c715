"""The contract every analyzer speaks.

The ingress and the policy only ever see these shapes: an analyzer (text ensemble, image
classifier, regex fallback) turns one piece of content into a ``Signal`` with scores over the
native categories below, or into an ``InputError`` when the content itself is unusable. Keeping
the contract this narrow is what lets each deployment change or fail on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

# Where a post was made (policies may set thresholds per platform), and what is decided on it.
Platform = Literal["twitter", "facebook", "reddit", "custom"]
PLATFORMS: tuple[str, ...] = get_args(Platform)
Decision = Literal["allow", "review", "block"]
DECISIONS: tuple[str, ...] = get_args(Decision)

TEXT_CATEGORIES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "insult",
    "profanity",
    "identity_attack",
    "threat",
    "sexual",
    "sexual_minors",
    "self_harm",
    "violence",
    "illicit",
    "spam",
)
IMAGE_CATEGORIES: tuple[str, ...] = ("sexual", "violence", "gore")
ALL_CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(TEXT_CATEGORIES + IMAGE_CATEGORIES))

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "toxicity": "Rude, disrespectful or abusive content likely to make people leave a discussion.",
    "severe_toxicity": "Very hateful, aggressive or disrespectful content.",
    "insult": "Insulting, inflammatory or negative language aimed at a person or group.",
    "profanity": "Swear words, curse words and other obscene or profane language.",
    "identity_attack": "Hate or negativity aimed at someone because of who they are (an identity).",
    "threat": "Intent or a call to inflict pain, injury or violence on a person or group.",
    "sexual": "Sexually explicit content or sexual harassment.",
    "sexual_minors": "Sexual content that involves anyone under 18.",
    "self_harm": "Intent, ideation or encouragement of suicide or self-harm.",
    "violence": "Content that calls for, supports or glorifies violence.",
    "illicit": "Asking for or giving help with crimes: criminal planning, weapons, drugs, fraud.",
    "spam": "Unsolicited advertising, scams, phishing and link spam.",
    "gore": "Graphic images of blood, injury or death.",
}

Modality = Literal["text", "image"]
SignalSource = Literal["model", "lexicon", "rule"]


@dataclass(frozen=True)
class CategoryInfo:
    """What one analyzer can honestly score for one category, as shown by /v1/categories."""

    name: str
    modality: Modality
    source: SignalSource
    description: str
    # Validation AUROC of a trained model: "all" pooled over every labelled set, "en" over the
    # English sets alone. None where nothing was measured (lexicons, bundled image models).
    validation_auroc: dict[str, float] | None = None


@dataclass(frozen=True)
class Signal:
    """Scores in [0, 1] for the categories one analyzer covers, for one piece of content.

    ``details`` holds per-component scores (e.g. the transformer head and the n-gram model of
    the text ensemble) for the response's ``details`` field; ``degraded`` marks a signal that
    stands in for a model that could not answer; ``language`` is the detected language of a
    text (ISO 639-1, or ``und``), where the analyzer detects it.
    """

    analyzer: str
    modality: Modality
    model_version: str
    scores: dict[str, float]
    details: dict[str, dict[str, float]] = field(default_factory=dict)
    degraded: bool = False
    language: str | None = None


@dataclass(frozen=True)
class InputError:
    """Content an analyzer refuses (not a fault of the analyzer): the ingress answers 4xx."""

    code: str
    message: str
    field: str
    status: int = 400


AnalyzerResult = Signal | InputError
