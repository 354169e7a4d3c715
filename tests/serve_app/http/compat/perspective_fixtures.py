"""Perspective requests and responses as its public reference documents them.

From ``conversationai/perspectiveapi`` ``api_reference.md`` (AnalyzeComment request, response
and example; "Limits and errors" for the error messages). Scores differ by model, so the
expected responses pin the shape and the spans, not the values.
"""

from __future__ import annotations

from typing import Any

DOC_TEXT = "What kind of idiot name is foo? Sorry, I like your name."

# The documented example, with span annotations asked for.
EXAMPLE_REQUEST: dict[str, Any] = {
    "comment": {"text": DOC_TEXT},
    "languages": ["en"],
    "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
    "spanAnnotations": True,
}
# The two spans the documentation shows: [0, 31) and [32, 56).
EXAMPLE_SPANS = [(0, 31), (32, 56)]

# Every documented request field at once.
FULL_REQUEST: dict[str, Any] = {
    "comment": {"text": "You are an idiot.", "type": "PLAIN_TEXT"},
    "context": {"entries": [{"text": "An article", "type": "PLAIN_TEXT"}]},
    "requestedAttributes": {
        "TOXICITY": {"scoreType": "PROBABILITY"},
        "SEVERE_TOXICITY": {},
        "IDENTITY_ATTACK": {},
        "INSULT": {},
        "PROFANITY": {},
        "THREAT": {},
        "SEXUALLY_EXPLICIT": {},
        "SPAM": {},
    },
    "languages": ["en"],
    "doNotStore": True,
    "clientToken": "token-1",
    "sessionId": "session-1",
}

# Requests Perspective refuses, with the message its documentation gives.
REFUSED: list[tuple[dict[str, Any], str]] = [
    (
        {"comment": {"text": "hi"}, "requestedAttributes": {"FLIRTATION": {}}},
        "Unknown requested attribute: FLIRTATION",
    ),
    ({"comment": {"text": "hi"}, "requestedAttributes": {}}, "Missing requested_attributes"),
    (
        {"comment": {"text": "  "}, "requestedAttributes": {"TOXICITY": {}}},
        "Comment must be non-empty.",
    ),
    (
        {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "RAW"}}},
        "Requested score type RAW is not supported by attribute TOXICITY",
    ),
]


def check_response_shape(body: dict[str, Any], request: dict[str, Any]) -> None:
    """The documented AnalyzeComment response shape, for ``request``."""
    assert set(body) <= {"attributeScores", "languages", "detectedLanguages", "clientToken"}
    assert set(body["attributeScores"]) == set(request["requestedAttributes"])
    for scores in body["attributeScores"].values():
        assert set(scores) <= {"summaryScore", "spanScores"}
        assert scores["summaryScore"]["type"] == "PROBABILITY"
        assert 0.0 <= scores["summaryScore"]["value"] <= 1.0
        for span in scores.get("spanScores", []):
            assert set(span) == {"begin", "end", "score"}
            assert span["score"]["type"] == "PROBABILITY"
    assert body["languages"] == (request.get("languages") or body.get("detectedLanguages", []))
    assert body.get("clientToken") == request.get("clientToken")
