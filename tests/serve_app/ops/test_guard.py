"""Access, rate limits, recording and the review API, on a plain FastAPI app (no Ray).

The app here stands in for the Ingress: the same ``install_ops`` and error handlers, and a
``/v1/moderate`` route that makes the Ingress's two calls (``admit``, ``record``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_app.http.compat.errors import google_error
from serve_app.http.errors import ApiError, install_error_handlers
from serve_app.http.schemas import ModerationRequest, ModerationResponse
from serve_app.ops.guard import Ops, install_ops, sha256_hex
from serve_app.ops.ratelimit import Limit, LocalLimiter
from serve_app.ops.reviews import PostgresStore, ReviewStore, SqliteStore
from serve_app.settings import Settings

ADMIN = "admin-token-for-tests"
KEY = "api-key-for-tests"


def make_app(store: ReviewStore, **settings: Any) -> tuple[FastAPI, Ops]:
    app = FastAPI()
    install_error_handlers(app)
    install_ops(app)
    values = {"admin_token_sha256": sha256_hex(ADMIN), **settings}
    ops = Ops(Settings(**values), store, LocalLimiter())
    app.state.ops = ops

    @app.post("/v1/moderate")
    async def moderate(request: ModerationRequest) -> ModerationResponse:
        await ops.admit(request.author_id, request.policy)
        decision = "review" if "clown" in (request.text or "") else "allow"
        response = ModerationResponse(
            content_id=request.content_id,
            decision=decision,
            is_approved=decision == "allow",
            confidence_score=0.6,
            flagged_categories=["insult"] if decision == "review" else [],
            category_scores={"insult": 0.6},
            processing_time_ms=1.0,
            model_version="test",
            degraded=False,
            details={"policy": "default", "reasons": ["insult 0.60 >= review 0.50"]},
        )
        ops.record(request, response, queued=decision == "review")
        return response

    return app, ops


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "reviews.sqlite3")
    yield sqlite
    sqlite.close()


def post(client: TestClient, text: str, author: str = "u1", **kw: Any) -> Any:
    body = {"content_id": f"c-{text}", "author_id": author, "platform": "reddit", "text": text}
    return client.post("/v1/moderate", json=body, **kw)


def admin(client: TestClient, method: str, path: str, **kw: Any) -> Any:
    return client.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kw)


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_review_decisions_reach_the_queue_and_every_decision_the_log(store: SqliteStore) -> None:
    app, ops = make_app(store)
    with TestClient(app) as client:
        assert post(client, "you clown").json()["decision"] == "review"
        assert post(client, "nice post").json()["decision"] == "allow"
        wait_for(lambda: len(store.audit()) == 2)
        (item,) = admin(client, "GET", "/v1/reviews").json()["items"]
        assert (item["content_id"], item["text"], item["flagged_categories"]) == (
            "c-you clown",
            "you clown",
            ["insult"],
        )
        claimed = admin(client, "POST", f"/v1/reviews/{item['id']}/claim", json={"reviewer": "ana"})
        assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "ana"
        taken = admin(client, "POST", f"/v1/reviews/{item['id']}/claim", json={"reviewer": "bob"})
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
        body = {"reviewer": "bob", "resolution": "remove"}
        assert (
            admin(client, "POST", f"/v1/reviews/{item['id']}/resolve", json=body).status_code == 409
        )
        body["reviewer"] = "ana"
        done = admin(client, "POST", f"/v1/reviews/{item['id']}/resolve", json=body).json()
        assert (done["status"], done["labels"]) == ("resolved", {"insult": 1.0})
        actions = [e["action"] for e in admin(client, "GET", "/v1/audit").json()["events"]]
        assert actions == ["decision", "decision", "claim", "resolve"]


def test_review_api_errors_keep_the_one_shape(store: SqliteStore) -> None:
    app, _ = make_app(store)
    with TestClient(app) as client:
        assert client.get("/v1/reviews").status_code == 401
        wrong = client.get("/v1/reviews", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
        missing = admin(client, "GET", "/v1/reviews/nope")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "review_id"
        label = {"reviewer": "ana", "resolution": "label"}
        assert admin(client, "POST", "/v1/reviews/x/resolve", json=label).status_code == 422
        typo = {**label, "labels": {"insluT": 1.0}}
        assert admin(client, "POST", "/v1/reviews/x/resolve", json=typo).status_code == 422
        bad = admin(client, "POST", "/v1/reviews/x/resolve", json={"reviewer": "a"})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "resolution"


def test_no_admin_token_configured_keeps_the_review_api_closed(store: SqliteStore) -> None:
    app, _ = make_app(store, admin_token_sha256=None)
    with TestClient(app) as client:
        assert admin(client, "GET", "/v1/reviews").status_code == 401


def test_api_keys_guard_moderation_when_enabled(store: SqliteStore) -> None:
    app, _ = make_app(store, api_key_sha256=(sha256_hex(KEY),))
    with TestClient(app) as client:
        refused = post(client, "hello")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert post(client, "hello", headers={"X-API-Key": "wrong"}).status_code == 401
        assert post(client, "hello", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert post(client, "hello", headers={"X-API-Key": KEY}).status_code == 200
        in_url = client.post(f"/v1/moderate?key={KEY}", json={})  # URLs end up in logs
        assert in_url.status_code == 401 and in_url.json()["error"]["field"] == "key"
        assert post(client, "hello", headers={"X-Goog-Api-Key": KEY}).status_code == 200


def test_rate_limits_per_author_and_per_key(store: SqliteStore) -> None:
    app, _ = make_app(
        store, rate_limit_per_s=0.01, rate_limit_burst=3, api_key_sha256=(sha256_hex(KEY),)
    )
    key = {"X-API-Key": KEY}
    with TestClient(app) as client:
        assert [post(client, "hi", "a", headers=key).status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
        over = post(client, "hi", "b", headers=key)  # a fresh author, but the key is spent
        assert over.status_code == 429 and over.json()["error"]["field"] == "api_key"
        assert int(over.headers["Retry-After"]) >= 1


def test_author_limit_without_keys(store: SqliteStore) -> None:
    app, _ = make_app(store, rate_limit_per_s=0.01, rate_limit_burst=2)
    with TestClient(app) as client:
        codes = [post(client, "hi", "a").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = post(client, "hi", "a")
        assert limited.json()["error"] == {
            "code": "rate_limited",
            "message": "too many requests for this author_id; retry later",
            "field": "author_id",
        }
        assert post(client, "hi", "other").status_code == 200


def test_store_down_moderation_answers_review_api_503_buffer_flushes_later(
    tmp_path: Path,
) -> None:
    down = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1)
    app, ops = make_app(down)
    with TestClient(app) as client:
        assert [post(client, f"clown {i}").status_code for i in range(3)] == [200] * 3
        listed = admin(client, "GET", "/v1/reviews")
        assert listed.status_code == 503 and listed.headers["Retry-After"] == "5"
        assert listed.json()["error"]["code"] == "store_unavailable"
        wait_for(lambda: not ops.recorder.store_up)
        assert len(ops.recorder.buffer) == 3
        back = SqliteStore(tmp_path / "reviews.sqlite3")
        ops.store = ops.recorder.store = back  # the store "returns"
        wait_for(lambda: not ops.recorder.buffer, timeout=10)
        assert len(admin(client, "GET", "/v1/reviews").json()["items"]) == 3
        assert ops.recorder.dropped == 0


def test_buffer_is_bounded_and_counts_what_it_drops() -> None:
    down = PostgresStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1)
    app, ops = make_app(down, review_buffer=2)
    with TestClient(app) as client:
        for i in range(5):
            post(client, f"clown {i}")
        assert len(ops.recorder.buffer) <= 2
        assert ops.recorder.dropped + len(ops.recorder.buffer) == 5
        status = admin(client, "GET", "/v1/ops/status").json()
        assert status["dropped"] == ops.recorder.dropped


def test_review_page_is_plain_html(store: SqliteStore) -> None:
    app, _ = make_app(store)
    with TestClient(app) as client:
        page = client.get("/review")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/v1/reviews" in page.text and "<script>" in page.text


def test_over_max_in_flight_sheds_with_503_and_retry_after(store: SqliteStore) -> None:
    app, ops = make_app(store, max_in_flight=2)
    with TestClient(app) as client:
        ops.in_flight = 2  # two requests already being worked on
        shed = post(client, "hi")
        assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
        assert shed.json()["error"]["code"] == "overloaded"
        assert client.get("/review").status_code == 200  # only moderation is shed
        ops.in_flight = 1
        assert post(client, "hi").status_code == 200
        assert ops.in_flight == 1  # the answered request let go of its place


def test_in_flight_is_released_on_every_outcome(store: SqliteStore) -> None:
    app, ops = make_app(
        store, rate_limit_per_s=0.01, rate_limit_burst=1, api_key_sha256=(sha256_hex(KEY),)
    )
    key = {"X-API-Key": KEY}
    with TestClient(app) as client:
        statuses = [
            post(client, "hi", headers=key).status_code,  # answered
            post(client, "hi", headers=key).status_code,  # key over its limit
            post(client, "hi").status_code,  # no key
            client.post("/v1/moderate", json={}, headers=key).status_code,  # invalid body
        ]
        assert statuses == [200, 429, 401, 429]
        assert ops.in_flight == 0


def test_the_admin_token_is_never_read_from_the_url(store: SqliteStore) -> None:
    app, _ = make_app(store)
    with TestClient(app) as client:
        assert client.get(f"/v1/reviews?key={ADMIN}").status_code == 401
        both = client.get(f"/v1/reviews?key={ADMIN}", headers={"X-API-Key": ADMIN})
        assert both.status_code == 401  # the secret is in the URL (and its logs) already


class Limits:
    """A Policy deployment's answers: loaded names and limits, with a count of calls."""

    def __init__(self) -> None:
        self.table: dict[str | None, Limit | None] = {None: None, "default": None}
        self.calls = 0
        self.down = False

    async def __call__(self) -> dict[str | None, Limit | None]:
        self.calls += 1
        if self.down:
            raise ConnectionError("Policy unavailable")
        return dict(self.table)


