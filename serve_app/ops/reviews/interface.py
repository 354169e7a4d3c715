"""The review store's contract: what the ingress and the review API may ask of any store.

Kept apart from the implementations so that callers, fakes and tests depend on this small
surface only: the records (plain dataclasses), the errors (each maps to one HTTP status in the
review API) and the ``ReviewStore`` protocol. Both stores implement it with the same semantics,
and ``tests/serve_app/ops/test_reviews.py`` holds them to it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Resolution = Literal["approve", "remove", "label"]
RESOLUTIONS: tuple[str, ...] = ("approve", "remove", "label")
Clock = Callable[[], float]


class StoreError(Exception):
    """Base of the store's errors; each maps to one HTTP status in the review API."""


class ReviewNotFound(StoreError):
    """No review item has this id."""


class ReviewConflict(StoreError):
    """The item is claimed by another reviewer under a live lease, or already resolved."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the operation; try again later."""


@dataclass(frozen=True)
class NewReview:
    """A decision to queue for human review, as the ingress knows it."""

    content_id: str
    author_id: str
    platform: str
    policy: str
    model_version: str
    decision: str
    scores: Mapping[str, float]
    flagged: Sequence[str]
    reasons: Sequence[str] = ()
    text: str | None = None
    image_base64: str | None = None
    created_at: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class ReviewItem(NewReview):
    """A queued item with its review state; ``claimed_by`` is None once its lease expired."""

    status: Literal["open", "resolved"] = "open"
    claimed_by: str | None = None
    lease_until: float | None = None
    resolution: Resolution | None = None
    labels: Mapping[str, float] | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log: who did what to which content, with the details as JSON."""

    actor: str
    action: str
    content_id: str | None = None
    review_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    seq: int | None = None


@dataclass(frozen=True)
class ReviewFilter:
    """What a reviewer asks the queue for; ``max_age_s`` keeps only items that recent."""

    status: Literal["open", "resolved"] = "open"
    category: str | None = None
    platform: str | None = None
    max_age_s: float | None = None
    limit: int = 50


class ReviewStore(Protocol):
    """The queue and the log; every method may raise ``StoreUnavailable``."""

    def add(self, items: Sequence[NewReview], events: Sequence[AuditEvent]) -> None:
        """Queue items and append events in one transaction (the ingress's batched write)."""

    def get(self, review_id: str) -> ReviewItem: ...

    def find(self, query: ReviewFilter) -> list[ReviewItem]: ...

    def claim(self, review_id: str, reviewer: str, lease_s: float) -> ReviewItem: ...

    def resolve(
        self,
        review_id: str,
        reviewer: str,
        resolution: Resolution,
        labels: Mapping[str, float] | None = None,
    ) -> ReviewItem: ...

    def audit(self, after: int = 0, limit: int = 100) -> list[AuditEvent]: ...

    def resolved(self) -> Iterator[ReviewItem]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
