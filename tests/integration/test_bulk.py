"""The bulk job on Ray Data, end to end, in the session's Ray instance (beside Serve).

One small input with good, bad and image rows: every row comes out exactly once, bad rows carry
an error, decisions match the HTTP service's, and a rerun after losing two shards rescores only
those two.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from serve_app.bulk.job import BulkConfig, run_bulk
from serve_app.bulk.synth import synth_rows, write_rows
from tests.integration.test_graph import TOXIC, b64, png

pytestmark = pytest.mark.integration

TEXTS = [TOXIC, "this is a great recipe, thank you", "I will find you and hurt you", "hi all"]


def test_bulk_job_writes_each_row_once_and_resumes(base_url: str, tmp_path: Path) -> None:
    src = tmp_path / "posts.jsonl"
    write_rows(src, synth_rows(TEXTS, 200, bad_every=40))
    with src.open("a") as handle:
        handle.write(json.dumps({"id": "toxic", "text": TOXIC}) + "\n")
        handle.write(
            json.dumps({"id": "img-ok", "text": "look", "image_base64": b64(png())}) + "\n"
        )
        broken = base64.b64encode(png()[:40]).decode()
        handle.write(json.dumps({"id": "img-bad", "image_base64": broken}) + "\n")
    out = tmp_path / "out"
    cfg = BulkConfig(input=src, output=out, shard_rows=64, batch_size=32, progress=False)

    summary = run_bulk(cfg)
    assert summary["rows_in"] == summary["rows_out"] == summary["rows_scored_this_run"] == 203
    assert summary["missing_rows"] == summary["duplicate_rows"] == summary["duplicate_ids"] == 0
    errors = {"missing_id": 2, "empty_text": 2, "text_too_long": 1, "invalid_image": 1}
    assert summary["errors"] == errors
    assert summary["decisions"]["block"] > 0 and summary["decisions"]["allow"] > 0

    rows = {r["id"]: r for r in pq.read_table(out).to_pylist()}
    image_row = rows["img-ok"]
    assert image_row["score_gore"] is not None and "open_nsfw" in image_row["model_version"]
    served = httpx.post(
        f"{base_url}/v1/moderate",
        json={"content_id": "x", "author_id": "a", "platform": "custom", "text": TOXIC},
        timeout=60,
    ).json()
    toxic_row = rows["toxic"]
    assert toxic_row["decision"] == served["decision"]
    assert toxic_row["score_toxicity"] == served["category_scores"]["toxicity"]

    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    for lost in ("part-00001.parquet", "part-00002.parquet"):
        (out / lost).unlink()
    again = run_bulk(cfg)
    assert again["rows_scored_this_run"] == 128
    assert again["rows_out"] == 203 and again["missing_rows"] == again["duplicate_rows"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}.keys() == kept.keys()
    assert (out / "part-00000.parquet").stat().st_mtime_ns == kept["part-00000.parquet"]
