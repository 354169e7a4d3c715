"""The review queue and the audit log: what a trust-and-safety team acts on, kept in a real store.

Every ``review`` decision becomes an item that reviewers list, claim (under a lease that
expires, so an abandoned claim frees itself) and resolve (approve, remove, or label). Every
decision and every reviewer action is appended to an audit log that the database itself refuses
to update or delete (triggers in the migrations). Resolved items double as labelled training
data (``export_jsonl``).

One narrow interface, ``ReviewStore``, two implementations sharing the SQL: SQLite (the
embedded default, a file under the data dir, nothing to run) and PostgreSQL (when
``MODSERVE_DATABASE_URL`` is set, for several ingress replicas). Migrations are plain versioned
SQL files under ``migrations/<dialect>/``, applied in order on first connect. Connections are
opened lazily and reopened after a failure, so a database that is down at start or goes away
later raises ``StoreUnavailable`` per call instead of stopping the service.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

MIGRATIONS = Path(__file__).with_name("migrations")
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


# --- the shared SQL ---------------------------------------------------------------------------

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


class SqlStore:
    """The store over any DB-API connection; subclasses say how to connect and migrate.

    SQL is written with ``?`` placeholders; ``placeholder`` is what the driver wants instead.
    One connection serves every call, under a lock: reviewers and the ingress's batched writer
    are a few calls per second, far below what one connection does.
    """

    dialect = ""
    placeholder = "?"

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()

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


def migration_files(dialect: str) -> list[tuple[int, str]]:
    """(version, SQL) per file ``NNNN_name.sql`` of a dialect, in version order."""
    files = sorted((MIGRATIONS / dialect).glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(int(path.name[:4]), path.read_text(encoding="utf-8")) for path in files]


# --- SQLite -----------------------------------------------------------------------------------


class SqliteStore(SqlStore):
    """The embedded default: one file, WAL journal, nothing to install or run."""

    dialect = "sqlite"

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            with open(self.path.with_suffix(".migrate.lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # two replicas may open the file at once
                # Inside the lock too: switching to WAL takes an exclusive lock that SQLite
                # does not wait for (its busy timeout does not apply), so a racing opener failed.
                conn.execute("PRAGMA journal_mode=WAL")
                _migrate_sqlite(conn)
            self._conn = conn
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        with self._lock:
            try:
                cur = self._connect().cursor()
                cur.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                self._conn = None
                raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                cur.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreUnavailable(f"sqlite {self.path}: {exc}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _migrate_sqlite(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, at REAL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, sql in migration_files("sqlite"):
        if version not in applied:
            record = f"INSERT INTO schema_migrations VALUES ({version}, {time.time()});"
            conn.executescript(f"BEGIN;\n{sql}\n{record}\nCOMMIT;")


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresStore(SqlStore):
    """For several ingress replicas or a team that already runs PostgreSQL (psycopg 3)."""

    dialect = "postgres"
    placeholder = "%s"

    def __init__(self, url: str, clock: Clock = time.time, connect_timeout: int = 3) -> None:
        super().__init__(clock)
        self.url = url
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
            _migrate_postgres(conn)
            self._conn = conn
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        import psycopg

        with self._lock:
            try:
                conn = self._connect()
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise StoreUnavailable(f"postgres: {exc}".strip()) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _migrate_postgres(conn: Any) -> None:
    """Apply missing migrations; an advisory lock keeps two replicas from racing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7251001)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, at DOUBLE PRECISION)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migration_files("postgres"):
            if version not in applied:
                conn.execute(sql)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time())
                )


# --- choosing and exporting -------------------------------------------------------------------


def open_store(database_url: str | None, data_dir: Path) -> ReviewStore:
    """PostgreSQL when a URL is configured, else the SQLite file ``data_dir/reviews.sqlite3``."""
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(data_dir / "reviews.sqlite3")


def export_record(item: ReviewItem) -> dict[str, Any] | None:
    """One resolved item as a training row, or None when it has no text or no labels."""
    if not item.text or not item.labels:
        return None
    return {
        "text": item.text,
        "labels": dict(item.labels),
        "review_id": item.id,
        "content_id": item.content_id,
        "platform": item.platform,
        "resolution": item.resolution,
        "resolved_at": item.resolved_at,
    }


def export_jsonl(store: ReviewStore, out: IO[str]) -> int:
    """Write resolved items as JSONL training rows; returns how many were written."""
    written = 0
    for item in store.resolved():
        record = export_record(item)
        if record is not None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written
