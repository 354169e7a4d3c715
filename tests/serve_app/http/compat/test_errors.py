"""Compatibility routes answer errors in their client's shape; native routes keep theirs."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_app.http.compat.errors import google_error, openai_error
from serve_app.http.compat.openai import OpenAIModerationRequest
from serve_app.http.compat.perspective import AnalyzeCommentRequest
from serve_app.http.errors import ApiError, install_error_handlers


def make_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(
        app, {"/v1/moderations": openai_error, "/v1alpha1/comments:analyze": google_error}
    )

    @app.post("/v1/moderations")
    async def moderations(request: OpenAIModerationRequest) -> dict[str, str]:
        if request.input == "boom":
            raise RuntimeError("bug")
        raise ApiError(413, "text_too_long", "text is over 5 characters", "input")

    @app.post("/v1alpha1/comments:analyze")
    async def analyze(request: AnalyzeCommentRequest) -> dict[str, str]:
        raise ApiError(400, "invalid_argument", "Unknown requested attribute: FOO")

    @app.post("/v1/native")
    async def native() -> dict[str, str]:
        raise ApiError(413, "text_too_long", "too long", "text")

    return TestClient(app, raise_server_exceptions=False)


def test_openai_routes_answer_in_openai_shape() -> None:
    client = make_client()
    response = client.post("/v1/moderations", json={"input": "hello there"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "text is over 5 characters",
            "type": "invalid_request_error",
            "param": "input",
            "code": "text_too_long",
        }
    }
    invalid = client.post("/v1/moderations", json={"inputs": "typo"})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/v1/moderations", json={"input": "boom"}).status_code == 503


def test_perspective_routes_answer_in_google_shape() -> None:
    client = make_client()
    body = {"comment": {"text": "hi"}, "requestedAttributes": {"FOO": {}}}
    response = client.post("/v1alpha1/comments:analyze", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": 400,
            "message": "Unknown requested attribute: FOO",
            "status": "INVALID_ARGUMENT",
        }
    }
    malformed = client.post(
        "/v1alpha1/comments:analyze", content=b"{", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_native_routes_keep_the_native_shape() -> None:
    response = make_client().post("/v1/native")
    assert response.status_code == 413
    assert response.json() == {
        "error": {"code": "text_too_long", "message": "too long", "field": "text"}
    }
