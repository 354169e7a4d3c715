"""Pool sizing, the synthetic input and the command line of the bulk job, without Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_app.bulk.job import READ_CPUS, PoolPlan, size_pool
from serve_app.bulk.shards import read_records
from serve_app.bulk.synth import synth_rows, write_rows
from serve_app.cli import main


def test_on_a_free_two_core_machine_an_actor_per_core_leaves_room_for_reads() -> None:
    per_actor = (2 - READ_CPUS) / 2
    plan = PoolPlan(actors=2, threads=1, num_cpus=per_actor, num_gpus=0, read_cpus=READ_CPUS)
    assert size_pool(2, 2, 0) == plan


def test_beside_a_serve_application_actors_ask_only_for_what_is_free() -> None:
    for free in (0.3, 0.1, 0.0):
        plan = size_pool(2, free, 0)
        assert plan.threads == 1 and plan.num_cpus > 0 and plan.read_cpus > 0
        # the actors and one read task always fit in what is free, so none waits forever
        assert plan.actors * plan.num_cpus + plan.read_cpus <= max(free, 0.02) + 1e-9


def test_cpu_cluster_gets_an_actor_per_core_and_gpus_are_shared() -> None:
    assert size_pool(16, 16, 0).actors == 16
    gpu = size_pool(8, 8, 1, gpu_fraction=0.25)
    assert (gpu.actors, gpu.num_gpus, gpu.threads) == (4, 0.25, 1)
    assert size_pool(8, 8, 2, actors=3).num_gpus == 0.25


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_synthetic_rows_round_trip_with_unique_ids_and_bad_rows(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"synth{suffix}"
    assert write_rows(path, synth_rows(["a", "b", "c"], 10, seed=1, bad_every=4)) == 10
    rows = list(read_records(path))
    assert len(rows) == 10
    good = [r for i, r in enumerate(rows) if (i + 1) % 4]
    assert [r["id"] for r in good] == [f"synth-{i + 1:07d}" for i in range(10) if (i + 1) % 4]
    assert {r["text"] for r in good} == {"a", "b", "c"}
    assert not rows[3]["id"] and not (rows[7]["text"] or "")


def test_bulk_refuses_an_unknown_policy_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "a"}\n')
    assert main(["bulk", str(src), str(tmp_path / "out"), "--policy", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown policy 'nosuch'" in err and err.count("\n") == 1
