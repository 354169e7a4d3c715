from __future__ import annotations

from typing import Any

import pytest

from serve_app.http.compat.perspective import (
    ATTRIBUTES,
    AnalyzeCommentRequest,
    analyze_response,
    checked_text,
    sentence_spans,
    utf16_offset,
)
from serve_app.http.errors import ApiError
from tests.serve_app.http.compat.perspective_fixtures import (
    DOC_TEXT,
    EXAMPLE_REQUEST,
    EXAMPLE_SPANS,
    FULL_REQUEST,
    REFUSED,
    check_response_shape,
)


def native(value: float) -> dict[str, float]:
    return {category: value for category in ATTRIBUTES.values()}


def test_sentences_of_the_documented_example() -> None:
    assert sentence_spans(DOC_TEXT, 256) == EXAMPLE_SPANS


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("no punctuation at all", [(0, 21)]),
        ("  One.  Two!! Three?", [(2, 6), (8, 13), (14, 20)]),
        ("line one\nline two", [(0, 8), (9, 17)]),
        ("你好。再见！", [(0, 3), (3, 6)]),
        ("...", [(0, 3)]),
    ],
)
def test_sentence_spans(text: str, spans: list[tuple[int, int]]) -> None:
    assert sentence_spans(text, 256) == spans


def test_spans_past_the_limit_merge_into_the_last() -> None:
    assert sentence_spans("A. B. C. D.", 2) == [(0, 2), (3, 11)]


def test_offsets_count_utf16_code_units_as_perspective_does() -> None:
    text = "😀 ok"  # the emoji is one character, two UTF-16 code units
    assert utf16_offset(text, 2) == 3
    assert utf16_offset("abc", 3) == 3


def test_full_documented_request_is_accepted_and_answered_in_shape() -> None:
    request = AnalyzeCommentRequest.model_validate(FULL_REQUEST)
    assert checked_text(request, 5000) == "You are an idiot."
    body = analyze_response(request, native(0.7), [])
    check_response_shape(body, FULL_REQUEST)
    assert "spanScores" not in body["attributeScores"]["TOXICITY"]


def test_each_attribute_reads_its_native_category() -> None:
    request = AnalyzeCommentRequest.model_validate(FULL_REQUEST)
    scores = {category: i / 10 for i, category in enumerate(ATTRIBUTES.values())}
    body = analyze_response(request, scores, [])
    for attribute, category in ATTRIBUTES.items():
        assert body["attributeScores"][attribute]["summaryScore"]["value"] == scores[category]


def test_span_scores_use_each_span_own_scores() -> None:
    request = AnalyzeCommentRequest.model_validate(EXAMPLE_REQUEST)
    spans = [(EXAMPLE_SPANS[0], native(0.9)), (EXAMPLE_SPANS[1], native(0.1))]
    body = analyze_response(request, native(0.8), spans)
    check_response_shape(body, EXAMPLE_REQUEST)
    toxicity = body["attributeScores"]["TOXICITY"]
    assert [(s["begin"], s["end"], s["score"]["value"]) for s in toxicity["spanScores"]] == [
        (0, 31, 0.9),
        (32, 56, 0.1),
    ]


def test_score_threshold_leaves_out_lower_scores() -> None:
    raw = {**EXAMPLE_REQUEST, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.5}}}
    request = AnalyzeCommentRequest.model_validate(raw)
    assert analyze_response(request, native(0.4), [])["attributeScores"] == {}
    kept = analyze_response(request, native(0.6), [(EXAMPLE_SPANS[0], native(0.2))])
    assert kept["attributeScores"]["TOXICITY"]["spanScores"] == []


def test_a_category_the_analyzer_did_not_score_reads_zero() -> None:
    request = AnalyzeCommentRequest.model_validate(FULL_REQUEST)
    body = analyze_response(request, {"toxicity": 0.9}, [])
    assert body["attributeScores"]["SEVERE_TOXICITY"]["summaryScore"]["value"] == 0.0


@pytest.mark.parametrize(("raw", "message"), REFUSED)
def test_refused_as_perspective_refuses(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError) as info:
        checked_text(AnalyzeCommentRequest.model_validate(raw), 5000)
    assert info.value.status == 400 and info.value.message == message


def test_too_long_and_html_are_refused() -> None:
    long = AnalyzeCommentRequest.model_validate(
        {"comment": {"text": "x" * 11}, "requestedAttributes": {"TOXICITY": {}}}
    )
    with pytest.raises(ApiError, match="too long"):
        checked_text(long, 10)
    html = AnalyzeCommentRequest.model_validate(
        {"comment": {"text": "<b>x</b>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}
    )
    with pytest.raises(ApiError, match="PLAIN_TEXT"):
        checked_text(html, 10)


def test_the_detected_language_is_returned_and_languages_defaults_to_it() -> None:
    request = AnalyzeCommentRequest.model_validate(
        {"comment": {"text": "Das ist gut."}, "requestedAttributes": {"TOXICITY": {}}})
    body = analyze_response(request, native(0.1), [], "de")
    assert body["detectedLanguages"] == ["de"] and body["languages"] == ["de"]
    asked = request.model_copy(update={"languages": ["en"]})
    assert analyze_response(asked, native(0.1), [], "de")["languages"] == ["en"]  # echoed
    unknown = analyze_response(request, native(0.1), [], "und")
    assert "detectedLanguages" not in unknown and unknown["languages"] == []
