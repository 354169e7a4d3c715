"""The compatibility endpoints and the batch endpoint against the running graph.

The OpenAI client is the real ``openai`` package; the Perspective requests are the documented
ones (``tests.serve_app.http.compat.perspective_fixtures.py``); schemathesis drives every operation
of ``/openapi.json`` with generated valid and invalid requests.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.integration.test_graph import BENIGN, TOXIC, b64, png
from tests.serve_app.http.compat.perspective_fixtures import (
    EXAMPLE_REQUEST,
    EXAMPLE_SPANS,
    FULL_REQUEST,
    REFUSED,
    check_response_shape,
)

pytestmark = pytest.mark.integration

SCHEMATHESIS_EXAMPLES = 4  # per operation and generation mode; keeps the run well under a minute


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_client_text(base_url: str) -> None:
    response = client(base_url).moderations.create(input=TOXIC, model="omni-moderation-latest")
    assert response.id.startswith("modr-") and response.model == "omni-moderation-latest"
    (result,) = response.results
    assert result.flagged and result.categories.harassment
    assert result.category_scores.harassment > 0.5
    assert result.category_applied_input_types.harassment == ["text"]
    assert result.category_applied_input_types.illicit == ["text"]
    assert result.category_scores.sexual_minors == 0.0  # not scored
    assert result.category_applied_input_types.sexual_minors == []


def test_openai_client_list(base_url: str) -> None:
    response = client(base_url).moderations.create(input=[TOXIC, BENIGN])
    toxic, benign = response.results
    assert toxic.flagged and not benign.flagged
    assert benign.category_scores.harassment < toxic.category_scores.harassment


def test_openai_client_image_part(base_url: str) -> None:
    parts: Any = [
        {"type": "text", "text": BENIGN},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(png())}"}},
    ]
    (result,) = client(base_url).moderations.create(input=parts).results
    assert result.category_applied_input_types.sexual == ["text", "image"]
    assert result.category_applied_input_types.violence_graphic == ["image"]
    assert not result.flagged


def test_openai_client_gets_a_400_for_a_remote_image(base_url: str) -> None:
    parts: Any = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError) as info:
        client(base_url).moderations.create(input=parts)
    assert "never fetches" in str(info.value)


def analyze(base_url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base_url}/v1alpha1/comments:analyze", json=body, timeout=60)


def test_perspective_documented_example(base_url: str) -> None:
    response = analyze(base_url, EXAMPLE_REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    check_response_shape(body, EXAMPLE_REQUEST)
    spans = body["attributeScores"]["INSULT"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == EXAMPLE_SPANS
    assert spans[0]["score"]["value"] > spans[1]["score"]["value"]  # "idiot" vs "I like"


def test_perspective_every_attribute(base_url: str) -> None:
    body = analyze(base_url, FULL_REQUEST).json()
    check_response_shape(body, FULL_REQUEST)
    assert body["attributeScores"]["INSULT"]["summaryScore"]["value"] > 0.5


@pytest.mark.parametrize(("request_body", "message"), REFUSED)
def test_perspective_refusals_in_googles_shape(
    base_url: str, request_body: dict[str, Any], message: str
) -> None:
    response = analyze(base_url, request_body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}
    }


def native_item(i: int, text: str) -> dict[str, Any]:
    return {"content_id": f"c{i}", "author_id": "a", "platform": "custom", "text": text}


def test_batch_answers_each_item_and_isolates_a_bad_one(base_url: str) -> None:
    items = [native_item(0, TOXIC), {"content_id": "bad", "text": "no platform"}, 7]
    items += [native_item(3, BENIGN), {**native_item(4, "hi"), "policy": "nope"}]
    response = httpx.post(f"{base_url}/v1/moderate/batch", json={"items": items}, timeout=60)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r.get("content_id") for r in results] == ["c0", None, None, "c3", None]
    assert results[0]["decision"] in {"review", "block"} and results[3]["decision"] == "allow"
    assert results[1]["error"]["code"] == "missing_field"
    assert results[2]["error"]["code"] == "invalid_field"
    assert results[4]["error"]["code"] == "unknown_policy"


def test_batch_limits(base_url: str) -> None:
    too_many = {"items": [native_item(i, "hi") for i in range(257)]}
    response = httpx.post(f"{base_url}/v1/moderate/batch", json=too_many, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    empty = httpx.post(f"{base_url}/v1/moderate/batch", json={"items": []}, timeout=60)
    assert empty.status_code == 422


def test_openapi_holds_for_generated_requests(base_url: str) -> None:
    """No 5xx, and status, content type and body as documented, for valid and invalid input."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":  # a GET without parameters has no invalid form
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(
                max_examples=SCHEMATHESIS_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                calls[case.operation.label] = calls.get(case.operation.label, 0) + 1
                case.call_and_validate(base_url=base_url, checks=checks, timeout=60)

            run()
    print(f"schemathesis: {sum(calls.values())} requests over {len(calls)} operations: {calls}")
    assert len(calls) >= 7
