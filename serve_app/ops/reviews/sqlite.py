"""The embedded review store: one SQLite file under the data dir, nothing to install or run.

It is the default so that a laptop or a single-replica deployment has a real queue and audit
log from the first start. Two replicas may open the same file at once, so opening and
migrating happen under a file lock.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serve_app.ops.reviews.interface import Clock, StoreUnavailable
from serve_app.ops.reviews.sql import Cursor, SqlStore, pending_migrations


class SqliteStore(SqlStore):
    """The embedded default: one file, WAL journal, nothing to install or run."""

    dialect = "sqlite"
    _conn: sqlite3.Connection | None

    def __init__(self, path: Path, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self.path = path

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
                _migrate(conn)
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


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, at REAL)"
    )
    applied = (row[0] for row in conn.execute("SELECT version FROM schema_migrations"))
    for version, sql in pending_migrations("sqlite", applied):
        record = f"INSERT INTO schema_migrations VALUES ({version}, {time.time()});"
        conn.executescript(f"BEGIN;\n{sql}\n{record}\nCOMMIT;")
