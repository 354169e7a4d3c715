"""Shards, the manifest and atomic writes: what makes the bulk job resumable. No Ray in here.

A restart must skip finished work and still produce exactly one output row per input row, so
shard boundaries cannot depend on how Ray Data happens to split blocks on a given run. The
input (JSONL, CSV or Parquet) is therefore first *staged*: read once, in file order, into
Parquet shards of ``shard_rows`` consecutive rows under ``OUTPUT/_input/``, each row numbered.
Shard ``k`` holds rows ``[k * shard_rows, (k + 1) * shard_rows)``, so a row's shard follows
from its number alone. Each scored shard is written as ``OUTPUT/part-KKKKK.<fmt>`` through a
temporary file and a rename: a part file exists only when it is complete, and its existence is
what a restart trusts. ``_manifest.json`` records the job's arguments (a restart with different
ones is refused) and each shard's state, for people and for the summary.

Names starting with ``_`` are skipped by Parquet dataset readers (pyarrow, pandas, Spark,
DuckDB globs on ``part-*``), so ``OUTPUT`` loads as one table.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

INPUT_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
OUTPUT_FORMATS = ("parquet", "jsonl")
MANIFEST = "_manifest.json"
STAGE_DIR = "_input"
# The input columns the job reads; anything else in the input is ignored.
STAGED_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("text", pa.string()),
        ("image_path", pa.string()),
        ("image_base64", pa.string()),
        ("platform", pa.string()),
        ("input_error", pa.string()),
    ]
)
_READ_COLUMNS = ("id", "text", "image_path", "image_base64", "platform")


class BulkError(ValueError):
    """A problem with the job's input or output folder that the user can fix."""


@dataclass(frozen=True)
class JobKey:
    """What a restart must repeat exactly for finished shards to be reusable."""

    input: str
    input_bytes: int
    input_mtime_ns: int
    shard_rows: int
    output_format: str
    policy: str
    model_version: str


@dataclass
class Manifest:
    """The staged shards, their row counts and which are done."""

    job: JobKey
    rows: int
    shard_rows: int
    has_images: bool
    shards: list[dict[str, Any]] = field(default_factory=list)

    def save(self, out_dir: Path) -> None:
        body = {**asdict(self), "job": asdict(self.job)}
        atomic_write_bytes(out_dir / MANIFEST, (json.dumps(body, indent=1) + "\n").encode())

    @classmethod
    def load(cls, out_dir: Path) -> Manifest | None:
        path = out_dir / MANIFEST
        if not path.is_file():
            return None
        body = json.loads(path.read_text())
        return cls(
            job=JobKey(**body["job"]),
            rows=body["rows"],
            shard_rows=body["shard_rows"],
            has_images=body["has_images"],
            shards=body["shards"],
        )


def input_format(path: Path) -> str:
    fmt = INPUT_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(INPUT_SUFFIXES))
        raise BulkError(f"{path}: unknown input format (file name must end in {known})")
    return fmt


def job_key(
    input_path: Path, *, shard_rows: int, output_format: str, policy: str, model_version: str
) -> JobKey:
    if not input_path.is_file():
        raise BulkError(f"{input_path}: no such input file")
    if output_format not in OUTPUT_FORMATS:
        raise BulkError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}")
    if shard_rows < 1:
        raise BulkError("shard rows must be at least 1")
    stat = input_path.stat()
    return JobKey(
        input=str(input_path.resolve()),
        input_bytes=stat.st_size,
        input_mtime_ns=stat.st_mtime_ns,
        shard_rows=shard_rows,
        output_format=output_format,
        policy=policy,
        model_version=model_version,
    )


# --- staging -------------------------------------------------------------------------------


