"""The one error shape, pinned: every client-visible failure is {"error": {...}}."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_app.http.errors import ApiError, error_response, install_error_handlers
from serve_app.http.schemas import ModerationRequest


def make_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: ModerationRequest) -> dict[str, str]:
        if request.content_id == "boom":
            raise RuntimeError("bug")
        if request.content_id == "limited":
            raise ApiError(429, "rate_limited", "slow down", headers={"Retry-After": "1"})
        return {"content_id": request.content_id}

    return TestClient(app, raise_server_exceptions=False)


VALID = {"content_id": "a", "text": "hi", "author_id": "u", "platform": "reddit"}


def post(client: TestClient, body: Any, raw: bytes | None = None) -> Any:
    if raw is not None:
        return client.post("/echo", content=raw, headers={"content-type": "application/json"})
    return client.post("/echo", json=body)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({k: v for k, v in VALID.items() if k != "author_id"}, 422, "missing_field", "author_id"),
        ({**VALID, "platform": "myspace"}, 422, "invalid_field", "platform"),
        ({**VALID, "text": None}, 422, "invalid_field", None),
        ({**VALID, "text": "   "}, 422, "invalid_field", None),
        ({**VALID, "colour": "red"}, 422, "invalid_field", "colour"),
        ({**VALID, "timestamp": "yesterday"}, 422, "invalid_field", "timestamp"),
    ],
)
def test_validation_errors(body: dict[str, Any], status: int, code: str, field: str | None) -> None:
    response = post(make_client(), body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]


def test_malformed_json_is_400() -> None:
    response = post(make_client(), None, raw=b'{"content_id": ')
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "malformed_json", "message": "request body is not valid JSON"}
    }


def test_api_error_keeps_status_and_headers() -> None:
    response = post(make_client(), {**VALID, "content_id": "limited"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limited"


def test_unknown_route_and_method_use_the_shape() -> None:
    client = make_client()
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    assert client.get("/echo").json()["error"]["code"] == "method_not_allowed"


def test_a_bug_is_not_a_500_with_a_traceback() -> None:
    response = post(make_client(), {**VALID, "content_id": "boom"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "bug" not in response.text


def test_an_error_quoting_a_lone_surrogate_still_encodes() -> None:
    error = ApiError(422, "invalid_field", "unknown name '\ud800'", "a.\udc00")
    assert error.message == "unknown name '\\ud800'" and error.field == "a.\\udc00"
    assert b"\\\\ud800" in error_response(error).body


@pytest.mark.parametrize(
    "raw", [b"[" * 1000 + b"]" * 1000, b'{"content_id": "\xff"}', b'{"a": "\\ud800"']
)
def test_bodies_json_cannot_read_are_malformed_json(raw: bytes) -> None:
    response = post(make_client(), None, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
