"""The OpenAPI description lists every status a route can answer, from one error table."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serve_app.http.in_process import served_app


def operation(path: str, method: str = "post") -> dict[str, Any]:
    spec = served_app().openapi()
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def schema_name(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/moderate/batch"])
def test_native_routes_list_every_status_in_the_native_shape(path: str) -> None:
    responses = operation(path)["responses"]
    assert {"200", "400", "401", "413", "415", "422", "429", "503"} <= set(responses)
    assert {schema_name(r) for s, r in responses.items() if s != "200"} == {"ErrorResponse"}


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/moderations", "OpenAIErrorResponse"),
        ("/v1alpha1/comments:analyze", "GoogleErrorResponse"),
    ],
)
def test_compat_routes_list_their_statuses_in_their_shape(path: str, shape: str) -> None:
    responses = operation(path)["responses"]
    assert {"200", "400", "401", "429", "503"} <= set(responses)
    # FastAPI adds a 422 to every route with a body; these routes answer 400 instead.
    assert {schema_name(r) for s, r in responses.items() if s not in ("200", "422")} == {shape}


def test_ready_lists_its_503() -> None:
    responses = operation("/v1/ready", "get")["responses"]
    assert schema_name(responses["503"]) == "ReadyResponse"


def test_review_routes_use_the_same_table() -> None:
    claim = operation("/v1/reviews/{review_id}/claim")["responses"]
    assert {"401", "404", "409", "413", "415", "503"} <= set(claim)
    assert schema_name(claim["409"]) == "ErrorResponse"
