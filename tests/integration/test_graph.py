"""The real graph, end to end, over HTTP to the one local Serve instance (see conftest.py).

The ``/broken`` application puts the same Ingress, fallback and policy in front of a text
deployment that fails on purpose (raises, or answers too late), to show the regex fallback
takes over with ``degraded: true`` and the client never sees an error.
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import time
from typing import Any

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.integration

TOXIC = "you are a worthless stupid idiot and everyone hates you"
BENIGN = "this is a great recipe, thank you"


def png(width: int = 64, height: int = 64) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    for x in range(0, width, 8):
        for y in range(0, height, 8):
            if (x + y) // 8 % 2:
                image.putpixel((x, y), (0, 0, 0))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def moderate(url: str, **fields: Any) -> httpx.Response:
    body = {"content_id": "c1", "author_id": "a1", "platform": "reddit", **fields}
    return httpx.post(f"{url}/v1/moderate", json=body, timeout=60)


def test_health_and_ready(base_url: str) -> None:
    assert httpx.get(f"{base_url}/v1/health").json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/v1/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True


def test_categories_say_where_each_signal_comes_from(base_url: str) -> None:
    listed = httpx.get(f"{base_url}/v1/categories", timeout=30).json()["categories"]
    by_analyzer = {(c["analyzer"], c["name"]): c for c in listed}
    assert ("text", "toxicity") in by_analyzer
    assert ("image", "sexual") in by_analyzer
    assert by_analyzer[("text", "toxicity")]["source"] == "model"
    assert {c["source"] for c in listed if c["analyzer"] == "fallback"} == {"lexicon"}
    # The text model says how good each category is, pooled and on English alone
    assert set(by_analyzer[("text", "insult")]["validation_auroc"]) == {"all", "en"}
    assert by_analyzer[("image", "sexual")]["validation_auroc"] is None


def test_toxic_text_is_flagged_and_benign_text_allowed(base_url: str) -> None:
    toxic = moderate(base_url, text=TOXIC).json()
    assert toxic["decision"] in {"review", "block"}
    assert "toxicity" in toxic["flagged_categories"]
    assert toxic["degraded"] is False
    assert toxic["model_version"].startswith("text-")
    benign = moderate(base_url, text=BENIGN).json()
    assert benign["decision"] == "allow" and benign["is_approved"] is True
    assert benign["category_scores"]["toxicity"] < 0.5
    assert "char_ngram" in benign["details"]["analyzers"]["text"]
    assert benign["details"]["language"] == "en"


def test_stricter_policy_changes_the_decision_not_the_scores(base_url: str) -> None:
    text = "this is crap"
    default = moderate(base_url, text=text).json()
    strict = moderate(base_url, text=text, policy="strict").json()
    assert default["category_scores"] == strict["category_scores"]
    order = {"allow": 0, "review": 1, "block": 2}
    assert order[strict["decision"]] >= order[default["decision"]]
    assert strict["details"]["policy"] == "strict"


def test_image_is_scored(base_url: str) -> None:
    body = moderate(base_url, image_base64=b64(png()), text=BENIGN).json()
    assert 0.0 <= body["category_scores"]["sexual"] <= 1.0
    assert "image" in body["details"]["analyzers"]
    assert body["decision"] == "allow"


def noise_png(megabytes: float) -> bytes:
    """A PNG of random pixels (which do not compress) of about ``megabytes`` MB."""
    side = int((megabytes * 1e6 / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), random.Random(7).randbytes(side * side * 3))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def test_an_image_over_4_mib_is_scored_like_any_other(base_url: str) -> None:
    data = noise_png(5.0)
    assert 4 * 1024 * 1024 < len(data) < 10 * 1024 * 1024  # over Ray's default, in the API's
    answer = moderate(base_url, image_base64=b64(data)).json()
    assert "image" in answer["details"]["analyzers"], answer
    assert answer["degraded"] is False
    openai = httpx.post(f"{base_url}/v1/moderations", timeout=60, json={"input": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(data)}}]})
    assert openai.status_code == 200
    assert "image" in openai.json()["results"][0]["category_applied_input_types"]["sexual"]


def test_a_batch_of_the_longest_texts_is_answered(base_url: str) -> None:
    items = [{"content_id": f"e{i}", "author_id": f"a{i}", "platform": "custom",
              "text": (BOLD_RECIPE * 400)[:5000]} for i in range(256)]
    # 5,000 characters each, nearly all four-byte (mathematical bold letters, harmless once
    # normalised, so nothing is queued for review): 4.2 MiB of UTF-8 to Policy, over 4 MiB
    answer = httpx.post(f"{base_url}/v1/moderate/batch", json={"items": items}, timeout=120)
    assert answer.status_code == 200, answer.text[:300]
    assert all("decision" in r for r in answer.json()["results"])


BOLD_RECIPE = "".join(chr(0x1D41A + ord(c) - 97) if c.isalpha() else c
                      for c in "thanks for the recipe ")


def truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), "red").save(buf, format="JPEG")
    return buf.getvalue()[:300]


def bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"text": "x" * 5001}, 413, "text_too_long"),
        ({"image_base64": "not base64!!"}, 400, "invalid_base64"),
        ({"image_base64": b64(b"just some text, not an image")}, 415, "unsupported_image_format"),
        ({"image_base64": b64(truncated_jpeg())}, 400, "invalid_image"),
        ({"image_base64": b64(bomb())}, 413, "image_too_many_pixels"),
        ({"text": "hi", "platform": "myspace"}, 422, "invalid_field"),
        ({"text": "hi", "policy": "nope"}, 422, "unknown_policy"),
        ({}, 422, "invalid_field"),
    ],
)
def test_bad_input_gets_one_error_shape(
    base_url: str, fields: dict[str, Any], status: int, code: str
) -> None:
    response = moderate(base_url, **fields)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == code


def test_malformed_json_is_400(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/moderate", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("text", [f"raise: {TOXIC}", f"slow: {TOXIC}"])
def test_text_failure_falls_back_to_regex(base_url: str, text: str) -> None:
    started = time.perf_counter()
    response = moderate(f"{base_url}/broken", text=text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["degraded"] is True
    assert body["decision"] in {"review", "block"}
    assert "fallback" in body["details"]["analyzers"]
    assert time.perf_counter() - started < 10


def test_image_without_a_classifier_is_never_silently_allowed(base_url: str) -> None:
    body = moderate(f"{base_url}/broken", image_base64=b64(png())).json()
    assert body["decision"] == "review"


def test_concurrent_requests_are_all_answered(base_url: str) -> None:
    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            bodies = [
                {
                    "content_id": f"c{i}",
                    "author_id": "a",
                    "platform": "custom",
                    "text": TOXIC if i % 2 else BENIGN,
                }
                for i in range(40)
            ]
            responses = await asyncio.gather(
                *(client.post(f"{base_url}/v1/moderate", json=b) for b in bodies)
            )
            return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200] * 40
