"""Errors in the shape each foreign client parses, so its own error handling keeps working.

The ingress raises one ``ApiError`` everywhere; for the compatibility routes it is rendered as
OpenAI's ``{"error": {message, type, param, code}}`` (the ``openai`` package turns it into
``BadRequestError`` etc.) or as Google's ``{"error": {code, message, status}}`` (Perspective).
Those APIs answer every bad request with 400, so input errors (413, 415, 422) become 400 there.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import JSONResponse

from serve_app.http.errors import ApiError

INPUT_STATUSES = (413, 415, 422)
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def _status(error: ApiError) -> int:
    return 400 if error.status in INPUT_STATUSES else error.status


def openai_error(error: ApiError) -> JSONResponse:
    status = _status(error)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = {"message": error.message, "type": kind, "param": error.field, "code": error.code}
    return JSONResponse({"error": body}, status_code=status, headers=error.headers)


def google_error(error: ApiError) -> JSONResponse:
    status = _status(error)
    body = {
        "code": status,
        "message": error.message,
        "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    return JSONResponse({"error": body}, status_code=status, headers=error.headers)


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorBody


class GoogleErrorBody(BaseModel):
    code: int
    message: str
    status: str


class GoogleErrorResponse(BaseModel):
    error: GoogleErrorBody
