"""Hostile input at the real Ingress app (in-process, fake text deployment, real policy):
refused at the edge with a clear 4xx in each endpoint's own error shape, never a 5xx, and
never passed on to a deployment."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from serve_app.ops.guard import sha256_hex
from tests.serve_app.http.in_process import ingress_client

Calls = list[tuple[str, str, tuple[Any, ...]]]
JSON = {"content-type": "application/json"}
POST = {"content_id": "p1", "text": "you idiot", "author_id": "u1", "platform": "reddit"}
LONE = '"hi \\ud800 there"'  # a JSON string whose escape decodes to a lone surrogate
NATIVE = '{"content_id": "%s", "author_id": "u", "platform": "reddit", "text": %s}'


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Calls]]:
    with ingress_client(tmp_path, monkeypatch) as pair:
        yield pair


def raw(client: TestClient, path: str, body: bytes, **headers: str) -> Any:
    return client.post(path, content=body, headers={**JSON, **headers})


def encodable(value: Any) -> bool:
    """Every string in ``value`` (nested in tuples, lists, dicts and dataclasses) encodes."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list | tuple):
        return all(encodable(v) for v in value)
    if isinstance(value, dict):
        return all(encodable(k) and encodable(v) for k, v in value.items())
    return True


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


# --- 3: text that is not valid Unicode -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/v1/moderate",
            NATIVE.replace("%s", "p", 1),
            {"error": {"code": "invalid_text", "field": "text"}},
        ),
        (
            "/v1/moderations",
            '{"input": [%s]}',
            {"error": {"param": "input.0", "code": "invalid_text"}},
        ),
        (
            "/v1alpha1/comments:analyze",
            '{"comment": {"text": %s}, "requestedAttributes": {"TOXICITY": {}}}',
            {"error": {"code": 400, "status": "INVALID_ARGUMENT"}},
        ),
    ],
)
def test_a_lone_surrogate_is_a_400_in_each_shape_and_reaches_no_deployment(
    graph: tuple[TestClient, Calls], path: str, body: str, expected: dict[str, Any]
) -> None:
    client, calls = graph
    answer = raw(client, path, (body % LONE).encode())
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert {k: error[k] for k in expected["error"]} == expected["error"]
    assert "not valid Unicode" in error["message"]
    assert not [c for c in calls if c[0] in ("text", "fallback")]


def test_a_lone_surrogate_fails_only_its_own_batch_item(graph: tuple[TestClient, Calls]) -> None:
    client, calls = graph
    items = [NATIVE % ("bad", LONE), NATIVE % ("ok", '"you idiot"')]
    answer = raw(client, "/v1/moderate/batch", ('{"items": [' + ", ".join(items) + "]}").encode())
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert first["error"]["code"] == "invalid_text" and first["error"]["field"] == "text"
    assert second["content_id"] == "ok" and second["degraded"] is False
    assert second["decision"] == "block"
    assert all(encodable(args) for _, _, args in calls)


def test_a_lone_surrogate_in_a_key_or_a_name_is_a_400_not_a_500(
    graph: tuple[TestClient, Calls],
) -> None:
    client, calls = graph
    key = raw(client, "/v1/moderate", b'{"\\udc00": 1}')
    assert key.status_code == 400 and key.json()["error"]["code"] == "invalid_text"
    attribute = raw(
        client,
        "/v1alpha1/comments:analyze",
        b'{"comment": {"text": "hi"}, "requestedAttributes": {"\\ud800": {}}}',
    )
    assert attribute.status_code == 400
    assert attribute.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert not calls


def test_nul_which_the_postgres_store_cannot_hold_is_refused_too(
    graph: tuple[TestClient, Calls],
) -> None:
    client, calls = graph
    answer = client.post("/v1/moderate", json={**POST, "content_id": "a\x00b"})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "content_id"
    assert not calls


def test_review_api_parameters_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ingress_client(tmp_path, monkeypatch, admin_token_sha256=sha256_hex("t")) as (client, _):
        admin = {"Authorization": "Bearer t"}
        for url in ("/v1/audit?after=" + "9" * 20, "/v1/reviews/" + "x" * 65,
                    "/v1/reviews?category=%00", "/v1/reviews?platform=myspace"):
            assert client.get(url, headers=admin).status_code == 422, url


