"""Long posts on the drop-in endpoints: accepted up to ``max_compat_text_chars`` (Perspective's
own 20 KB) and passed to the text model whole, which scores them in windows; the native API
keeps its 5,000 characters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.serve_app.http.in_process import ingress_client

Calls = list[tuple[str, str, tuple[Any, ...]]]
LONG = ("We talked about the garden and the weather for a while. " * 180)[:10_000] + " idiot"


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Calls]]:
    with ingress_client(tmp_path, monkeypatch) as pair:
        yield pair


def texts_sent(calls: Calls) -> list[str]:
    sent: list[str] = []
    for name, method, args in calls:
        if name == "text":
            sent += args[0] if method == "classify_many" else [args[0]]
    return sent


def test_openai_takes_a_long_input_whole(graph: tuple[TestClient, Calls]) -> None:
    client, calls = graph
    answer = client.post("/v1/moderations", json={"input": LONG})
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["flagged"] is True  # the insult at the very end
    assert LONG in texts_sent(calls)


def test_openai_takes_several_long_parts_of_one_input(graph: tuple[TestClient, Calls]) -> None:
    client, _ = graph
    parts = [{"type": "text", "text": "x " * 1000} for _ in range(3)]
    assert client.post("/v1/moderations", json={"input": parts}).status_code == 200


def test_openai_refuses_past_the_limit_in_its_own_shape(graph: tuple[TestClient, Calls]) -> None:
    client, calls = graph
    answer = client.post("/v1/moderations", json={"input": "a" * 20_481})
    assert answer.status_code in (400, 413)
    assert answer.json()["error"]["code"] == "text_too_long" and not texts_sent(calls)


def test_perspective_takes_20_kb_and_refuses_more(graph: tuple[TestClient, Calls]) -> None:
    client, _ = graph
    request = {"requestedAttributes": {"TOXICITY": {}}}
    ok = client.post("/v1alpha1/comments:analyze", json={**request, "comment": {"text": LONG}})
    assert ok.status_code == 200, ok.text
    too_long = {**request, "comment": {"text": "a" * 20_481}}
    refused = client.post("/v1alpha1/comments:analyze", json=too_long)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_native_api_keeps_its_limit(graph: tuple[TestClient, Calls]) -> None:
    client, _ = graph
    post = {"content_id": "p", "author_id": "u", "platform": "reddit", "text": LONG}
    answer = client.post("/v1/moderate", json=post)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "text_too_long"
