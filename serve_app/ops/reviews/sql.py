"""The SQL both review stores share, and ``SqlStore``, which runs it over a DB-API connection.

SQLite and PostgreSQL agree on every statement the store needs, so the queries, the row mapping
and the claim and resolve rules are written once here; a dialect module only says how to
connect, how to run a transaction and how to apply its migrations (``migrations/<dialect>/``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from serve_app.ops.reviews.interface import (
    AuditEvent,
    Clock,
    NewReview,
    Resolution,
    ReviewConflict,
    ReviewFilter,
    ReviewItem,
    ReviewNotFound,
    StoreError,
)

MIGRATIONS = Path(__file__).parents[1] / "migrations"

_COLUMNS = (
    "id, content_id, author_id, platform, policy, model_version, decision, text, image_base64, "
    "scores, flagged, reasons, created_at, status, claimed_by, lease_until, resolution, labels, "
    "resolved_by, resolved_at"
)
_INSERT_REVIEW = (
    "INSERT INTO reviews (id, content_id, author_id, platform, policy, model_version, decision, "
    "text, image_base64, scores, flagged, reasons, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_AUDIT = (
    "INSERT INTO audit_log (at, actor, action, content_id, review_id, detail) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# A claim succeeds on an open item nobody holds, that this reviewer holds, or whose lease ran out.
_CLAIM = (
    "UPDATE reviews SET claimed_by = ?, lease_until = ? WHERE id = ? AND status = 'open' "
    "AND (claimed_by IS NULL OR claimed_by = ? OR lease_until < ?)"
)
_RESOLVE = (
    "UPDATE reviews SET status = 'resolved', resolution = ?, labels = ?, resolved_by = ?, "
    "resolved_at = ?, claimed_by = NULL, lease_until = NULL WHERE id = ? AND status = 'open' "
    "AND (claimed_by IS NULL OR claimed_by = ? OR lease_until < ?)"
)


def _review_row(item: NewReview) -> tuple[Any, ...]:
    return (
        item.id,
        item.content_id,
        item.author_id,
        item.platform,
        item.policy,
        item.model_version,
        item.decision,
        item.text,
        item.image_base64,
        json.dumps(dict(item.scores)),
        json.dumps(list(item.flagged)),
        json.dumps(list(item.reasons)),
        item.created_at,
    )


def _audit_row(event: AuditEvent) -> tuple[Any, ...]:
    return (
        event.at,
        event.actor,
        event.action,
        event.content_id,
        event.review_id,
        json.dumps(dict(event.detail), sort_keys=True),
    )


def _item(row: Sequence[Any], now: float) -> ReviewItem:
    live = row[14] is not None and row[15] is not None and row[15] >= now
    return ReviewItem(
        id=row[0],
        content_id=row[1],
        author_id=row[2],
        platform=row[3],
        policy=row[4],
        model_version=row[5],
        decision=row[6],
        text=row[7],
        image_base64=row[8],
        scores=json.loads(row[9]),
        flagged=json.loads(row[10]),
        reasons=json.loads(row[11]),
        created_at=row[12],
        status=row[13],
        claimed_by=row[14] if live else None,
        lease_until=row[15] if live else None,
        resolution=row[16],
        labels=json.loads(row[17]) if row[17] is not None else None,
        resolved_by=row[18],
        resolved_at=row[19],
    )


def default_labels(
    flagged: Sequence[str], resolution: Resolution, labels: Mapping[str, float] | None
) -> dict[str, float]:
    """What a resolution says about each flagged category, unless the reviewer labelled it.

    Approve means none of the flagged categories applies (0), remove that all of them do (1);
    explicit labels win over both. ``label`` needs explicit labels.
    """
    if resolution == "label" and not labels:
        raise ValueError("resolution 'label' needs labels")
    guessed = {c: 0.0 if resolution == "approve" else 1.0 for c in flagged}
    if resolution == "label":
        guessed = {}
    return {**guessed, **(labels or {})}


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def close(self) -> None: ...


class SqlStore:
    """The store over any DB-API connection; subclasses say how to connect and migrate.

    SQL is written with ``?`` placeholders; ``placeholder`` is what the driver wants instead.
    One connection serves every call, under a lock: reviewers and the ingress's batched writer
    are a few calls per second, far below what one connection does.
    """

    dialect = ""
    placeholder = "?"
    _conn: Connection | None

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = None

    def _transaction(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def add(self, items: Sequence[NewReview], events: Sequence[AuditEvent]) -> None:
        with self._transaction() as cur:
            if items:
                cur.executemany(self._q(_INSERT_REVIEW), [_review_row(i) for i in items])
            if events:
                cur.executemany(self._q(_INSERT_AUDIT), [_audit_row(e) for e in events])

    def get(self, review_id: str) -> ReviewItem:
        with self._transaction() as cur:
            return self._get(cur, review_id)

    def _get(self, cur: Cursor, review_id: str) -> ReviewItem:
        cur.execute(self._q(f"SELECT {_COLUMNS} FROM reviews WHERE id = ?"), (review_id,))
        row = cur.fetchone()
        if row is None:
            raise ReviewNotFound(review_id)
        return _item(row, self.clock())

    def find(self, query: ReviewFilter) -> list[ReviewItem]:
        where: list[str] = ["status = ?"]
        params: list[Any] = [query.status]
        if query.category is not None:
            where.append("flagged LIKE ?")
            params.append(f'%"{json.dumps(query.category)[1:-1]}"%')
        if query.platform is not None:
            where.append("platform = ?")
            params.append(query.platform)
        if query.max_age_s is not None:
            where.append("created_at >= ?")
            params.append(self.clock() - query.max_age_s)
        sql = (
            f"SELECT {_COLUMNS} FROM reviews WHERE {' AND '.join(where)} "
            f"ORDER BY created_at, id LIMIT {int(query.limit)}"
        )
        with self._transaction() as cur:
            cur.execute(self._q(sql), params)
            now = self.clock()
            return [_item(row, now) for row in cur.fetchall()]

    def claim(self, review_id: str, reviewer: str, lease_s: float) -> ReviewItem:
        now = self.clock()
        with self._transaction() as cur:
            cur.execute(self._q(_CLAIM), (reviewer, now + lease_s, review_id, reviewer, now))
            if cur.rowcount != 1:
                raise self._refusal(cur, review_id)
            item = self._get(cur, review_id)
            event = AuditEvent(
                reviewer, "claim", item.content_id, review_id, {"lease_until": now + lease_s}, now
            )
            cur.execute(self._q(_INSERT_AUDIT), _audit_row(event))
            return item

    def resolve(
        self,
        review_id: str,
        reviewer: str,
        resolution: Resolution,
        labels: Mapping[str, float] | None = None,
    ) -> ReviewItem:
        now = self.clock()
        with self._transaction() as cur:
            current = self._get(cur, review_id)
            final = default_labels(current.flagged, resolution, labels)
            cur.execute(
                self._q(_RESOLVE),
                (resolution, json.dumps(final), reviewer, now, review_id, reviewer, now),
            )
            if cur.rowcount != 1:
                raise self._refusal(cur, review_id)
            detail = {"resolution": resolution, "labels": final}
            event = AuditEvent(reviewer, "resolve", current.content_id, review_id, detail, now)
            cur.execute(self._q(_INSERT_AUDIT), _audit_row(event))
            return self._get(cur, review_id)

    def _refusal(self, cur: Cursor, review_id: str) -> StoreError:
        item = self._get(cur, review_id)  # raises ReviewNotFound
        if item.status == "resolved":
            return ReviewConflict(f"review {review_id} is already resolved")
        return ReviewConflict(f"review {review_id} is claimed by {item.claimed_by}")

    def audit(self, after: int = 0, limit: int = 100) -> list[AuditEvent]:
        sql = (
            "SELECT seq, at, actor, action, content_id, review_id, detail FROM audit_log "
            f"WHERE seq > ? ORDER BY seq LIMIT {int(limit)}"
        )
        with self._transaction() as cur:
            cur.execute(self._q(sql), (after,))
            return [
                AuditEvent(r[2], r[3], r[4], r[5], json.loads(r[6]), r[1], r[0])
                for r in cur.fetchall()
            ]

    def resolved(self) -> Iterator[ReviewItem]:
        """Resolved items, oldest first, read in pages so an export never holds them all."""
        last_at, last_id = -1.0, ""
        while True:
            sql = (
                f"SELECT {_COLUMNS} FROM reviews WHERE status = 'resolved' AND "
                "(resolved_at > ? OR (resolved_at = ? AND id > ?)) ORDER BY resolved_at, id "
                "LIMIT 500"
            )
            with self._transaction() as cur:
                cur.execute(self._q(sql), (last_at, last_at, last_id))
                page = [_item(row, 0.0) for row in cur.fetchall()]
            if not page:
                return
            yield from page
            last_at, last_id = page[-1].resolved_at or 0.0, page[-1].id

    def ping(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def migration_files(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) per file ``NNNN_name.sql`` of a dialect, in version order."""
    files = sorted((MIGRATIONS / dialect).glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(int(path.name[:4]), path.read_text(encoding="utf-8")) for path in files]


def pending_migrations(dialect: str, applied: Iterable[int]) -> list[tuple[int, str]]:
    """The (version, SQL) of ``migration_files`` whose version is not in ``applied``."""
    done = set(applied)
    return [(version, sql) for version, sql in migration_files(dialect) if version not in done]
