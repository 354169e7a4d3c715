"""The review queue and the audit log: what a trust-and-safety team acts on, kept in a real store.

Every ``review`` decision becomes an item that reviewers list, claim (under a lease that
expires, so an abandoned claim frees itself) and resolve (approve, remove, or label). Every
decision and every reviewer action is appended to an audit log that the database itself refuses
to update or delete (triggers in the migrations). Resolved items double as labelled training
data (``export_jsonl``).

One narrow interface, ``ReviewStore`` (``interface``), two implementations sharing the SQL
(``sql``): SQLite (``sqlite``, the embedded default, a file under the data dir, nothing to run)
and PostgreSQL (``postgres``, when ``MODSERVE_DATABASE_URL`` is set, for several ingress
replicas). Migrations are plain versioned SQL files under ``serve_app/ops/migrations/<dialect>/``,
applied in order on first connect. Connections are opened lazily and reopened after a failure,
so a database that is down at start or goes away later raises ``StoreUnavailable`` per call
instead of stopping the service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from serve_app.ops.reviews.interface import (
    RESOLUTIONS,
    AuditEvent,
    Clock,
    NewReview,
    Resolution,
    ReviewConflict,
    ReviewFilter,
    ReviewItem,
    ReviewNotFound,
    ReviewStore,
    StoreError,
    StoreUnavailable,
)
from serve_app.ops.reviews.postgres import PostgresStore
from serve_app.ops.reviews.sql import (
    MIGRATIONS,
    Cursor,
    SqlStore,
    default_labels,
    migration_files,
)
from serve_app.ops.reviews.sqlite import SqliteStore

__all__ = [
    "MIGRATIONS",
    "RESOLUTIONS",
    "AuditEvent",
    "Clock",
    "Cursor",
    "NewReview",
    "PostgresStore",
    "Resolution",
    "ReviewConflict",
    "ReviewFilter",
    "ReviewItem",
    "ReviewNotFound",
    "ReviewStore",
    "SqlStore",
    "SqliteStore",
    "StoreError",
    "StoreUnavailable",
    "default_labels",
    "export_jsonl",
    "export_record",
    "migration_files",
    "open_store",
]


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
