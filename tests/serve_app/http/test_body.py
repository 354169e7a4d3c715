"""BodyGuard at the ASGI level: what it reads of a body it refuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from serve_app.http.body import BodyGuard, is_json

Message = dict[str, Any]


def run(headers: dict[str, str], chunks: list[bytes], limit: int = 100) -> tuple[int, int, bool]:
    """(status, chunks read, whether the app ran) for one POST through the guard."""
    read = 0
    ran = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read += 1
        more = read < len(chunks)
        return {"type": "http.request", "body": chunks[read - 1], "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal ran
        ran = True
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    class State:
        max_body_bytes = limit

    class App:
        state = State()

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/moderate",
        "app": App(),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(BodyGuard(app)(scope, receive, send))
    return sent[0]["status"], read, ran


JSON = {"content-type": "application/json"}


def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    assert run({**JSON, "content-length": str(50 * 1024 * 1024)}, [b"{}"]) == (413, 0, False)


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    status, read, ran = run(JSON, [b"x" * 60] * 1000)
    assert (status, read, ran) == (413, 2, False)


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    assert run(JSON, [b'{"a": ', b"1}"]) == (200, 2, True)


def test_a_bad_content_length_and_a_foreign_media_type_are_refused() -> None:
    assert run({**JSON, "content-length": "ten"}, [b"{}"])[0] == 400
    assert run({"content-type": "text/plain"}, [b"{}"])[0] == 415


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/json", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(value: str | None, expected: bool) -> None:
    assert is_json(value) is expected


def test_the_refusal_is_in_the_error_shape() -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("read")

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("ran")

    headers = [(b"content-length", b"99999999999")]
    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    asyncio.run(BodyGuard(app)(scope, receive, send))
    assert json.loads(sent[1]["body"])["error"]["code"] == "body_too_large"
