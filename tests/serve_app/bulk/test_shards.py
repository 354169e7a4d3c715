"""Staging, shards, the manifest and the resume guarantee, on real files and without Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serve_app.bulk.shards import (
    BulkError,
    Manifest,
    ShardAssembler,
    job_key,
    part_path,
    pending_shards,
    prepare,
    read_records,
    staged_path,
    summarize,
)


def key_for(path: Path, shard_rows: int = 2, policy: str = "default"):  # type: ignore[no-untyped-def]
    return job_key(
        path, shard_rows=shard_rows, output_format="parquet", policy=policy, model_version="v1"
    )


def jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def scored(table: pa.Table) -> pa.Table:
    """What a scorer returns, reduced to the columns the assembler and summary read."""
    n = table.num_rows
    return pa.table(
        {
            "row": table["row"],
            "id": table["id"],
            "decision": pa.array(["allow"] * n),
            "flagged_categories": pa.array([[]] * n, pa.list_(pa.string())),
            "error": pa.array([None] * n, pa.string()),
        }
    )


def test_staging_numbers_rows_in_file_order_and_keeps_bad_lines(tmp_path: Path) -> None:
    src = jsonl(
        tmp_path,
        ['{"id": 7, "text": "a"}', "", "not json", '{"id": "b", "text": "b", "x": 1}', "[1]"],
    )
    out = tmp_path / "out"
    manifest = prepare(out, key_for(src))
    assert manifest.rows == 4 and [s["rows"] for s in manifest.shards] == [2, 2]
    rows = (
        pq.read_table(staged_path(out, 0)).to_pylist()
        + pq.read_table(staged_path(out, 1)).to_pylist()
    )
    assert [r["row"] for r in rows] == [0, 1, 2, 3]
    assert rows[0]["id"] == "7" and rows[0]["input_error"] is None
    assert "line 3 is not JSON" in rows[1]["input_error"]
    assert rows[2]["id"] == "b" and "line 5" in rows[3]["input_error"]
    assert json.loads((out / "_manifest.json").read_text())["rows"] == 4


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_give_the_same_records_as_jsonl(tmp_path: Path, suffix: str) -> None:
    rows = [{"id": "1", "text": 'hello, "world"\nsecond line'}, {"id": "2", "text": "x"}]
    path = tmp_path / f"in{suffix}"
    table = pa.Table.from_pylist(rows)
    if suffix == ".csv":
        import pyarrow.csv as pa_csv

        pa_csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    got = [{k: r[k] for k in ("id", "text")} for r in read_records(path)]
    assert got == rows


def test_unknown_input_format_and_missing_input_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BulkError, match="no such input"):
        key_for(tmp_path / "nope.jsonl")
    other = tmp_path / "in.txt"
    other.write_text("x")
    with pytest.raises(BulkError, match="unknown input format"):
        prepare(tmp_path / "out", key_for(other))


def test_restart_with_other_arguments_is_refused(tmp_path: Path) -> None:
    src = jsonl(tmp_path, ['{"id": "1", "text": "a"}'])
    out = tmp_path / "out"
    prepare(out, key_for(src))
    assert prepare(out, key_for(src)).rows == 1  # same arguments: the same manifest
    with pytest.raises(BulkError, match="changed: policy"):
        prepare(out, key_for(src, policy="strict"))


def test_assembler_writes_a_shard_only_when_complete_and_keeps_repeats_once(
    tmp_path: Path,
) -> None:
    src = jsonl(tmp_path, [json.dumps({"id": str(i), "text": "t"}) for i in range(5)])
    out = tmp_path / "out"
    manifest = prepare(out, key_for(src))
    staged = pa.concat_tables(pq.read_table(staged_path(out, i)) for i in range(3))
    assembler = ShardAssembler(out, manifest, pending_shards(out, manifest))
    assert assembler.add(scored(staged.take([1, 4]))) == [2]  # shard 2 is row 4 alone
    assert not part_path(out, 0, "parquet").exists()
    assert assembler.add(scored(staged.take([0, 1, 3]))) == [0]
    assert assembler.missing() == {1: 1}
    assert assembler.add(scored(staged.take([2, 2]))) == [1]
    assert pq.read_table(part_path(out, 0, "parquet"))["row"].to_pylist() == [0, 1]
    assert assembler.rows_written == 5
    assert all(s["done"] for s in Manifest.load(out).shards)  # type: ignore[union-attr]


def test_a_restart_scores_only_missing_shards_and_the_output_has_each_row_once(
    tmp_path: Path,
) -> None:
    src = jsonl(tmp_path, [json.dumps({"id": str(i), "text": "t"}) for i in range(6)])
    out = tmp_path / "out"
    manifest = prepare(out, key_for(src))
    first = ShardAssembler(out, manifest, pending_shards(out, manifest))
    first.add(scored(pq.read_table(staged_path(out, 1))))  # "killed" after one shard
    (out / ".part-00002.parquet.tmp").write_bytes(b"half a file")
    summary = summarize(out, manifest, rows_scored=2, seconds=1.0)
    assert (summary["rows_out"], summary["missing_rows"]) == (2, 4)

    manifest = prepare(out, key_for(src))  # the restart
    assert pending_shards(out, manifest) == [0, 2]
    assert not (out / ".part-00002.parquet.tmp").exists()
    second = ShardAssembler(out, manifest, pending_shards(out, manifest))
    for index in (0, 2):
        second.add(scored(pq.read_table(staged_path(out, index))))
    summary = summarize(out, manifest, rows_scored=4, seconds=2.0)
    assert summary["rows_in"] == summary["rows_out"] == 6
    assert summary["missing_rows"] == summary["duplicate_rows"] == summary["duplicate_ids"] == 0
    assert summary["decisions"] == {"allow": 6} and summary["rows_per_s"] == 2.0
    assert pq.read_table(out).num_rows == 6  # _input/ and _manifest.json are skipped
