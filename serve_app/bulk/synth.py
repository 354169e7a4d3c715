"""Synthetic bulk input: N posts drawn from the validation texts, for tests and the benchmark.

Only validation rows are used, so a benchmark never scores text the model was trained on and
the decisions look like those on real held-out posts. Ids are ``synth-0000001``…, unique.
``bad_every`` makes every k-th row bad in turn (no id, empty text, whitespace only, over the
length limit) so the error path shows up in the summary.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from serve_app.bulk.shards import BulkError, input_format

COLUMNS = ("id", "text")
_BAD_ROWS: tuple[dict[str, str | None], ...] = (
    {"id": None, "text": "a post whose id was lost"},
    {"text": ""},
    {"text": "   \n "},
    {"text": "x" * 5001},
)


def validation_texts(data_dir: Path, max_chars: int = 280) -> list[str]:
    """Distinct short validation texts of every labelled set, in a stable order."""
    from deployments.text.training.data import load_examples

    texts = (e.text for e in load_examples(data_dir) if e.split == "validation")
    return list(dict.fromkeys(t for t in texts if t.strip() and len(t) <= max_chars))


def synth_rows(
    texts: Sequence[str], n: int, *, seed: int = 0, bad_every: int = 0
) -> Iterator[dict[str, str | None]]:
    """``n`` rows cycling through ``texts`` shuffled with ``seed``."""
    if not texts:
        raise BulkError("no texts to draw synthetic rows from")
    order = list(texts)
    random.Random(seed).shuffle(order)
    for i in range(n):
        row: dict[str, str | None] = {"id": f"synth-{i + 1:07d}", "text": order[i % len(order)]}
        if bad_every and (i + 1) % bad_every == 0:
            row.update(_BAD_ROWS[(i // bad_every) % len(_BAD_ROWS)])
        yield row


def write_rows(path: Path, rows: Iterator[dict[str, str | None]]) -> int:
    """Write ``rows`` as JSONL, CSV or Parquet, by the file name; returns the row count."""
    fmt = input_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    if fmt == "parquet":
        schema = pa.schema([(c, pa.string()) for c in COLUMNS])
        table = pa.Table.from_pylist(list(rows), schema=schema)
        pq.write_table(table, path)
        return len(table)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                count += 1
        else:
            for row in rows:
                handle.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
                count += 1
    return count