def test_paired_surrogates_are_one_character_and_fine(graph: tuple[TestClient, Calls]) -> None:
    client, _ = graph
    body = NATIVE % ("e", '"ok \\ud83d\\ude00"')
    assert raw(client, "/v1/moderate", body.encode()).status_code == 200


# --- 4: every client-chosen string bounded; nothing cached by what clients send ---------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"policy": "x" * (1 << 20)}, "policy"),
        ({"policy": "Default"}, "policy"),
        ({"policy": "../default"}, "policy"),
        ({"content_id": "c" * 257}, "content_id"),
        ({"author_id": "a" * 257}, "author_id"),
    ],
)
def test_client_chosen_strings_are_bounded(
    graph: tuple[TestClient, Calls], change: dict[str, str], field: str
) -> None:
    client, calls = graph
    answer = client.post("/v1/moderate", json={**POST, **change})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field
    assert len(answer.content) < 1000  # the name is not echoed back
    assert not calls


def test_unknown_policies_are_refused_at_the_ingress_and_never_cached(
    graph: tuple[TestClient, Calls],
) -> None:
    client, calls = graph
    for i in range(100):
        answer = client.post("/v1/moderate", json={**POST, "policy": f"made-up-{i}"})
        assert answer.status_code == 422
        assert answer.json()["error"] == {
            "code": "unknown_policy",
            "message": f"unknown policy 'made-up-{i}'; loaded: default, strict",
            "field": "policy",
        }
    asked = [args for name, method, args in calls if name == "policy"]
    assert all(not any(str(a).startswith("made-up") for a in args) for args in asked)
    assert len(asked) <= 4 * 2  # one table (names + 3 limits), at most once more in the second
    assert client.post("/v1/moderate", json={**POST, "policy": "strict"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/moderations", {"input": "hi", "model": "m" * 129}),
        (
            "/v1alpha1/comments:analyze",
            {
                "comment": {"text": "hi"},
                "requestedAttributes": {"TOXICITY": {}},
                "clientToken": "t" * 257,
            },
        ),
        (
            "/v1alpha1/comments:analyze",
            {"comment": {"text": "hi"}, "requestedAttributes": {"A" * 65: {}}},
        ),
    ],
)
def test_compat_strings_are_bounded(
    graph: tuple[TestClient, Calls], path: str, body: dict[str, Any]
) -> None:
    client, calls = graph
    answer = client.post(path, json=body)
    assert answer.status_code == 400
    assert not calls


# --- 8: smaller gaps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 1000 + b"]" * 1000, b'{"text": "\xff\xfe"}', b'{"a": ' * 5000 + b"1" + b"}" * 5000],
)
@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/moderate/batch", "/v1/moderations"])
def test_unparseable_bodies_are_malformed_json(
    graph: tuple[TestClient, Calls], path: str, body: bytes
) -> None:
    client, _ = graph
    answer = raw(client, path, body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(
    graph: tuple[TestClient, Calls], content_type: str | None
) -> None:
    client, _ = graph
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post("/v1/moderate", content=b"hello", headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "unsupported_media_type"
    charset = {"content-type": "application/json; charset=utf-8"}
    assert client.post("/v1/moderate", content=b"{}", headers=charset).status_code == 422


def test_perspective_gets_415_as_its_own_400(graph: tuple[TestClient, Calls]) -> None:
    client, _ = graph
    plain = {"content-type": "text/plain"}
    answer = client.post("/v1alpha1/comments:analyze", content=b"hi", headers=plain)
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: base64.b64encode(data).decode(),
        lambda data: base64.encodebytes(data).decode(),  # MIME: a line break every 76
        lambda data: base64.encodebytes(data).decode().replace("\n", "\r\n"),
        lambda data: "data:image/png;base64," + base64.b64encode(data).decode(),
        lambda data: "data:image/png;base64," + base64.encodebytes(data).decode(),
    ],
)
def test_base64_as_clients_send_it(graph: tuple[TestClient, Calls], encode: Any) -> None:
    client, _ = graph
    body = {**POST, "text": None, "image_base64": encode(png())}
    answer = client.post("/v1/moderate", json=body)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("payload", ["data:image/png;base64,", "data:image/png;base64,\n", " "])
