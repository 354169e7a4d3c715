"""``modserve bench``: raw model throughput and HTTP throughput/latency in one JSON report.

Raw figures call the Ray-free model classes directly in this process, so they are the ceiling
the graph is measured against. HTTP figures drive a running modserve on loopback with a
bounded number of requests per concurrency level. This is a measurement, not a test.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from PIL import Image

from serve_app.bench import LoadError
from serve_app.bench.loadgen import (
    MODERATE,
    LoadConfig,
    closed_loop,
    ensure_ready,
    http_client,
    loopback_url,
    request_bodies,
    summarize,
)

if TYPE_CHECKING:
    from deployments.text.model import TextModel


def sample_texts(data_dir: Path, n: int) -> list[str]:
    """``n`` validation texts of at most 280 characters from every set, shuffled (seeded), each
    distinct while the sets have enough: a repeated text would hit the encoder's word and piece
    caches and flatter the figures."""
    from deployments.text.training.data import load_examples

    rows = load_examples(data_dir, max_per_source=max(8, n // 4))
    candidates = (e.text for e in rows if e.split == "validation" and len(e.text) <= 280)
    texts = list(dict.fromkeys(candidates))
    random.Random(0).shuffle(texts)
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def sample_images(n: int, size: int = 320) -> list[bytes]:
    rng = np.random.default_rng(0)
    images = []
    for _ in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=85)
        images.append(buf.getvalue())
    return images


def items_per_s(predict: Callable[[list[Any]], object], items: list[Any], batch: int) -> float:
    """Throughput of ``predict`` over ``items`` in batches, after one warm-up batch."""
    predict(items[:batch])
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        predict(items[i : i + batch])
    return round(len(items) / (time.perf_counter() - started), 1)


SHORT_TEXT_CHARS = 120  # a chat message or a short comment


def raw_text(model: TextModel, texts: list[str], batch: int = 32) -> dict[str, float]:
    """Texts/s of the ensemble on the sample, and on its short texts alone (cost grows with
    length, and the validation sets mix tweets with long forum posts)."""
    predict = model.predict
    short = [t for t in texts if len(t) <= SHORT_TEXT_CHARS]
    return {
        "texts": len(texts),
        "batch": batch,
        "texts_per_s": items_per_s(predict, texts, batch),
        "short_texts": len(short),
        "short_texts_per_s": items_per_s(predict, short, batch) if short else float("nan"),
    }


def raw_image(images: list[bytes], batch: int = 16) -> dict[str, float]:
    from deployments.image.model import ImageModel

    rate = items_per_s(ImageModel(device="cpu").predict, images, batch)
    return {"images": len(images), "batch": batch, "images_per_s": rate}


def http_bench(
    url: str,
    texts: list[str],
    requests: int,
    levels: list[int],
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    """``requests`` POSTs to ``/v1/moderate`` per concurrency level, closed loop: the same
    driver and report as ``modserve load``'s probe, bounded in requests instead of seconds."""

    async def run(cfg: LoadConfig) -> list[dict[str, Any]]:
        bodies = request_bodies(texts, uuid.uuid4().hex[:8])
        reports = []
        async with http_client(cfg, transport) as client:
            await ensure_ready(client)
            await closed_loop(client, MODERATE, bodies, 4, cfg.timeout_s, min(16, requests))
            for c in levels:
                tally = await closed_loop(client, MODERATE, bodies, c, cfg.timeout_s, requests)
                reports.append(summarize(f"c={c}", tally, concurrency=c).model_dump())
        return reports

    try:
        cfg = LoadConfig(url=loopback_url(url), concurrency=max(levels), max_requests=requests)
        return {"levels": asyncio.run(run(cfg))}
    except LoadError as exc:
        return {"skipped": str(exc)}


def batch_vs_raw(
    model: TextModel, url: str, texts: list[str], repeats: int = 3
) -> dict[str, Any]:
    """``/v1/moderate/batch`` over ``texts`` against ``TextModel.score`` on them, same run.

    The ratio is what the whole HTTP path (parsing, fan-out, Serve's batching, policy, response)
    keeps of the model's own throughput; each side is the median of ``repeats`` timed passes,
    taken in turn so that both see the same load. ``url`` is a ready modserve: ``run_bench``
    calls this only after ``http_bench`` found one there.
    """
    import torch

    items = [
        {"content_id": f"batch-{i}", "text": t, "author_id": f"bench-{i}", "platform": "custom"}
        for i, t in enumerate(texts)
    ]
    with httpx.Client(timeout=300) as client:

        def post() -> tuple[float, list[dict[str, Any]]]:
            started = time.perf_counter()
            response = client.post(f"{url}/v1/moderate/batch", json={"items": items})
            response.raise_for_status()
            return time.perf_counter() - started, response.json()["results"]

        post()  # warm-up
        rates, timed = [], []
        for _ in range(repeats):  # interleaved, so both sides see the same machine load
            rates.append(items_per_s(model.score, texts, 32))
            timed.append(post())
    raw = statistics.median(rates)
    seconds = statistics.median(t for t, _ in timed)
    results = timed[-1][1]
    batch = round(len(texts) / seconds, 1)
    return {
        "texts": len(texts),
        "raw_torch_threads": torch.get_num_threads(),  # the replica gets Ray's OMP_NUM_THREADS
        "load_average_1m": round(os.getloadavg()[0], 2),
        "raw_texts_per_s": raw,
        "batch_texts_per_s": batch,
        "batch_seconds": round(seconds, 2),
        "ratio": round(batch / raw, 3),
        "degraded": sum(1 for r in results if r.get("degraded")),
        "errors": sum(1 for r in results if "error" in r),
    }


def run_bench(
    *,
    url: str,
    texts: int,
    images: int,
    requests: int,
    concurrencies: list[int],
    data_dir: Path,
    batch_texts: int = 256,
) -> dict[str, Any]:
    from deployments.text.model import TextModel

    model = TextModel(device="cpu")
    sample = sample_texts(data_dir, texts)
    http = http_bench(url, sample, requests, concurrencies)
    report = {
        "raw_text": raw_text(model, sample),
        "raw_image": raw_image(sample_images(images)),
        "http_moderate_text": http,
    }
    if batch_texts:  # needs the server the HTTP part found ready, or is skipped for its reason
        report["batch_vs_raw_text"] = (
            {"skipped": http["skipped"]} if "skipped" in http
            else batch_vs_raw(model, loopback_url(url), sample_texts(data_dir, batch_texts))
        )
    return report
