"""Faults under load: a text replica killed, slow past its timeout, or raising; an image model
that fails. Every request is answered, fallback answers say ``degraded``, the graph recovers by
itself, and operators can see it all in the metrics and the logs.

These drive the ``/broken`` application (see conftest.py): the real Ingress, fallback and policy
in front of ``failing.py``'s stand-ins, whose replicas restart in a second, not a model load.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_graph import TOXIC, b64, moderate, png

pytestmark = pytest.mark.integration


async def load(
    url: str, texts: list[str], concurrency: int, during: Any = None
) -> list[httpx.Response]:
    """POST every text to /v1/moderate, ``concurrency`` at a time; ``during`` runs meanwhile.

    A request that gets no answer at all raises here."""
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int, text: str) -> httpx.Response:
        body = {"content_id": f"f{i}", "author_id": f"fault-{i}", "platform": "custom"}
        async with gate:
            return await client.post(f"{url}/v1/moderate", json={**body, "text": text})

    async with httpx.AsyncClient(timeout=60) as client:
        jobs = [asyncio.create_task(one(client, i, t)) for i, t in enumerate(texts)]
        if during is not None:
            await during()
        return list(await asyncio.gather(*jobs))


@pytest.mark.parametrize("fault", ["raise", "slow"])
def test_raising_or_slow_text_model_under_load_degrades_never_errors(
    base_url: str, fault: str
) -> None:
    texts = [f"{fault}: {TOXIC}" if i % 2 else f"ok: {TOXIC}" for i in range(40)]
    started = time.perf_counter()
    answers = asyncio.run(load(f"{base_url}/broken", texts, concurrency=20))
    assert [a.status_code for a in answers] == [200] * 40
    degraded = [a.json()["degraded"] for a in answers]
    assert degraded == [i % 2 == 1 for i in range(40)]  # exactly the faulty ones
    assert all(a.json()["decision"] != "allow" for a in answers)
    assert time.perf_counter() - started < 30  # slow ones wait text_timeout_s (1 s), not 30


def test_past_max_in_flight_the_ingress_sheds_at_once_and_never_hangs(base_url: str) -> None:
    """60 posts at once whose text model answers only after the 1 s timeout: the /broken
    ingress works on 24 (max_in_flight) and refuses the rest straight away."""
    started = time.perf_counter()
    answers = asyncio.run(load(f"{base_url}/broken", [f"slow: {TOXIC}"] * 60, concurrency=60))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {200, 503} and statuses.count(200) >= 24, statuses
    shed = [a for a in answers if a.status_code == 503]
    assert all(a.json()["error"]["code"] == "overloaded" for a in shed)
    assert all(a.headers["Retry-After"] == "1" for a in shed)
    assert all(a.json()["degraded"] for a in answers if a.status_code == 200)
    assert time.perf_counter() - started < 20


def test_killed_text_replica_falls_back_then_recovers_by_itself(base_url: str) -> None:
    import ray

    def kill_text_replica() -> None:
        (name,) = [
            a["name"]
            for a in ray.util.list_named_actors(all_namespaces=True)
            if re.match(r"SERVE_REPLICA::broken#FailingText#", a["name"])
        ]
        ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)

    killed_at = 0.0

    async def kill_midway() -> None:
        nonlocal killed_at
        await asyncio.sleep(0.5)
        await asyncio.to_thread(kill_text_replica)
        killed_at = time.perf_counter()

    texts = [f"ok: {TOXIC} {i}" for i in range(300)]
    answers = asyncio.run(load(f"{base_url}/broken", texts, concurrency=4, during=kill_midway))
    assert [a.status_code for a in answers] == [200] * 300
    degraded = sum(a.json()["degraded"] for a in answers)
    assert 0 < degraded < 300  # the kill landed mid-load, and the fallback answered meanwhile
    recovered = None
    while recovered is None and time.perf_counter() - killed_at < 60:
        body = moderate(f"{base_url}/broken", text=f"ok: {TOXIC}").json()
        recovered = time.perf_counter() if not body["degraded"] else None
        time.sleep(0.2)
    assert recovered is not None, "the text replica did not come back within 60 s"
    print(f"kill: 300 answered, {degraded} degraded, recovered {recovered - killed_at:.1f} s")


def test_failing_image_model_sends_image_only_posts_to_review(base_url: str) -> None:
    body = moderate(f"{base_url}/broken", image_base64=b64(png())).json()
    assert body["decision"] == "review"
    assert "image could not be scored" in body["details"]["reasons"]


def scrape(metrics_url: str, pattern: str, timeout: float = 40.0) -> list[str]:
    """Lines of the Prometheus text that match ``pattern``, waiting for Ray's export delay."""
    deadline = time.monotonic() + timeout
    while True:
        text = httpx.get(metrics_url, timeout=10).text
        found = [line for line in text.splitlines() if re.search(pattern, line)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_metrics_show_decisions_fallbacks_latency_batches_memory(
    base_url: str, metrics_url: str
) -> None:
    moderate(base_url, text=TOXIC, platform="reddit")
    moderate(f"{base_url}/broken", text=f"raise: {TOXIC}")
    moderate(f"{base_url}/broken", image_base64=b64(png()))
    expected = [
        r'^ray_moderation_requests_total\{.*decision="block".*platform="reddit"',
        r'^ray_moderation_fallbacks_total\{.*analyzer="text".*reason="error"',
        r'^ray_moderation_fallbacks_total\{.*analyzer="image".*reason="error"',
        r'^ray_moderation_latency_seconds_bucket\{.*deployment="TextEnsemble"',
        r'^ray_moderation_latency_seconds_bucket\{.*deployment="Ingress".*method="moderate"',
        r'^ray_moderation_latency_seconds_count\{.*deployment="Policy"',
        r'^ray_moderation_batch_size_bucket\{.*deployment="TextEnsemble"',
        r'^ray_model_memory_bytes\{.*deployment="TextEnsemble"',
        r'^ray_model_memory_bytes\{.*deployment="ImageClassifier"',  # via check_health
    ]
    for pattern in expected:
        assert scrape(metrics_url, pattern), f"no metric line matches {pattern}"
    (memory,) = scrape(metrics_url, r'^ray_model_memory_bytes\{.*deployment="TextEnsemble"')
    assert float(memory.rsplit(" ", 1)[1]) > 50e6  # a loaded model, not an empty process


def traced(url: str, text: str) -> str:
    """Moderate ``text`` under a request id of ours; the id, as the answer echoes it."""
    request_id = f"trace-{time.time_ns()}"
    response = httpx.post(
        f"{url}/v1/moderate",
        json={"content_id": "t1", "author_id": "tracer", "platform": "custom", "text": text},
        headers={"X-Request-ID": request_id},
        timeout=60,
    )
    assert response.headers["x-request-id"] == request_id
    return request_id


def json_log_lines(app: str, deployments: set[str], needle: str) -> dict[str, list[Any]]:
    """Per deployment of ``app``, its replicas' JSON log records that mention ``needle``."""
    import ray

    logs = Path(ray._private.worker._global_node.get_logs_dir_path()) / "serve"
    found: dict[str, list[Any]] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and set(found) < deployments:
        for path in logs.glob(f"replica_{app}_*.log"):
            lines = path.read_text(errors="replace").splitlines()
            records = [json.loads(line) for line in lines if needle in line]
            if records:
                found[path.name.split("_")[2]] = records
        time.sleep(1)
    return found


def test_request_id_follows_a_request_through_the_deployments(base_url: str) -> None:
    request_id = traced(base_url, TOXIC)
    found = json_log_lines("modserve", {"Ingress", "TextEnsemble", "Policy"}, request_id)
    assert {"Ingress", "TextEnsemble", "Policy"} <= set(found), found
    assert all(r["request_id"] == request_id for records in found.values() for r in records)


def test_fallback_warning_is_logged_with_its_request_id(base_url: str) -> None:
    request_id = traced(f"{base_url}/broken", f"raise: {TOXIC}")
    found = json_log_lines("broken", {"Ingress"}, request_id)
    assert any("regex fallback answers" in r["message"] for r in found.get("Ingress", [])), found
