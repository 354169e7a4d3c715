"""The bulk scorer decides like the service and turns bad rows into errors, without Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from deployments.policy import decide
from serve_app.bulk.scoring import OUTPUT_SCHEMA, BatchScorer, ScorerSpec
from serve_app.bulk.shards import STAGED_SCHEMA
from serve_app.settings import load_settings

TOXIC = "you are a worthless stupid idiot and everyone hates you"


@pytest.fixture(scope="module")
def scorer() -> BatchScorer:
    settings = load_settings({"device": "cpu"}, environ={})
    spec = ScorerSpec(
        settings.model_dump(mode="json"), None, images=False, image_root="/nonexistent"
    )
    return BatchScorer.from_spec(spec)


def staged(*rows: dict[str, Any]) -> pa.Table:
    blank = {name: None for name in STAGED_SCHEMA.names}
    return pa.Table.from_pylist(
        [{**blank, "row": i, **r} for i, r in enumerate(rows)], schema=STAGED_SCHEMA
    )


def test_scores_and_decisions_are_those_of_the_service(scorer: BatchScorer) -> None:
    texts = [TOXIC, "thanks, the recipe worked great"]
    out = scorer(staged(*({"id": f"p{i}", "text": t} for i, t in enumerate(texts))))
    assert out.schema == OUTPUT_SCHEMA
    for row, signal in zip(out.to_pylist(), scorer.text_model.predict(texts), strict=True):
        expected = decide(scorer.policy, "custom", [signal], image_expected=False)
        assert row["decision"] == expected.decision
        assert row["flagged_categories"] == expected.flagged_categories
        assert row["score_toxicity"] == signal.scores["toxicity"]
        assert row["model_version"] == scorer.text_model.version and row["error"] is None
    assert out["decision"].to_pylist()[0] in {"review", "block"}


def test_platform_column_selects_the_policys_overrides(scorer: BatchScorer) -> None:
    out = scorer(staged({"id": "a", "text": TOXIC, "platform": "reddit"}))
    (signal,) = scorer.text_model.predict([TOXIC])
    assert (
        out["decision"][0].as_py()
        == decide(scorer.policy, "reddit", [signal], image_expected=False).decision
    )


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"id": "a", "text": ""}, "empty_text"),
    ({"id": "a", "text": "  \n"}, "empty_text"),
    ({"id": None, "text": "hello"}, "missing_id"),
    ({"id": " ", "text": "hello"}, "missing_id"),
    ({"id": "a", "text": "x" * 5001}, "text_too_long"),
    ({"id": "a", "text": "hi", "platform": "myspace"}, "invalid_platform"),
    ({"id": "a", "text": "hi", "image_base64": "not base64!"}, "invalid_base64"),
    ({"id": "a", "image_path": "missing.png"}, "image_unreadable"),
    ({"input_error": "line 3 is not JSON"}, "invalid_row"),
]


def test_bad_rows_get_an_error_and_their_neighbours_are_scored(scorer: BatchScorer) -> None:
    rows: list[dict[str, Any]] = []
    for bad, _ in BAD_ROWS:
        rows += [{"id": f"ok{len(rows)}", "text": "hello there"}, bad]
    out = scorer(staged(*rows)).to_pylist()
    assert [r["row"] for r in out] == list(range(len(rows)))
    for good, bad, (_, code) in zip(out[::2], out[1::2], BAD_ROWS, strict=True):
        assert (bad["error"], bad["decision"]) == (code, None) and bad["error_message"]
        assert good["decision"] == "allow" and good["error"] is None


def test_image_paths_are_read_relative_to_the_input(tmp_path: Path, scorer: BatchScorer) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    local = BatchScorer(
        scorer.text_model, None, scorer.policy, scorer.settings, image_root=tmp_path
    )
    (row,) = local(staged({"id": "a", "image_path": "broken.png"})).to_pylist()
    assert row["error"] == "images_disabled"  # read from tmp_path; no image model in this job
