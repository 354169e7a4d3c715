from __future__ import annotations

import base64

import pytest
from openai.types import Moderation, ModerationCreateResponse
from openai.types.moderation import CategoryScores

from deployments.signals import Signal
from serve_app.http.compat.openai import (
    OPENAI_CATEGORIES,
    SOURCES,
    OpenAIModerationRequest,
    OpenAIModerationResponse,
    openai_response,
    openai_result,
    parse_inputs,
)
from serve_app.http.errors import ApiError

TEXT_CATEGORIES = (
    "toxicity",
    "insult",
    "identity_attack",
    "threat",
    "sexual",
    "self_harm",
    "violence",
    "spam",
)


def text_signal(**scores: float) -> Signal:
    table = {name: 0.01 for name in TEXT_CATEGORIES} | scores
    return Signal("text", "text", "text-v1", table)


def image_signal(**scores: float) -> Signal:
    return Signal("image", "image", "image-v1", {"sexual": 0.02, "gore": 0.03} | scores)


def request(raw: object) -> OpenAIModerationRequest:
    return OpenAIModerationRequest.model_validate({"input": raw})


def test_categories_are_openais_own() -> None:
    aliases = {f.alias or name for name, f in CategoryScores.model_fields.items()}
    assert set(OPENAI_CATEGORIES) == aliases == set(SOURCES)


def test_result_parses_as_the_openai_package_type_without_losing_a_key() -> None:
    result = openai_result([text_signal(insult=0.9)], ["insult"])
    parsed = Moderation.model_validate(result)
    assert parsed.model_dump(by_alias=True) == result
    response = openai_response("omni-moderation-latest", [result])
    assert ModerationCreateResponse.model_validate(response).model == "omni-moderation-latest"
    assert response["id"].startswith("modr-")
    OpenAIModerationResponse.model_validate(response)  # the documented schema says the same


def test_text_scores_map_and_the_policy_flags() -> None:
    result = openai_result([text_signal(insult=0.9, threat=0.6, identity_attack=0.2)], ["insult"])
    assert result["category_scores"]["harassment"] == 0.9
    assert result["category_scores"]["harassment/threatening"] == 0.6  # min(insult, threat)
    assert result["category_scores"]["hate/threatening"] == 0.2
    assert result["categories"]["harassment"] is True
    assert result["categories"]["harassment/threatening"] is False  # threat was not flagged
    assert result["flagged"] is True


def test_nothing_flagged_means_not_flagged() -> None:
    result = openai_result([text_signal(toxicity=0.99)], ["toxicity"])
    assert result["flagged"] is False  # toxicity has no OpenAI category
    assert not any(result["categories"].values())


def test_an_input_the_policy_did_not_allow_is_never_unflagged() -> None:
    # e.g. its image could not be scored (review), or a blocklist term matched
    assert openai_result([text_signal()], [], allowed=False)["flagged"] is True
    assert openai_result([text_signal()], [], allowed=True)["flagged"] is False


def test_categories_without_a_native_signal_are_present_and_not_scored() -> None:
    result = openai_result([text_signal()], [])
    not_scored = ("illicit", "illicit/violent", "self-harm/intent", "self-harm/instructions")
    for name in (*not_scored, "sexual/minors"):
        assert result["category_scores"][name] == 0.0
        assert result["category_applied_input_types"][name] == []
    assert result["category_applied_input_types"]["violence/graphic"] == []  # no image sent
    assert result["category_applied_input_types"]["harassment"] == ["text"]


def test_image_scores_sexual_and_graphic_violence_only() -> None:
    result = openai_result([image_signal(sexual=0.97, gore=0.4)], ["sexual"])
    assert result["category_scores"]["sexual"] == 0.97
    assert result["category_scores"]["violence/graphic"] == 0.4
    assert result["category_applied_input_types"]["sexual"] == ["image"]
    assert result["category_applied_input_types"]["violence/graphic"] == ["image"]
    assert result["category_applied_input_types"]["harassment"] == []
    assert result["categories"]["sexual"] is True


def test_text_and_image_together_take_the_higher_score() -> None:
    result = openai_result([text_signal(sexual=0.3), image_signal(sexual=0.8)], [])
    assert result["category_scores"]["sexual"] == 0.8
    assert result["category_applied_input_types"]["sexual"] == ["text", "image"]


def test_an_image_model_without_gore_does_not_score_graphic_violence() -> None:
    signal = Signal("image", "image", "image-v1", {"sexual": 0.5})
    result = openai_result([signal], [])
    assert result["category_applied_input_types"]["violence/graphic"] == []


def test_inputs_string_list_and_parts() -> None:
    assert [i.text for i in parse_inputs(request("hi"), 10)] == ["hi"]
    assert [i.text for i in parse_inputs(request(["a", "b"]), 10)] == ["a", "b"]
    png = base64.b64encode(b"\x89PNG....").decode()
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    (single,) = parse_inputs(request(parts), 10)
    assert single.text == "look" and single.image_base64 == png


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}], "remote"),
        ([{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}], "remote"),
        ([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}], "invalid"),
        ([{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}], "invalid"),
        (["a", "b", "c"], "too_many_inputs"),
    ],
)
def test_refused_inputs(raw: object, code: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_inputs(request(raw), 2)
    assert info.value.status == 400 and info.value.code.startswith(code)
    assert info.value.field == "input"


def test_remote_url_message_says_modserve_never_fetches() -> None:
    raw = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    with pytest.raises(ApiError, match="never fetches"):
        parse_inputs(request(raw), 2)


@pytest.mark.parametrize(
    "raw", [[], [1], [{"type": "audio"}], ["a", {"type": "text", "text": "b"}]]
)
def test_malformed_input_fails_validation(raw: object) -> None:
    with pytest.raises(ValueError):
        request(raw)
