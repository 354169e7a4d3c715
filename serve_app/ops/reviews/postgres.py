"""The server review store: PostgreSQL (psycopg 3), for several ingress replicas.

Chosen when ``MODSERVE_DATABASE_URL`` is set. psycopg is imported on first connect, so a server
on the embedded default never loads it. A broken connection is dropped and reopened on
the next call, so a database that goes away costs ``StoreUnavailable`` per call, not a restart.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from serve_app.ops.reviews.interface import Clock, StoreUnavailable
from serve_app.ops.reviews.sql import Cursor, SqlStore, pending_migrations


class PostgresStore(SqlStore):
    """For several ingress replicas or a team that already runs PostgreSQL (psycopg 3)."""

    dialect = "postgres"
    placeholder = "%s"
    _conn: Any

    def __init__(self, url: str, clock: Clock = time.time, connect_timeout: int = 3) -> None:
        super().__init__(clock)
        self.url = url
        self.connect_timeout = connect_timeout

    def _connect(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout)
            _migrate(conn)
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


def _migrate(conn: Any) -> None:
    """Apply missing migrations; an advisory lock keeps two replicas from racing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7251001)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, at DOUBLE PRECISION)"
        )
        applied = (row[0] for row in conn.execute("SELECT version FROM schema_migrations"))
        for version, sql in pending_migrations("postgres", applied):
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, time.time()))
