"""The HTTP contract: request and response models of the native API.

Pydantic validates at the edge; everything past the ingress sees plain Python values and the
dataclasses of ``deployments.signals``. Limits that depend on settings (text length, image
bytes) are checked by the ingress, so that the one place they are configured is the settings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.signals import Decision, Platform


class ModerationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "content_id": "post-123",
                    "text": "you are a worthless idiot",
                    "author_id": "user-42",
                    "platform": "reddit",
                }
            ]
        },
    )

    content_id: str = Field(min_length=1, max_length=256, description="Your id for the post.")
    text: str | None = Field(None, description="Text of the post (at most max_text_chars).")
    image_base64: str | None = Field(
        None, description="Image bytes, base64 (JPEG, PNG, WEBP or GIF; at most 10 MB decoded)."
    )
    author_id: str = Field(min_length=1, max_length=256, description="Who posted it.")
    platform: Platform = Field(description="Where it was posted; selects policy overrides.")
    timestamp: datetime | None = Field(None, description="When it was posted (ISO 8601).")
    policy: str | None = Field(None, description="Policy name; the default policy if absent.")

    @model_validator(mode="after")
    def _has_content(self) -> ModerationRequest:
        if not (self.text and self.text.strip()) and not self.image_base64:
            raise ValueError("give at least one of text or image_base64")
        return self


class ModerationResponse(BaseModel):
    content_id: str
    decision: Decision
    is_approved: bool = Field(description="True when the decision is allow.")
    confidence_score: float = Field(ge=0, le=1)
    flagged_categories: list[str]
    category_scores: dict[str, float]
    processing_time_ms: float
    model_version: str = Field(description="Versions of the analyzers that answered, joined.")
    degraded: bool = Field(description="True when a fallback answered instead of a model.")
    details: dict[str, object] = Field(
        description="Per-analyzer and per-model scores, the policy used and the decision reasons."
    )


class CategoryDescription(BaseModel):
    name: str
    modality: Literal["text", "image"]
    source: Literal["model", "lexicon", "rule"]
    analyzer: str
    description: str
    validation_auroc: dict[str, float] | None = Field(
        default=None,
        description='Validation AUROC of the model: "all" pooled over every labelled set, "en" '
        "over the English sets alone; null where nothing was measured",
    )


class CategoriesResponse(BaseModel):
    categories: list[CategoryDescription]


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    ready: bool
    deployments: dict[str, bool]


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "content_id": "post-1",
                            "text": "you are a worthless idiot",
                            "author_id": "user-42",
                            "platform": "reddit",
                        },
                        {
                            "content_id": "post-2",
                            "text": "thanks, this helped a lot",
                            "author_id": "user-7",
                            "platform": "reddit",
                        },
                    ]
                }
            ]
        },
    )

    items: list[Any] = Field(
        min_length=1,
        description="Native /v1/moderate requests (at most max_batch_items), each validated on "
        "its own so one bad item never fails the batch.",
    )


class BatchResponse(BaseModel):
    results: list[ModerationResponse | ErrorResponse] = Field(
        description="One per item, in order: the native response or that item's error."
    )
