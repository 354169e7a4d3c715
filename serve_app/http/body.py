"""Request bodies refused before any route parses them: too large, or not JSON.

FastAPI reads a whole body into memory and parses it before a route (or a dependency) can look
at it, so a 50 MB body would cost its full size in memory and parse time before a size check in
the route refused it. ``BodyGuard`` runs in front: a ``Content-Length`` over the limit is
refused with 413 before a byte is read; a body without one (chunked) is read up to the limit
and refused the moment it passes it; a body that does not declare a JSON media type is refused
with 415 (every route here that takes a body takes JSON). The limit is
``app.state.max_body_bytes`` (the Ingress sets it from the settings), else the settings'
default.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.http.errors import ApiError, render
from serve_app.settings import Settings

DEFAULT_MAX_BODY_BYTES: int = Settings.model_fields["max_body_bytes"].default
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def is_json(content_type: str | None) -> bool:
    """``application/json`` or any ``application/*+json``, parameters (charset) aside."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = kind.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is over {limit} bytes")


class BodyGuard:
    """Plain ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        app_state = getattr(scope.get("app"), "state", None)
        limit: int = getattr(app_state, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
        headers = Headers(scope=scope)
        refused = self._refused(headers, limit)
        if refused is not None:
            await render(scope, refused)(scope, receive, send)
            return
        body = await self._read(receive, limit)
        if body is None:
            await render(scope, too_large(limit))(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _refused(headers: Headers, limit: int) -> ApiError | None:
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return ApiError(400, "invalid_content_length", "Content-Length is not a number")
            if int(length) > limit:
                return too_large(limit)
        if not is_json(headers.get("content-type")):
            return ApiError(
                415,
                "unsupported_media_type",
                "send the request body as JSON, with Content-Type: application/json",
            )
        return None

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None as soon as it passes ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # the client went away; the route sees a short body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` as one message, then whatever the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
