"""OpenAI ``POST /v1/moderations`` on top of the native scores: the one place the mapping lives.

Teams that call OpenAI's moderation endpoint can point their client at modserve
(``OpenAI(base_url="http://host:8000/v1")``) and change nothing else. The response has OpenAI's
exact shape (all 13 categories, always present); the scores are native modserve scores mapped
as below, per input type. A category is scored on an input type only when an analyzer that
answered advertises every native category it maps from; otherwise it is **not scored**: score
0.0, ``false``, and that input type is absent from ``category_applied_input_types``.

| OpenAI category        | text (native)                 | image (native)                  |
|------------------------|-------------------------------|---------------------------------|
| harassment             | insult                        | not scored                      |
| harassment/threatening | min(insult, threat)           | not scored                      |
| hate                   | identity_attack               | not scored                      |
| hate/threatening       | min(identity_attack, threat)  | not scored                      |
| illicit                | illicit                       | not scored                      |
| illicit/violent        | min(illicit, violence)        | not scored                      |
| self-harm              | self_harm                     | not scored                      |
| self-harm/intent       | not scored (1)                | not scored                      |
| self-harm/instructions | not scored                    | not scored                      |
| sexual                 | sexual                        | sexual (open_nsfw)              |
| sexual/minors          | sexual_minors (2)             | not scored                      |
| violence               | violence                      | not scored                      |
| violence/graphic       | not scored                    | gore, if the image model has it |

(1) the native ``self_harm`` model does not tell intent from other self-harm content, so only
    the parent category carries its score.
(2) no model scores ``sexual_minors`` today, so it is not scored; it will be when one does.

``min`` stands for "both": a threatening insult needs both signals. The category score is the
highest over the input types it was scored on. Native ``toxicity``, ``severe_toxicity``,
``profanity`` and ``spam`` have no OpenAI category and do not appear here (the native
``/v1/moderate`` has them).

``categories[c]`` is true when the default policy flags (review or block) every native
category ``c`` maps from, so a team's thresholds apply to this view too; ``flagged`` is true
when any category is, as in OpenAI's definition, and also whenever the policy does not allow
the input (an image that could not be scored goes to review, a blocklist term matched): an
input modserve could not clear is never answered unflagged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.signals import Modality, Signal
from serve_app.http.errors import ApiError
from serve_app.http.schemas import RequestBody

OPENAI_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# OpenAI category -> per input type, the native categories it needs (all of them; min score).
SOURCES: dict[str, dict[Modality, tuple[str, ...]]] = {
    "harassment": {"text": ("insult",)},
    "harassment/threatening": {"text": ("insult", "threat")},
    "hate": {"text": ("identity_attack",)},
    "hate/threatening": {"text": ("identity_attack", "threat")},
    "illicit": {"text": ("illicit",)},
    "illicit/violent": {"text": ("illicit", "violence")},
    "self-harm": {"text": ("self_harm",)},
    "self-harm/intent": {},
    "self-harm/instructions": {},
    "sexual": {"text": ("sexual",), "image": ("sexual",)},
    "sexual/minors": {"text": ("sexual_minors",)},
    "violence": {"text": ("violence",)},
    "violence/graphic": {"image": ("gore",)},
}
MODALITIES: tuple[Modality, ...] = ("text", "image")
DEFAULT_MODEL = "modserve"
MAX_MODEL_CHARS = 128  # OpenAI's model ids are tens of characters; it is only echoed

_DATA_URL = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,(?P<payload>.*)", re.DOTALL)


# --- request ---------------------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="A data URL, data:image/png;base64,... (remote URLs are refused)")


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["image_url"]
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class OpenAIModerationRequest(RequestBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"input": "you are a worthless idiot", "model": "omni-moderation-latest"},
                {"input": ["first comment", "second comment"]},
                {
                    "input": [
                        {"type": "text", "text": "look at this"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo..."},
                        },
                    ]
                },
            ]
        },
    )

    input: str | list[str] | list[Part] = Field(
        description="A string, a list of strings (one result each), or a list of text and "
        "image_url parts (one result for all of them)."
    )
    model: str | None = Field(
        None,
        max_length=MAX_MODEL_CHARS,
        description="Accepted and echoed; modserve has one model set.",
    )

    @field_validator("input")
    @classmethod
    def _not_empty_list(cls, value: str | list[str] | list[Part]) -> str | list[str] | list[Part]:
        if isinstance(value, list) and not value:
            raise ValueError("input must not be an empty list")
        return value


@dataclass(frozen=True)
class ModerationInput:
    """One thing to score: the text (parts joined) and at most one image, as base64."""

    text: str | None
    image_base64: str | None


def parse_inputs(request: OpenAIModerationRequest, max_items: int) -> list[ModerationInput]:
    """The request as one input per result; a remote image URL is refused (400), never fetched."""
    if isinstance(request.input, str):
        return [ModerationInput(request.input, None)]
    if len(request.input) > max_items:
        raise ApiError(400, "too_many_inputs", f"input has more than {max_items} items", "input")
    if all(isinstance(item, str) for item in request.input):
        return [ModerationInput(item, None) for item in request.input if isinstance(item, str)]
    parts = [item for item in request.input if not isinstance(item, str)]
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    images = [image_payload(p.image_url.url) for p in parts if isinstance(p, ImagePart)]
    if len(images) > 1:
        raise ApiError(400, "too_many_images", "at most one image_url part per input", "input")
    return [ModerationInput("\n".join(texts) or None, images[0] if images else None)]


def image_payload(url: str) -> str:
    """The base64 payload of a ``data:image/...;base64,`` URL."""
    if url.startswith(("http://", "https://")):
        raise ApiError(
            400,
            "remote_image_url",
            "modserve never fetches URLs: send the image inline as a data URL "
            "(data:image/png;base64,...)",
            "input",
        )
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise ApiError(
            400, "invalid_image_url", "image_url must be a data:image/...;base64, URL", "input"
        )
    return match["payload"]


# --- mapping ---------------------------------------------------------------------------------


def scores_by_modality(signals: Sequence[Signal]) -> dict[Modality, dict[str, float]]:
    """The highest native score per category for each input type that some analyzer scored."""
    merged: dict[Modality, dict[str, float]] = {}
    for signal in signals:
        table = merged.setdefault(signal.modality, {})
        for name, score in signal.scores.items():
            table[name] = max(score, table.get(name, 0.0))
    return merged


def openai_result(
    signals: Sequence[Signal], flagged_native: Collection[str], allowed: bool = True
) -> dict[str, Any]:
    """One OpenAI ``Moderation`` object from the signals of one input, the policy's flags and
    whether the policy allowed it."""
    native = scores_by_modality(signals)
    categories: dict[str, bool] = {}
    scores: dict[str, float] = {}
    applied: dict[str, list[str]] = {}
    for name in OPENAI_CATEGORIES:
        score, flagged, types = 0.0, False, list[str]()
        for modality, sources in SOURCES[name].items():
            table = native.get(modality, {})
            if not sources or not all(s in table for s in sources):
                continue  # not scored on this input type
            types.append(modality)
            score = max(score, min(table[s] for s in sources))
            flagged = flagged or all(s in flagged_native for s in sources)
        categories[name], scores[name], applied[name] = flagged, score, types
    return {
        "flagged": any(categories.values()) or not allowed,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    }


def openai_response(model: str | None, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"modr-{uuid.uuid4().hex}", "model": model or DEFAULT_MODEL, "results": results}


# --- response (for the OpenAPI description; the dicts above are validated against it) --------


def _field(category: str) -> Any:
    return Field(alias=category)


class _ByAlias(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class OpenAICategories(_ByAlias):
    harassment: bool
    harassment_threatening: bool = _field("harassment/threatening")
    hate: bool
    hate_threatening: bool = _field("hate/threatening")
    illicit: bool
    illicit_violent: bool = _field("illicit/violent")
    self_harm: bool = _field("self-harm")
    self_harm_intent: bool = _field("self-harm/intent")
    self_harm_instructions: bool = _field("self-harm/instructions")
    sexual: bool
    sexual_minors: bool = _field("sexual/minors")
    violence: bool
    violence_graphic: bool = _field("violence/graphic")


class OpenAICategoryScores(_ByAlias):
    harassment: float
    harassment_threatening: float = _field("harassment/threatening")
    hate: float
    hate_threatening: float = _field("hate/threatening")
    illicit: float
    illicit_violent: float = _field("illicit/violent")
    self_harm: float = _field("self-harm")
    self_harm_intent: float = _field("self-harm/intent")
    self_harm_instructions: float = _field("self-harm/instructions")
    sexual: float
    sexual_minors: float = _field("sexual/minors")
    violence: float
    violence_graphic: float = _field("violence/graphic")


InputType = Literal["text", "image"]


class OpenAIAppliedInputTypes(_ByAlias):
    harassment: list[InputType]
    harassment_threatening: list[InputType] = _field("harassment/threatening")
    hate: list[InputType]
    hate_threatening: list[InputType] = _field("hate/threatening")
    illicit: list[InputType]
    illicit_violent: list[InputType] = _field("illicit/violent")
    self_harm: list[InputType] = _field("self-harm")
    self_harm_intent: list[InputType] = _field("self-harm/intent")
    self_harm_instructions: list[InputType] = _field("self-harm/instructions")
    sexual: list[InputType]
    sexual_minors: list[InputType] = _field("sexual/minors")
    violence: list[InputType]
    violence_graphic: list[InputType] = _field("violence/graphic")


class OpenAIModeration(BaseModel):
    flagged: bool
    categories: OpenAICategories
    category_scores: OpenAICategoryScores
    category_applied_input_types: OpenAIAppliedInputTypes


class OpenAIModerationResponse(BaseModel):
    id: str = Field(description='"modr-" and a random hex id.')
    model: str = Field(description="The requested model, echoed.")
    results: list[OpenAIModeration]