def ops_with(limits: Limits, store: ReviewStore) -> Ops:
    return Ops(Settings(rate_limit_burst=1000), store, LocalLimiter(), limits)


def test_unknown_policies_are_422_and_cost_no_memory(store: SqliteStore) -> None:
    limits = Limits()
    ops = ops_with(limits, store)

    async def run() -> None:
        for i in range(1000):
            with pytest.raises(ApiError) as info:
                await ops.admit("a", f"nope-{i}")
            assert (info.value.status, info.value.code) == (422, "unknown_policy")
        await ops.admit("a", "default")
        await ops.admit("a", None)

    asyncio.run(run())
    assert limits.calls <= 2  # the first table, and one refresh for the first unknown name
    assert ops._policies is not None and ops._policies._limits == limits.table


def test_a_new_policy_is_found_and_the_table_survives_policy_downtime(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits()
    ops = ops_with(limits, store)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    async def run() -> None:
        await ops.admit("a", "default")
        limits.table["fresh"] = Limit(1.0, 1)
        clock[0] += 2  # past POLICIES_MISS_S: an unknown name asks again
        await ops.admit("b", "fresh")
        with pytest.raises(ApiError):
            await ops.admit("b", "fresh")  # the new policy's own limit: burst 1
        limits.down = True
        clock[0] += 60
        await ops.admit("c", "default")  # the last known table still answers

    asyncio.run(run())


def test_without_a_table_policy_names_pass_to_the_policy(store: SqliteStore) -> None:
    limits = Limits()
    limits.down = True
    ops = ops_with(limits, store)
    asyncio.run(ops.admit("a", "whatever"))  # Policy decides (and refuses) it later


def test_shed_and_key_errors_use_the_compat_shapes(store: SqliteStore) -> None:
    app, ops = make_app(store, api_key_sha256=(sha256_hex(KEY),))
    install_error_handlers(app, {"/v1alpha1/comments:analyze": google_error})

    @app.post("/v1alpha1/comments:analyze")
    async def analyze() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        refused = client.post("/v1alpha1/comments:analyze", json={})
        assert refused.status_code == 401
        assert refused.json()["error"]["status"] == "UNAUTHENTICATED"
        ops.in_flight = ops.settings.max_in_flight
        shed = client.post("/v1alpha1/comments:analyze", json={}, headers={"X-API-Key": KEY})
        assert shed.status_code == 503 and shed.json()["error"]["status"] == "UNAVAILABLE"


class Picky(SqliteStore):
    """A store that refuses, for its content, any batch holding a content id with "poison"."""

    def add(self, items: Any, events: Any) -> None:
        if any("poison" in (e.content_id or "") for e in events):
            raise ValueError("cannot store this")
        super().add(items, events)


def test_an_entry_the_store_refuses_loses_only_itself(tmp_path: Path) -> None:
    store = Picky(tmp_path / "reviews.sqlite3")
    app, ops = make_app(store)
    with TestClient(app) as client:
        for text in ("fine", "poison", "also fine"):
            assert post(client, text).status_code == 200
        wait_for(lambda: not ops.recorder.buffer and ops.recorder.dropped == 1)
        logged = [e.content_id for e in store.audit()]
        assert logged == ["c-fine", "c-also fine"]
    store.close()
