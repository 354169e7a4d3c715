"""The review API under ``/v1/reviews`` and the ``/review`` page: how reviewers reach the queue.

Plain functions on an ``APIRouter`` that the Ingress's app includes; each takes the replica's
``Ops`` from ``request.app.state`` and calls the store. They are sync ``def`` on purpose: the
store is blocking, so FastAPI runs them in its thread pool and the event loop keeps moderating.
Every route needs the admin token (in a header: never ``?key=``). Store errors map to one
status each: unknown id 404, a claim held by someone else or an item already resolved 409, a
store that is down 503 + Retry-After. The page is sent with a Content-Security-Policy that
allows only its own inline script and style (by hash) and calls to this origin, and may not be
framed, so a review item's text can never run as script in a reviewer's browser.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
import base64
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse

from deployments.signals import ALL_CATEGORIES, Platform
from serve_app.http.errors import ApiError, error_responses
from serve_app.http.schemas import ErrorResponse, RequestBody
from serve_app.ops.reviews import (
    AuditEvent,
    ReviewConflict,
    ReviewFilter,
    ReviewItem,
    ReviewNotFound,
    StoreError,
    StoreUnavailable,
)

PAGE = Path(__file__).with_name("static") / "review.html"
STORE_RETRY_S = 5

MAX_NAME_CHARS = 64  # the category filter, label names
NAME = r"^[a-z0-9_]+$"  # what a category name can be
MAX_SEQ = 2**63 - 1  # the largest audit sequence number a store can hold
ReviewId = Annotated[str, PathParam(max_length=64, description="A review item's id")]
ERRORS = error_responses(
    ErrorResponse,
    {
        400: "Malformed JSON or text that is not valid Unicode",
        401: "No valid admin token (sent in a header)",
        404: "No review item has this id",
        409: "Claimed by another reviewer, or already resolved",
        422: "A missing or invalid field",
        503: "The review store is down; retry after Retry-After seconds",
    },
)
BODY_ERRORS = error_responses(
    ErrorResponse, {413: "Body over max_body_bytes", 415: "A body that is not JSON"}
)
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


class Review(BaseModel):
    """A queued decision as reviewers see it; ``image_base64`` only when one item is asked for."""

    id: str
    content_id: str
    author_id: str
    platform: str
    policy: str
    model_version: str
    decision: str
    category_scores: dict[str, float]
    flagged_categories: list[str]
    reasons: list[str]
    text: str | None
    has_image: bool
    image_base64: str | None = None
    created_at: float
    status: Literal["open", "resolved"]
    claimed_by: str | None
    lease_until: float | None
    resolution: str | None
    labels: dict[str, float] | None
    resolved_by: str | None
    resolved_at: float | None


class ReviewList(BaseModel):
    items: list[Review]


class ClaimRequest(RequestBody):
    reviewer: str = Field(min_length=1, max_length=128)


class ResolveRequest(RequestBody):
    reviewer: str = Field(min_length=1, max_length=128)
    resolution: Literal["approve", "remove", "label"]
    labels: (
        dict[
            Annotated[str, Field(max_length=MAX_NAME_CHARS)],
            Annotated[float, Field(ge=0.0, le=1.0)],
        ]
        | None
    ) = Field(
        None,
        max_length=len(ALL_CATEGORIES),
        description="category → 0..1; required for `label`, overrides approve/remove",
    )


class AuditEntry(BaseModel):
    seq: int
    at: float
    actor: str
    action: str
    content_id: str | None
    review_id: str | None
    detail: dict[str, Any]


class AuditList(BaseModel):
    events: list[AuditEntry]


def ops_of(request: Request) -> Any:
    """The replica's Ops, after checking the admin token (401 otherwise)."""
    ops = getattr(request.app.state, "ops", None)
    if ops is None:
        raise ApiError(503, "unavailable", "the review API is not ready")
    ops.check_admin(request)
    return ops


OpsDep = Annotated[Any, Depends(ops_of)]
router = APIRouter(responses=ERRORS, tags=["reviews"])


def as_review(item: ReviewItem, *, with_image: bool) -> Review:
    return Review(
        id=item.id,
        content_id=item.content_id,
        author_id=item.author_id,
        platform=item.platform,
        policy=item.policy,
        model_version=item.model_version,
        decision=item.decision,
        category_scores=dict(item.scores),
        flagged_categories=list(item.flagged),
        reasons=list(item.reasons),
        text=item.text,
        has_image=item.image_base64 is not None,
        image_base64=item.image_base64 if with_image else None,
        created_at=item.created_at,
        status=item.status,
        claimed_by=item.claimed_by,
        lease_until=item.lease_until,
        resolution=item.resolution,
        labels=dict(item.labels) if item.labels is not None else None,
        resolved_by=item.resolved_by,
        resolved_at=item.resolved_at,
    )


