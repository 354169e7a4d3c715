"""One error shape for every failure the client can see: ``{"error": {code, message, field}}``.

Handlers raise ``ApiError`` (or let FastAPI's validation fail); the handlers registered by
``install_error_handlers`` turn both into that shape, so no client ever sees FastAPI's default
``detail`` list, an HTML page or a bare 500 for input it sent. Middleware that answers before
a route runs (shedding, keys, body limits) renders through ``render``, so it answers each
route in the same shape its handlers would. ``error_responses`` is the one way a route's error
table is written into the OpenAPI description.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import Scope

log = logging.getLogger("ray.serve.modserve")

# Statuses FastAPI or Starlette raise themselves, and the code each gets here. Any 400 they
# raise is a body they could not parse (nested too deep, not UTF-8): malformed JSON too.
HTTP_CODES = {
    400: "malformed_json",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so it can be encoded.

    Messages and field names can quote what a client sent; a lone surrogate in them would make
    the error response itself fail to encode.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class ApiError(Exception):
    """An error the client should see, with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        message = printable(message)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = printable(field) if field is not None else None
        self.headers = headers or {}


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)


def from_validation(exc: RequestValidationError) -> ApiError:
    """The first validation problem, named by its field; malformed JSON and text that is not
    valid Unicode are 400s, the rest 422."""
    first = exc.errors()[0]
    kind = first.get("type")
    if kind == "json_invalid":
        return ApiError(400, "malformed_json", "request body is not valid JSON")
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    if kind == "invalid_text":
        return ApiError(400, "invalid_text", message, first.get("ctx", {}).get("field") or None)
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc) or None
    code = "missing_field" if kind == "missing" else "invalid_field"
    return ApiError(422, code, f"{field}: {message}" if field else message, field)


Renderer = Callable[[ApiError], JSONResponse]


def render(scope: Scope, error: ApiError) -> JSONResponse:
    """``error`` in the shape of the route at ``scope``'s path (for middleware)."""
    app = scope.get("app")
    renderers: Mapping[str, Renderer] = getattr(getattr(app, "state", None), "renderers", {})
    path: str = scope.get("path", "")
    chosen = next((r for suffix, r in renderers.items() if path.endswith(suffix)), None)
    return (chosen or error_response)(error)


def install_error_handlers(app: FastAPI, renderers: Mapping[str, Renderer] | None = None) -> None:
    """``renderers`` maps a path suffix to the error shape of a compatibility route."""
    app.state.renderers = dict(renderers or {})

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return render(request.scope, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render(request.scope, from_validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = "request body is not valid JSON" if code == "malformed_json" else exc.detail
        return render(request.scope, ApiError(exc.status_code, code, str(message)))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return render(request.scope, ApiError(503, "unavailable", "the service could not answer"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


def error_responses(
    model: type[BaseModel], statuses: Mapping[int, str]
) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` table for the OpenAPI description: status -> its description,
    every one answered in ``model``'s shape."""
    return {status: {"model": model, "description": text} for status, text in statuses.items()}
