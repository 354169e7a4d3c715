"""The review store suite, run alike against SQLite and PostgreSQL (127.0.0.1:5432, trust auth).

Each PostgreSQL run works in a schema of its own, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_app.ops.reviews import (
    AuditEvent,
    NewReview,
    PostgresStore,
    ReviewConflict,
    ReviewFilter,
    ReviewNotFound,
    SqliteStore,
    SqlStore,
    StoreError,
    StoreUnavailable,
    export_jsonl,
)

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "reviews.sqlite3", clock=clock)
        yield sqlite
        sqlite.close()
        return
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"modserve_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        pg = PostgresStore(make_conninfo(PG_URL, options=f"-c search_path={schema}"), clock=clock)
        try:
            yield pg
        finally:
            pg.close()
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def item(clock: Clock, **overrides: object) -> NewReview:
    fields: dict[str, object] = {
        "content_id": "post-1",
        "author_id": "user-1",
        "platform": "reddit",
        "policy": "default",
        "model_version": "text-v1",
        "decision": "review",
        "scores": {"insult": 0.6, "toxicity": 0.55},
        "flagged": ["insult", "toxicity"],
        "reasons": ["insult 0.60 >= review 0.50"],
        "text": "you clown",
        "created_at": clock.now,
    }
    fields.update(overrides)
    return NewReview(**fields)  # type: ignore[arg-type]


def test_add_then_get_round_trips(store: SqlStore, clock: Clock) -> None:
    new = item(clock, image_base64="aGVsbG8=")
    store.add([new], [])
    got = store.get(new.id)
    assert (got.content_id, got.text, got.image_base64) == ("post-1", "you clown", "aGVsbG8=")
    assert got.scores == {"insult": 0.6, "toxicity": 0.55}
    assert list(got.flagged) == ["insult", "toxicity"]
    assert (got.status, got.claimed_by, got.resolution) == ("open", None, None)


def test_unknown_id_is_not_found(store: SqlStore) -> None:
    for call in (
        lambda: store.get("nope"),
        lambda: store.claim("nope", "ana", 60),
        lambda: store.resolve("nope", "ana", "approve"),
    ):
        with pytest.raises(ReviewNotFound):
            call()


def test_list_filters_by_category_platform_and_age(store: SqlStore, clock: Clock) -> None:
    old = item(clock, content_id="old", created_at=clock.now - 3600)
    spam = item(clock, content_id="spam", flagged=["spam"], platform="twitter", created_at=1e6 - 1)
    fresh = item(clock, content_id="fresh")
    store.add([old, spam, fresh], [])

    def ids(**query: object) -> list[str]:
        return [i.content_id for i in store.find(ReviewFilter(**query))]  # type: ignore[arg-type]

    assert ids() == ["old", "spam", "fresh"]  # oldest first
    assert ids(category="insult") == ["old", "fresh"]
    assert ids(category="toxic") == []  # whole category names, not substrings
    assert ids(platform="twitter") == ["spam"]
    assert ids(max_age_s=60) == ["spam", "fresh"]
    assert ids(limit=1) == ["old"]
    assert ids(status="resolved") == []


def test_claim_holds_until_the_lease_expires(store: SqlStore, clock: Clock) -> None:
    new = item(clock)
    store.add([new], [])
    claimed = store.claim(new.id, "ana", lease_s=300)
    assert (claimed.claimed_by, claimed.lease_until) == ("ana", clock.now + 300)
    assert store.claim(new.id, "ana", lease_s=300).claimed_by == "ana"  # renewing is fine
    with pytest.raises(ReviewConflict):
        store.claim(new.id, "bob", lease_s=300)
    with pytest.raises(ReviewConflict):
        store.resolve(new.id, "bob", "remove")
    clock.now += 301
    assert store.get(new.id).claimed_by is None  # an expired lease frees the item
    assert store.claim(new.id, "bob", lease_s=300).claimed_by == "bob"


def test_resolve_records_labels_and_closes_the_item(store: SqlStore, clock: Clock) -> None:
    approve, remove, label = item(clock), item(clock), item(clock)
    store.add([approve, remove, label], [])
    store.claim(approve.id, "ana", 60)
    assert store.resolve(approve.id, "ana", "approve").labels == {"insult": 0.0, "toxicity": 0.0}
    assert store.resolve(remove.id, "ana", "remove").labels == {"insult": 1.0, "toxicity": 1.0}
    done = store.resolve(label.id, "ana", "label", {"threat": 1.0})
    assert (done.status, done.resolution, done.labels) == ("resolved", "label", {"threat": 1.0})
    assert (done.resolved_by, done.resolved_at, done.claimed_by) == ("ana", clock.now, None)
    with pytest.raises(ReviewConflict):
        store.resolve(label.id, "ana", "approve")  # already resolved
    with pytest.raises(ReviewConflict):
        store.claim(label.id, "ana", 60)
    with pytest.raises(ValueError):
        store.resolve(approve.id, "ana", "label")  # label needs labels (and it is resolved)
    assert len(store.find(ReviewFilter(status="resolved"))) == 3


def test_audit_log_records_decisions_and_reviewer_actions(store: SqlStore, clock: Clock) -> None:
    new = item(clock)
    decision = AuditEvent("ingress", "decision", "post-1", new.id, {"decision": "review"}, 5.0)
    store.add([new], [decision])
    store.claim(new.id, "ana", 60)
    store.resolve(new.id, "ana", "remove")
    log = store.audit()
    assert [(e.actor, e.action, e.review_id) for e in log] == [
        ("ingress", "decision", new.id),
        ("ana", "claim", new.id),
        ("ana", "resolve", new.id),
    ]
    assert log[0].detail == {"decision": "review"}
    assert log[2].detail["resolution"] == "remove"
    assert [e.seq for e in store.audit(after=log[0].seq or 0)] == [log[1].seq, log[2].seq]


def test_audit_log_is_append_only(store: SqlStore, clock: Clock) -> None:
    store.add([], [AuditEvent("ingress", "decision", "post-1")])
    for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), store._transaction() as cur:
            cur.execute(sql)
    assert [e.actor for e in store.audit()] == ["ingress"]


def test_export_writes_resolved_items_with_text(store: SqlStore, clock: Clock) -> None:
    kept, image_only, still_open = item(clock), item(clock, text=None), item(clock)
    store.add([kept, image_only, still_open], [])
    store.resolve(kept.id, "ana", "remove")
    store.resolve(image_only.id, "ana", "remove")
    out = io.StringIO()
    assert export_jsonl(store, out) == 1
    (row,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert row["text"] == "you clown"
    assert row["labels"] == {"insult": 1.0, "toxicity": 1.0}
    assert row["review_id"] == kept.id


def test_migrations_apply_once(store: SqlStore, clock: Clock) -> None:
    store.add([item(clock)], [])
    store.close()
    assert len(store.find(ReviewFilter())) == 1  # reconnects, finds its schema, migrates nothing


def test_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    down = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1)
    with pytest.raises(StoreUnavailable):
        down.ping()
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(StoreError):
        SqliteStore(blocked / "reviews.sqlite3").ping()  # its folder is a file


def test_cli_export_feeds_the_training_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deployments.text.training.data import load_jsonl_examples
    from serve_app.cli import main

    monkeypatch.setenv("MODSERVE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MODSERVE_DATABASE_URL", raising=False)
    store = SqliteStore(tmp_path / "reviews.sqlite3")
    new = NewReview("c1", "u1", "reddit", "default", "v1", "review", {"insult": 0.6}, ["insult"])
    store.add([NewReview(**{**new.__dict__, "text": "you absolute clown"})], [])
    (only,) = store.find(ReviewFilter())
    store.resolve(only.id, "ana", "label", {"insult": 1.0, "threat": 0.0})
    store.close()

    out = tmp_path / "labels.jsonl"
    assert main(["reviews", "export", str(out)]) == 0
    assert "1 resolved items" in capsys.readouterr().out
    (example,) = load_jsonl_examples(out)
    assert example.text == "you absolute clown"
    assert dict(example.labels) == {"insult": 1.0, "threat": 0.0}
    assert (example.source, example.split in ("train", "validation")) == ("reviews", True)


@pytest.mark.parametrize(
    "line",
    [
        '{"text": "x"}',
        '{"text": "x", "labels": {"insluT": 1}}',
        '{"text": "x", "labels": {"insult": 2}}',
        "not json",
    ],
)
def test_training_loader_names_the_bad_line(tmp_path: Path, line: str) -> None:
    from deployments.text.training.data import load_jsonl_examples

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "labels": {"insult": 0}}\n' + line + "\n")
    with pytest.raises(ValueError, match="bad.jsonl:2:"):
        load_jsonl_examples(path)


def test_replicas_opening_one_sqlite_file_migrate_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    stores = [SqliteStore(tmp_path / "reviews.sqlite3") for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: s.ping(), stores))  # each applies or finds the migrations
    for s in stores:
        s.close()
