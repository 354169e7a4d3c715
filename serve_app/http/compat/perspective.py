"""Perspective ``POST /v1alpha1/comments:analyze`` on top of the native text scores.

Perspective API shuts down at the end of 2026; a client written against it (request and
response as in its public reference, ``conversationai/perspectiveapi``) can point at modserve
unchanged. Attributes map one to one onto native text categories:

| Perspective attribute | native category |
|-----------------------|-----------------|
| TOXICITY              | toxicity        |
| SEVERE_TOXICITY       | severe_toxicity |
| IDENTITY_ATTACK       | identity_attack |
| INSULT                | insult          |
| PROFANITY             | profanity       |
| THREAT                | threat          |
| SEXUALLY_EXPLICIT     | sexual          |
| SPAM                  | spam            |

Any other attribute is refused as Perspective refuses it ("Unknown requested attribute"), in
Google's error shape. ``spanAnnotations`` scores each sentence (a simple punctuation splitter)
through the same text path as the whole comment; ``begin``/``end`` are UTF-16 offsets, as in
Perspective. ``detectedLanguages`` is the language the text model detected (left out when it
cannot tell); ``languages`` echoes the request's, or else is the detected one; ``doNotStore`` is
accepted and has no effect because this endpoint never stores a comment. A native category the
answering analyzer did not score (e.g. ``severe_toxicity`` while the regex fallback stands in)
reads 0.0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serve_app.http.errors import ApiError
from serve_app.http.schemas import RequestBody

ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "profanity",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual",
    "SPAM": "spam",
}
SCORE_TYPE = "PROBABILITY"
MAX_TOKEN_CHARS = 256  # clientToken, sessionId, communityId
MAX_LANGUAGES = 16
MAX_ATTRIBUTES = 32  # more than exist, so an unknown one is named in the error
Short = Annotated[str, Field(max_length=64)]  # attribute names, score and comment types
Language = Annotated[str, Field(max_length=35)]  # the longest BCP 47 tag in practical use

# A sentence runs to its closing punctuation (or a line break, or the end of the text).
_SENTENCE = re.compile(r"[^.!?。！？\n]*(?:[.!?。！？]+|\n|$)")


class TextEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    type: Short | None = Field(
        None, description='Only "PLAIN_TEXT" is supported, as in Perspective.'
    )


class Context(BaseModel):
    """Accepted for compatibility; Perspective's own models ignore it too."""

    model_config = ConfigDict(extra="allow")


class AttributeParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scoreType: Short | None = Field(None, description='Only "PROBABILITY".')
    scoreThreshold: float | None = Field(None, description="Scores below this are left out.")


class AnalyzeCommentRequest(RequestBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "comment": {"text": "What kind of idiot name is foo? Sorry, I like your name."},
                    "languages": ["en"],
                    "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
                    "spanAnnotations": True,
                    "doNotStore": True,
                }
            ]
        },
    )

    comment: TextEntry
    requestedAttributes: dict[Short, AttributeParameters] = Field(
        max_length=MAX_ATTRIBUTES,
        description="Attribute name -> options ({} for defaults): " + ", ".join(ATTRIBUTES),
    )
    context: Context | None = None
    languages: list[Language] | None = Field(
        None, max_length=MAX_LANGUAGES, description="Echoed; not detected."
    )
    spanAnnotations: bool = Field(False, description="Also score each sentence.")
    doNotStore: bool = Field(False, description="Accepted; modserve never stores comments here.")
    clientToken: str | None = Field(
        None,
        max_length=MAX_TOKEN_CHARS,
        description="Echoed; not an author, so not rate-limited (the API key is).",
    )
    sessionId: str | None = Field(None, max_length=MAX_TOKEN_CHARS)
    communityId: str | None = Field(None, max_length=MAX_TOKEN_CHARS)


class Score(BaseModel):
    value: float
    type: Literal["PROBABILITY"]