def prepare(out_dir: Path, key: JobKey) -> Manifest:
    """The manifest of ``out_dir``: the existing one if it is this job's, else a fresh staging.

    A folder holding another job's results is refused rather than mixed or overwritten.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(out_dir)
    if manifest is not None:
        if manifest.job != key:
            changed = [k for k, v in asdict(key).items() if asdict(manifest.job)[k] != v]
            raise BulkError(
                f"{out_dir} holds results of a different job (changed: {', '.join(changed)}); "
                "rerun with the same arguments, or choose a new output folder"
            )
        _remove_temporaries(out_dir)
        return manifest
    if any(out_dir.glob("part-*")):
        raise BulkError(f"{out_dir} holds part files but no {MANIFEST}; choose a new folder")
    # No manifest: staging never finished (or never started), so start it over.
    shutil.rmtree(out_dir / STAGE_DIR, ignore_errors=True)
    manifest = stage(Path(key.input), out_dir / STAGE_DIR, key)
    manifest.save(out_dir)
    return manifest


def stage(input_path: Path, stage_dir: Path, key: JobKey) -> Manifest:
    """Copy the input's job columns into numbered Parquet shards of ``key.shard_rows`` rows."""
    stage_dir.mkdir(parents=True)
    shards: list[dict[str, Any]] = []
    has_images = False
    rows = 0
    for index, chunk in enumerate(_chunks(read_records(input_path), key.shard_rows)):
        table = pa.Table.from_pylist(
            [{**rec, "row": rows + i} for i, rec in enumerate(chunk)], schema=STAGED_SCHEMA
        )
        has_images = has_images or any(r["image_path"] or r["image_base64"] for r in chunk)
        atomic_write_table(table, stage_dir / f"shard-{index:05d}.parquet", "parquet")
        shards.append({"index": index, "first_row": rows, "rows": len(chunk), "done": False})
        rows += len(chunk)
    if not rows:
        raise BulkError(f"{input_path}: no rows")
    return Manifest(key, rows, key.shard_rows, has_images, shards)


def read_records(path: Path) -> Iterator[dict[str, str | None]]:
    """The job columns of every input row, in file order, as strings (None when absent)."""
    fmt = input_format(path)
    if fmt == "jsonl":
        yield from _jsonl_records(path)
    elif fmt == "csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for raw in csv.DictReader(handle):
                yield _record(raw)
    else:
        parquet = pq.ParquetFile(path)
        columns = [c for c in _READ_COLUMNS if c in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=8192, columns=columns):
            for raw in batch.to_pylist():
                yield _record(raw)