def test_an_empty_image_is_a_400(graph: tuple[TestClient, Calls], payload: str) -> None:
    client, _ = graph
    native = client.post("/v1/moderate", json={**POST, "image_base64": payload})
    assert native.status_code == 400 and native.json()["error"]["code"] == "invalid_image"
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,"}}
    openai = client.post("/v1/moderations", json={"input": [part]})
    assert openai.status_code == 400 and openai.json()["error"]["code"] == "invalid_image"


def test_the_review_page_forbids_foreign_script_and_framing(
    graph: tuple[TestClient, Calls],
) -> None:
    client, _ = graph
    headers = client.get("/review").headers
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_no_secret_is_accepted_from_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, key = "admin-secret", "key-secret"
    settings = {"admin_token_sha256": sha256_hex(admin), "api_key_sha256": (sha256_hex(key),)}
    with ingress_client(tmp_path, monkeypatch, **settings) as (client, _):
        in_url = client.get(f"/v1/reviews?key={admin}")
        assert in_url.status_code == 401 and "never in the URL" in in_url.json()["error"]["message"]
        assert client.get("/v1/reviews", headers={"X-API-Key": admin}).status_code == 200
        moderated = client.post(f"/v1/moderate?key={key}", json=POST)
        assert moderated.status_code == 401
        assert client.post("/v1/moderate", json=POST, headers={"X-API-Key": key}).status_code == 200
        perspective = {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}
        google = client.post(f"/v1alpha1/comments:analyze?key={key}", json=perspective)
        assert google.status_code == 401 and google.json()["error"]["status"] == "UNAUTHENTICATED"
        by_header = client.post(
            "/v1alpha1/comments:analyze", json=perspective, headers={"X-Goog-Api-Key": key}
        )
        assert by_header.status_code == 200


def test_a_body_over_the_limit_is_refused_by_length_and_while_chunked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = {"max_image_bytes": 3000, "max_body_bytes": 10_000}
    with ingress_client(tmp_path, monkeypatch, **limits) as (client, calls):
        big = {**POST, "text": "x" * 20_000}
        sized = client.post("/v1/moderate", json=big)
        assert sized.status_code == 413 and sized.json()["error"]["code"] == "body_too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"content_id": "c", "text": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'

        chunked = client.post("/v1/moderations", content=chunks(), headers=JSON)
        assert chunked.status_code == 400  # OpenAI's shape: every bad request is a 400
        assert chunked.json()["error"]["code"] == "body_too_large"
        assert not calls


@pytest.mark.parametrize("spelling", ["x", "X", " x", "x\u200b", "\uff58", "x\u00a0"])
def test_author_ids_that_read_alike_share_one_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    limits = {"rate_limit_per_s": 0.001, "rate_limit_burst": 2}
    with ingress_client(tmp_path, monkeypatch, **limits) as (client, _):
        for _ in range(2):
            assert client.post("/v1/moderate", json={**POST, "author_id": "x"}).status_code == 200
        again = client.post("/v1/moderate", json={**POST, "author_id": spelling})
        assert again.status_code == 429 and again.json()["error"]["field"] == "author_id"
        assert client.post("/v1/moderate", json={**POST, "author_id": "y"}).status_code == 200


def test_compat_endpoints_have_the_per_key_limit_in_their_own_shapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "key-secret"
    settings = {
        "api_key_sha256": (sha256_hex(key),),
        "rate_limit_per_s": 0.001,
        "rate_limit_burst": 2,
    }
    with ingress_client(tmp_path, monkeypatch, **settings) as (client, _):
        headers = {"Authorization": f"Bearer {key}"}
        perspective = {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}
        assert client.post("/v1/moderations", json={"input": "hi"}, headers=headers).is_success
        analyze = "/v1alpha1/comments:analyze"
        assert client.post(analyze, json=perspective, headers=headers).is_success
        openai = client.post("/v1/moderations", json={"input": "hi"}, headers=headers)
        assert openai.status_code == 429 and int(openai.headers["Retry-After"]) >= 1
        assert openai.json()["error"]["type"] == "invalid_request_error"
        assert openai.json()["error"]["code"] == "rate_limited"
        google = client.post(analyze, json=perspective, headers=headers)
        assert google.status_code == 429
        assert google.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
