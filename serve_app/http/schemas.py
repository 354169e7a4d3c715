"""The HTTP contract: request and response models of the native API.

Pydantic validates at the edge; everything past the ingress sees plain Python values and the
dataclasses of ``deployments.signals``. Limits that depend on settings (text length, image
bytes) are checked by the ingress, so that the one place they are configured is the settings.
Every string a client chooses has a bound here, and every request body is a ``RequestBody``:
text that is not valid Unicode is refused before any field is read, so it never reaches a
model, a log line or a cache.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from deployments.signals import Decision, Platform
from serve_app.http.errors import printable

# As a policy file's own ``name`` (deployments/policy/schema.py): no other name can be loaded.
POLICY_NAME = r"^[a-z0-9][a-z0-9_-]*$"
MAX_POLICY_NAME = 64
MAX_ID_CHARS = 256  # content_id, author_id


def _valid(text: str) -> bool:
    """Encodable (no lone surrogate) and free of NUL, which no text means and PostgreSQL
    refuses to store."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def invalid_text(data: Any, skip: Collection[str] = ()) -> str | None:
    """Where in parsed JSON ``data`` the first string (key or value) that is not valid text is,
    as a dotted path ("" for ``data`` itself), or None when there is none.

    JSON's ``\\ud800`` escape decodes to a lone UTF-16 surrogate, which Python holds in a str
    but no encoder can write: the models, the regex fallback and the response would fail on it.
    ``\\u0000`` decodes to NUL, which the PostgreSQL review store cannot hold.
    Iterative, so a body nested as deep as the JSON parser allows is walked without recursion.
    ``skip`` names top-level keys whose values are checked elsewhere (a batch's items).
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if not _valid(value):
                return path
        elif isinstance(value, dict):
            children = []
            for key, child in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not _valid(key):
                    return where
                if path or key not in skip:
                    children.append((where, child))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            items = [(f"{path}.{i}" if path else str(i), c) for i, c in enumerate(value)]
            stack.extend(reversed(items))
    return None


class RequestBody(BaseModel):
    """A request body: refused with 400 ``invalid_text`` when any string in it is not valid
    Unicode text (see ``invalid_text``), before its fields are validated."""

    unchecked: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = invalid_text(data, cls.unchecked)
        if where is not None:
            raise PydanticCustomError(
                "invalid_text",
                "{field}: not valid Unicode text (a lone surrogate such as \\ud800, or NUL)",
                {"field": printable(where) or "body"},
            )
        return data


class ModerationRequest(RequestBody):
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

    content_id: str = Field(
        min_length=1, max_length=MAX_ID_CHARS, description="Your id for the post."
    )
    text: str | None = Field(None, description="Text of the post (at most max_text_chars).")
    image_base64: str | None = Field(
        None, description="Image bytes, base64 (JPEG, PNG, WEBP or GIF; at most 10 MB decoded)."
    )
    author_id: str = Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="Who posted it; rate-limited per author (the id compared after NFKC, "
        "case folding and removing whitespace and invisible format characters).",
    )
    platform: Platform = Field(description="Where it was posted; selects policy overrides.")
    timestamp: datetime | None = Field(None, description="When it was posted (ISO 8601).")
    policy: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_POLICY_NAME,
        pattern=POLICY_NAME,
        description="Policy name (lower-case letters, digits, '-', '_'); the default if absent.",
    )

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


class BatchRequest(RequestBody):
    unchecked = frozenset({"items"})  # each item is checked on its own, failing only itself
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