def _jsonl_records(path: Path) -> Iterator[dict[str, str | None]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                yield _bad_record(f"line {number} is not JSON: {exc.msg}")
                continue
            if not isinstance(raw, dict):
                yield _bad_record(f"line {number} is not a JSON object")
                continue
            yield _record(raw)


def _record(raw: Mapping[str, Any]) -> dict[str, str | None]:
    record: dict[str, str | None] = {name: _cell(raw.get(name)) for name in _READ_COLUMNS}
    record["input_error"] = None
    return record


def _bad_record(message: str) -> dict[str, str | None]:
    return {**{name: None for name in _READ_COLUMNS}, "input_error": message}


def _cell(value: Any) -> str | None:
    """Ids may be numbers in JSON or Parquet; every job column is text from here on."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _chunks(records: Iterator[dict[str, str | None]], size: int) -> Iterator[list[Any]]:
    chunk: list[dict[str, str | None]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def staged_path(out_dir: Path, index: int) -> Path:
    return out_dir / STAGE_DIR / f"shard-{index:05d}.parquet"


def part_path(out_dir: Path, index: int, output_format: str) -> Path:
    return out_dir / f"part-{index:05d}.{output_format}"


def pending_shards(out_dir: Path, manifest: Manifest) -> list[int]:
    """Shards with no part file yet: the part file, written by rename, is the proof of done."""
    fmt = manifest.job.output_format
    return [s["index"] for s in manifest.shards if not part_path(out_dir, s["index"], fmt).exists()]


# --- writing -------------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def atomic_write_table(table: pa.Table, path: Path, output_format: str) -> None:
    """Write to a hidden temporary file, then rename: readers never see half a shard."""
    tmp = path.with_name(f".{path.name}.tmp")
    if output_format == "parquet":
        pq.write_table(table, tmp)
    else:
        with tmp.open("w", encoding="utf-8") as handle:
            for row in table.to_pylist():
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _remove_temporaries(out_dir: Path) -> None:
    for tmp in out_dir.glob(".*.tmp"):
        tmp.unlink()


class ShardAssembler:
    """Collects scored rows, in whatever order Ray Data yields them, into complete shards.

    A shard is written the moment all its rows have arrived; a row seen twice (a retried
    task) is kept once.
    """

    def __init__(self, out_dir: Path, manifest: Manifest, pending: Sequence[int]) -> None:
        self.out_dir = out_dir
        self.manifest = manifest
        self._expected = {i: manifest.shards[i]["rows"] for i in pending}
        self._seen: dict[int, set[int]] = {i: set() for i in pending}
        self._parts: dict[int, list[pa.Table]] = {i: [] for i in pending}
        self.rows_written = 0

    def add(self, table: pa.Table) -> list[int]:
        """Buffer ``table``'s rows; write and return the shards this batch completed."""
        keep: dict[int, list[int]] = {}
        for position, row in enumerate(table["row"].to_pylist()):
            shard = row // self.manifest.shard_rows
            seen = self._seen.get(shard)
            if seen is None or row in seen:
                continue
            seen.add(row)
            keep.setdefault(shard, []).append(position)
        finished = []
        for shard, positions in keep.items():
            self._parts[shard].append(table.take(positions))
            if len(self._seen[shard]) == self._expected[shard]:
                self._write(shard)
                finished.append(shard)
        return finished

    def missing(self) -> dict[int, int]:
        """Shards still incomplete, with how many rows each lacks."""
        return {i: self._expected[i] - len(self._seen[i]) for i in self._parts}

    def _write(self, shard: int) -> None:
        table = pa.concat_tables(self._parts.pop(shard)).sort_by("row")
        fmt = self.manifest.job.output_format
        atomic_write_table(table, part_path(self.out_dir, shard, fmt), fmt)
        self.rows_written += table.num_rows
        self.manifest.shards[shard]["done"] = True
        self.manifest.save(self.out_dir)


# --- reading results back ------------------------------------------------------------------


def read_output(out_dir: Path, manifest: Manifest, columns: Sequence[str]) -> pa.Table:
    """``columns`` of every finished part file, as one table."""
    fmt = manifest.job.output_format
    tables = []
    for shard in manifest.shards:
        path = part_path(out_dir, shard["index"], fmt)
        if not path.exists():
            continue
        if fmt == "parquet":
            tables.append(pq.read_table(path, columns=list(columns)))
        else:
            tables.append(pa_json.read_json(path).select(list(columns)))
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def summarize(
    out_dir: Path, manifest: Manifest, *, rows_scored: int, seconds: float
) -> dict[str, Any]:
    """Counts over the whole output (every run's shards) and this run's speed.

    ``missing_rows`` and ``duplicate_rows`` are the resume guarantee checked on the real files:
    both are 0 when every input row has exactly one output row.
    """
    table = read_output(out_dir, manifest, ["row", "id", "decision", "flagged_categories", "error"])
    rows = table["row"].to_pylist()
    unique_rows = len(set(rows))
    ids = [i for i in table["id"].to_pylist() if i is not None]
    flagged = Counter(c for cats in table["flagged_categories"].to_pylist() for c in cats or [])
    return {
        "output": str(out_dir),
        "rows_in": manifest.rows,
        "rows_out": len(rows),
        "missing_rows": manifest.rows - unique_rows,
        "duplicate_rows": len(rows) - unique_rows,
        "duplicate_ids": len(ids) - len(set(ids)),
        "shards": len(manifest.shards),
        "shards_done": sum(1 for s in manifest.shards if s["done"]),
        "rows_scored_this_run": rows_scored,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows_scored / seconds, 1) if seconds > 0 else 0.0,
        "decisions": _counts(table["decision"].to_pylist()),
        "flagged": dict(flagged.most_common()),
        "errors": _counts(table["error"].to_pylist()),
    }


def _counts(values: list[Any]) -> dict[str, int]:
    return dict(Counter(v for v in values if v is not None).most_common())


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The summary for people: one fact per line."""

    def listing(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"

    lines = [
        f"rows in {summary['rows_in']}, rows out {summary['rows_out']}, missing "
        f"{summary['missing_rows']}, duplicate rows {summary['duplicate_rows']}, duplicate ids "
        f"{summary['duplicate_ids']}",
        f"shards done {summary['shards_done']} of {summary['shards']}",
        f"scored this run {summary['rows_scored_this_run']} rows in {summary['seconds']} s "
        f"({summary['rows_per_s']} rows/s)",
        f"decisions: {listing(summary['decisions'])}",
        f"flagged categories: {listing(summary['flagged'])}",
        f"errors: {listing(summary['errors'])}",
    ]
    if "raw_text_rows_per_s" in summary:
        lines.append(
            f"raw TextModel.score {summary['raw_text_rows_per_s']} rows/s; job/raw "
            f"{summary['job_over_raw']}"
        )
    return lines