def as_api_error(exc: StoreError) -> ApiError:
    if isinstance(exc, ReviewNotFound):
        return ApiError(404, "not_found", f"no review item {exc}", "review_id")
    if isinstance(exc, ReviewConflict):
        return ApiError(409, "conflict", str(exc), "review_id")
    assert isinstance(exc, StoreUnavailable)
    headers = {"Retry-After": str(STORE_RETRY_S)}
    return ApiError(503, "store_unavailable", "the review store is down", None, headers)


@router.get("/v1/reviews", response_model=ReviewList, summary="List the review queue")
def list_reviews(
    ops: OpsDep,
    status: Literal["open", "resolved"] = "open",
    category: Annotated[str | None, Query(max_length=MAX_NAME_CHARS, pattern=NAME)] = None,
    platform: Platform | None = None,
    max_age_s: Annotated[float | None, Query(gt=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ReviewList:
    query = ReviewFilter(status, category, platform, max_age_s, limit)
    try:
        items = ops.store.find(query)
    except StoreError as exc:
        raise as_api_error(exc) from None
    return ReviewList(items=[as_review(i, with_image=False) for i in items])


@router.get("/v1/reviews/{review_id}", response_model=Review, summary="One item, with its image")
def get_review(review_id: ReviewId, ops: OpsDep) -> Review:
    try:
        return as_review(ops.store.get(review_id), with_image=True)
    except StoreError as exc:
        raise as_api_error(exc) from None


@router.post(
    "/v1/reviews/{review_id}/claim",
    response_model=Review,
    responses=BODY_ERRORS,
    summary="Claim (lease)",
)
def claim_review(review_id: ReviewId, body: ClaimRequest, ops: OpsDep) -> Review:
    try:
        item = ops.store.claim(review_id, body.reviewer, ops.settings.review_lease_s)
    except StoreError as exc:
        raise as_api_error(exc) from None
    return as_review(item, with_image=False)


@router.post(
    "/v1/reviews/{review_id}/resolve",
    response_model=Review,
    responses=BODY_ERRORS,
    summary="Resolve",
)
def resolve_review(review_id: ReviewId, body: ResolveRequest, ops: OpsDep) -> Review:
    if body.resolution == "label" and not body.labels:
        raise ApiError(422, "missing_field", "resolution 'label' needs labels", "labels")
    unknown = sorted(set(body.labels or ()) - set(ALL_CATEGORIES))
    if unknown:
        raise ApiError(422, "invalid_field", f"unknown categories {unknown}", "labels")
    try:
        item = ops.store.resolve(review_id, body.reviewer, body.resolution, body.labels)
    except StoreError as exc:
        raise as_api_error(exc) from None
    return as_review(item, with_image=False)


@router.get("/v1/audit", response_model=AuditList, summary="The audit log, oldest first")
def audit_log(
    ops: OpsDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditList:
    try:
        events: list[AuditEvent] = ops.store.audit(after, limit)
    except StoreError as exc:
        raise as_api_error(exc) from None
    return AuditList(
        events=[
            AuditEntry(
                seq=e.seq or 0,
                at=e.at,
                actor=e.actor,
                action=e.action,
                content_id=e.content_id,
                review_id=e.review_id,
                detail=dict(e.detail),
            )
            for e in events
        ]
    )


@router.get("/v1/ops/status", summary="Store, buffer and limiter state (for metrics)")
def ops_status(ops: OpsDep) -> dict[str, Any]:
    status: dict[str, Any] = ops.status()
    return status


def page_headers(page: str) -> dict[str, str]:
    """Headers that keep the page's own script the only script it runs (see the docstring)."""
    sources: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        sources[kind].append(f"'sha256-{digest}'")
    script = " ".join(sources["script"]) or "'none'"
    style = " ".join(sources["style"]) or "'none'"
    policy = (
        f"default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


@router.get("/review", response_class=HTMLResponse, include_in_schema=False)
def review_page() -> HTMLResponse:
    """The reviewers' page: plain HTML and JS, no build step; it asks for the admin token."""
    page = PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page, headers=page_headers(page))
