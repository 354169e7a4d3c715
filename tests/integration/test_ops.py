"""Review queue, audit log, per-policy limits and the review page on the real graph."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def moderate(url: str, content_id: str, author: str, text: str, **extra: Any) -> httpx.Response:
    body = {"content_id": content_id, "author_id": author, "platform": "reddit", "text": text}
    return httpx.post(f"{url}/v1/moderate", json={**body, **extra}, timeout=60)


def queued(url: str, content_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = httpx.get(f"{url}/v1/reviews", headers=ADMIN, params={"limit": 500}).json()
        found = [i for i in items["items"] if i["content_id"] == content_id]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{content_id} never reached the queue")


def test_review_decision_is_queued_claimed_resolved_and_audited(base_url: str) -> None:
    answer = moderate(base_url, "ops-1", "ops-a", "a forbidden phrase here", policy="limited")
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "review"  # the policy's blocklist, action review
    item = queued(base_url, "ops-1")
    assert item["policy"] == "limited" and item["text"] == "a forbidden phrase here"
    assert "blocklist term 'forbidden phrase'" in item["reasons"]
    review = f"{base_url}/v1/reviews/{item['id']}"
    assert httpx.post(f"{review}/claim", json={"reviewer": "ana"}, headers=ADMIN).is_success
    assert httpx.post(f"{review}/claim", json={"reviewer": "bob"}, headers=ADMIN).status_code == 409
    body = {"reviewer": "ana", "resolution": "approve"}
    assert httpx.post(f"{review}/resolve", json=body, headers=ADMIN).json()["status"] == "resolved"
    assert httpx.get(f"{base_url}/v1/reviews/nope", headers=ADMIN).status_code == 404
    events = httpx.get(f"{base_url}/v1/audit", headers=ADMIN, params={"limit": 1000}).json()
    mine = [(e["actor"], e["action"]) for e in events["events"] if e["content_id"] == "ops-1"]
    assert mine == [("ingress", "decision"), ("ana", "claim"), ("ana", "resolve")]


def test_review_api_needs_the_admin_token(base_url: str) -> None:
    refused = httpx.get(f"{base_url}/v1/reviews")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


def test_policy_rate_limit_applies_per_author(base_url: str) -> None:
    codes = [
        moderate(base_url, f"lim-{i}", "ops-flood", "hello", policy="limited").status_code
        for i in range(3)
    ]
    assert codes == [200, 200, 429]
    limited = moderate(base_url, "lim-x", "ops-flood", "hello", policy="limited")
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert moderate(base_url, "lim-y", "ops-other", "hello", policy="limited").status_code == 200


def test_review_page_is_served(base_url: str) -> None:
    page = httpx.get(f"{base_url}/review")
    assert page.status_code == 200 and "Review queue" in page.text