class SpanScore(BaseModel):
    begin: int
    end: int
    score: Score


class AttributeScores(BaseModel):
    summaryScore: Score
    spanScores: list[SpanScore] | None = None


class AnalyzeCommentResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "attributeScores": {
                        "TOXICITY": {"summaryScore": {"value": 0.93, "type": "PROBABILITY"}}
                    },
                    "languages": ["en"],
                }
            ]
        }
    )

    attributeScores: dict[str, AttributeScores]
    languages: list[str]
    detectedLanguages: list[str] | None = None
    clientToken: str | None = None


def checked_text(request: AnalyzeCommentRequest, max_chars: int) -> str:
    """The comment text, or the 400 Perspective gives for a request it cannot score."""
    if not request.requestedAttributes:
        raise ApiError(400, "invalid_argument", "Missing requested_attributes")
    for name, options in request.requestedAttributes.items():
        if name not in ATTRIBUTES:
            raise ApiError(400, "invalid_argument", f"Unknown requested attribute: {name}")
        if options.scoreType not in (None, SCORE_TYPE):
            message = (
                f"Requested score type {options.scoreType} is not supported by attribute {name}"
            )
            raise ApiError(400, "invalid_argument", message)
    if request.comment.type not in (None, "PLAIN_TEXT"):
        raise ApiError(
            400, "invalid_argument", "Currently, only 'PLAIN_TEXT' comments are supported"
        )
    if not request.comment.text.strip():
        raise ApiError(400, "invalid_argument", "Comment must be non-empty.")
    if len(request.comment.text) > max_chars:
        raise ApiError(400, "invalid_argument", "Comment text too long.")
    return request.comment.text


def sentence_spans(text: str, limit: int) -> list[tuple[int, int]]:
    """``(begin, end)`` character offsets of each sentence, whitespace trimmed, in order.

    After ``limit - 1`` sentences the rest of the text is one span, so one comment never fans
    out into more model calls than a batch may.
    """
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        begin, end = match.start(), match.end()
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if end > begin:
            spans.append((begin, end))
    if len(spans) > limit:
        spans[limit - 1 :] = [(spans[limit - 1][0], spans[-1][1])]
    return spans


def utf16_offset(text: str, index: int) -> int:
    """The UTF-16 code-unit offset of character ``index`` (Perspective counts in UTF-16)."""
    return len(text[:index].encode("utf-16-le")) // 2


def analyze_response(
    request: AnalyzeCommentRequest,
    summary: Mapping[str, float],
    spans: Sequence[tuple[tuple[int, int], Mapping[str, float]]],
    detected: str | None = None,
) -> dict[str, Any]:
    """The Perspective response from the native scores of the comment and of each span, and
    the comment's detected language (None or "und": unknown)."""
    text = request.comment.text
    attribute_scores: dict[str, Any] = {}
    for name, options in request.requestedAttributes.items():
        threshold = options.scoreThreshold or 0.0
        value = summary.get(ATTRIBUTES[name], 0.0)
        if value < threshold:
            continue  # Perspective leaves out scores under the requested threshold
        entry: dict[str, Any] = {"summaryScore": _score(value)}
        if request.spanAnnotations:
            entry["spanScores"] = [
                {
                    "begin": utf16_offset(text, begin),
                    "end": utf16_offset(text, end),
                    "score": _score(scores.get(ATTRIBUTES[name], 0.0)),
                }
                for (begin, end), scores in spans
                if scores.get(ATTRIBUTES[name], 0.0) >= threshold
            ]
        attribute_scores[name] = entry
    found = [detected] if detected and detected != "und" else []
    body: dict[str, Any] = {
        "attributeScores": attribute_scores,
        "languages": request.languages or found,
    }
    if found:
        body["detectedLanguages"] = found
    if request.clientToken is not None:
        body["clientToken"] = request.clientToken
    return body


def _score(value: float) -> dict[str, Any]:
    return {"value": value, "type": SCORE_TYPE}
