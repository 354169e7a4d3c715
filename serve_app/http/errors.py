"""One error shape for every failure the client can see: ``{"error": {code, message, field}}``.

Handlers raise ``ApiError`` (or let FastAPI's validation fail); the handlers registered by
``install_error_handlers`` turn both into that shape, so no client ever sees FastAPI's default
``detail`` list, an HTML page or a bare 500 for input it sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = logging.getLogger("ray.serve.modserve")


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
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_response(error: ApiError) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field is not None:
        body["field"] = error.field
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)


def from_validation(exc: RequestValidationError) -> ApiError:
    """The first validation problem, named by its field; malformed JSON is a 400."""
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return ApiError(400, "malformed_json", "request body is not valid JSON")
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    code = "missing_field" if first.get("type") == "missing" else "invalid_field"
    return ApiError(422, code, f"{field}: {message}" if field else message, field)


Renderer = Callable[[ApiError], JSONResponse]


def install_error_handlers(app: FastAPI, renderers: Mapping[str, Renderer] | None = None) -> None:
    """``renderers`` maps a path suffix to the error shape of a compatibility route."""

    def respond(request: Request, error: ApiError) -> JSONResponse:
        path = request.url.path
        render = next((r for s, r in (renderers or {}).items() if path.endswith(s)), None)
        return (render or error_response)(error)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return respond(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return respond(request, from_validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return respond(request, ApiError(exc.status_code, code, str(exc.detail)))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return respond(request, ApiError(503, "unavailable", "the service could not answer"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
