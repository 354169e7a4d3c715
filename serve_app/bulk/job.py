"""Bulk moderation as a Ray job: re-score an archive with the service's own models and policy.

Run it locally with ``modserve bulk INPUT OUTPUT`` or on a cluster with
``ray job submit -- python -m serve_app.bulk INPUT OUTPUT``. The input is staged into numbered
shards (``bulk_shards``), the pending shards go through Ray Data ``map_batches`` with a pool of
actors that each hold the Ray-free model classes (``bulk_scoring``), and the driver writes each
shard the moment it is complete. Killed and restarted with the same arguments, the job skips
the shards already written; the output has exactly one row per input row.

Pool sizing: on CPUs, one actor per ``threads`` cores (default: one single-threaded actor per
core: the USE-m3 encoder runs one BLAS thread, and on 100,000 texts two such actors on 2 cores
did 497 rows/s against 264 for one actor with 2 threads); with GPUs, ``1 / gpu_fraction``
actors per GPU. Actors ask Ray for at most the CPUs that are free, so the job also runs beside
a Serve application that holds most of a small machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serve_app.bulk.shards import BulkError as BulkError

if TYPE_CHECKING:  # the model stack loads only when a job runs, not with the CLI's parser
    import pyarrow as pa

    from serve_app.bulk.scoring import BatchScorer, ScorerSpec
    from serve_app.bulk.shards import Manifest

READ_CPUS = 0.25  # reading Parquet shards is light; leave the cores to the model actors


@dataclass(frozen=True)
class BulkConfig:
    input: Path
    output: Path
    policy: str | None = None
    output_format: str = "parquet"
    shard_rows: int = 5000
    batch_size: int = 512
    actors: int | None = None
    threads: int | None = None
    actor_cpus: float | None = None
    gpu_fraction: float = 0.25
    platform: str = "custom"
    address: str | None = None
    raw_sample: int = 0
    progress: bool = True


@dataclass(frozen=True)
class PoolPlan:
    """How many scoring actors, what each asks of Ray and of torch, and what a read task asks."""

    actors: int
    threads: int
    num_cpus: float
    num_gpus: float
    read_cpus: float


def size_pool(
    cluster_cpus: float,
    free_cpus: float,
    gpus: float,
    *,
    actors: int | None = None,
    threads: int | None = None,
    actor_cpus: float | None = None,
    gpu_fraction: float = 0.25,
) -> PoolPlan:
    """An actor pool that fills the cluster without asking Ray for more than is free.

    Read tasks get a slice of the free CPUs too: an actor holding all of them would leave the
    reads that feed it unschedulable (beside a Serve application only a fraction is free).
    """
    if gpus > 0:
        count = actors or max(1, math.floor(gpus / gpu_fraction))
        per_gpu = min(gpu_fraction, gpus / count)
        threads = threads or 1
    else:
        threads = threads or 1
        count = actors or max(1, math.floor(cluster_cpus / threads))
        per_gpu = 0.0
    free = max(free_cpus, 0.02)
    read_cpus = min(READ_CPUS, free / 4)
    cpus = actor_cpus if actor_cpus is not None else min(float(threads), (free - read_cpus) / count)
    return PoolPlan(count, threads, round(cpus, 4), per_gpu, round(read_cpus, 4))


class ScoreActor:
    """The Ray Data actor: builds the models once, then scores batches. Nothing else."""

    def __init__(self, spec: ScorerSpec, threads: int) -> None:
        import torch

        from serve_app.bulk.scoring import BatchScorer

        torch.set_num_threads(threads)  # Ray sets OMP threads from (fractional) num_cpus
        self._scorer: BatchScorer = BatchScorer.from_spec(spec)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self._scorer(batch)


def read_staged(paths: pa.Table) -> pa.Table:
    """The staged shards named in ``paths``, as one table (a Ray Data read task)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables(pq.read_table(p) for p in paths["path"].to_pylist())


def run_bulk(cfg: BulkConfig) -> dict[str, Any]:
    """Stage, score the pending shards, and return the summary of the whole output."""
    from serve_app.bulk.scoring import (
        ScorerSpec,
        UnknownBulkPolicyError,
        load_named_policy,
        text_model_version,
    )
    from serve_app.bulk.shards import job_key, pending_shards, prepare, summarize
    from serve_app.settings import SettingsError, load_settings

    started = time.perf_counter()
    try:
        settings = load_settings()
        policy = load_named_policy(settings, cfg.policy)
    except (SettingsError, UnknownBulkPolicyError) as exc:
        raise BulkError(str(exc)) from None
    key = job_key(
        cfg.input,
        shard_rows=cfg.shard_rows,
        output_format=cfg.output_format,
        policy=policy.name,
        model_version=text_model_version(),
    )
    manifest = prepare(cfg.output, key)
    pending = pending_shards(cfg.output, manifest)
    spec = ScorerSpec(
        settings=settings.model_dump(mode="json"),
        policy=policy.name,
        images=manifest.has_images,
        image_root=str(cfg.input.resolve().parent),
        platform=cfg.platform,
    )
    extra: dict[str, Any] = {}
    scored, seconds = 0, 0.0
    if pending:
        started_ray = _connect(cfg.address)
        try:
            plan = _plan(cfg)
            if cfg.raw_sample:
                extra["raw_text_rows_per_s"] = raw_text_rate(cfg, manifest, plan.threads)
            scored, seconds = _score(cfg, manifest, pending, spec, plan)
            extra["pool"] = plan.__dict__
        finally:
            if started_ray:
                import ray

                ray.shutdown()
    summary = summarize(cfg.output, manifest, rows_scored=scored, seconds=seconds)
    summary.update(extra, elapsed_s=round(time.perf_counter() - started, 2))
    if "raw_text_rows_per_s" in extra and summary["rows_per_s"]:
        summary["job_over_raw"] = round(summary["rows_per_s"] / extra["raw_text_rows_per_s"], 3)
    return summary


def _connect(address: str | None) -> bool:
    """Join the cluster (``ray job submit`` sets RAY_ADDRESS) or start a local one."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address)
    else:
        ray.init(include_dashboard=False)
    return True


def _plan(cfg: BulkConfig) -> PoolPlan:
    import ray

    total: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    free: dict[str, float] = ray.available_resources()  # type: ignore[no-untyped-call]
    return size_pool(
        total.get("CPU", 1.0),
        free.get("CPU", 0.0),
        total.get("GPU", 0.0),
        actors=cfg.actors,
        threads=cfg.threads,
        actor_cpus=cfg.actor_cpus,
        gpu_fraction=cfg.gpu_fraction,
    )


def _score(
    cfg: BulkConfig, manifest: Manifest, pending: list[int], spec: ScorerSpec, plan: PoolPlan
) -> tuple[int, float]:
    import ray

    from serve_app.bulk.shards import ShardAssembler, staged_path

    ray.data.DataContext.get_current().enable_progress_bars = cfg.progress
    started = time.perf_counter()
    # One read task per staged shard. Not read_parquet: its file-listing step asks for a whole
    # CPU that the model actors (or a Serve application beside the job) may already hold.
    paths = ray.data.from_items([{"path": str(staged_path(cfg.output, i))} for i in pending])
    scored = paths.map_batches(
        read_staged, batch_size=1, batch_format="pyarrow", num_cpus=plan.read_cpus
    ).map_batches(
        ScoreActor,
        fn_constructor_kwargs={"spec": spec, "threads": plan.threads},
        batch_size=cfg.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.num_cpus,
        num_gpus=plan.num_gpus or None,
    )
    assembler = ShardAssembler(cfg.output, manifest, pending)
    for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
        assembler.add(batch)
    missing = {k: v for k, v in assembler.missing().items() if v}
    if missing:
        raise BulkError(f"shards left incomplete (rows missing per shard): {missing}; rerun")
    return assembler.rows_written, time.perf_counter() - started


def raw_text_rate(cfg: BulkConfig, manifest: Manifest, threads: int) -> float:
    """``TextModel.score`` rows/s on the job's first texts, in this process: the ceiling."""
    import pyarrow.parquet as pq
    import torch

    from deployments.text.model import TextModel
    from serve_app.bulk.shards import staged_path

    texts: list[str] = []
    for shard in manifest.shards:
        column = pq.read_table(staged_path(cfg.output, shard["index"]), columns=["text"])
        texts += [t for t in column["text"].to_pylist() if t and t.strip()]
        if len(texts) >= cfg.raw_sample:
            break
    texts = texts[: cfg.raw_sample]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = TextModel(device="cpu")
        model.score(texts[: cfg.batch_size])  # warm-up
        began = time.perf_counter()
        for i in range(0, len(texts), cfg.batch_size):
            model.score(texts[i : i + cfg.batch_size])
        return round(len(texts) / (time.perf_counter() - began), 1)
    finally:
        torch.set_num_threads(previous)


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The job's arguments, shared by ``python -m serve_app.bulk`` and ``modserve bulk``."""
    parser.add_argument("input", help="JSONL, CSV or Parquet with id, text, image_path/_base64")
    parser.add_argument("output", help="output folder: part-*.parquet|jsonl and _manifest.json")
    parser.add_argument("--policy", help="policy name (default: the settings' default policy)")
    parser.add_argument(
        "--format", dest="output_format", choices=("parquet", "jsonl"), default="parquet"
    )
    parser.add_argument("--shard-rows", type=int, default=5000, help="rows per resumable shard")
    parser.add_argument("--batch-size", type=int, default=512, help="rows per model call")
    parser.add_argument("--actors", type=int, help="scoring actors (default: from resources)")
    parser.add_argument("--threads", type=int, help="torch threads per actor")
    parser.add_argument("--actor-cpus", type=float, help="CPUs each actor asks Ray for")
    parser.add_argument("--gpu-fraction", type=float, default=0.25, help="GPU share per actor")
    parser.add_argument("--platform", default="custom", help="platform for rows that name none")
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or local)")
    parser.add_argument(
        "--raw-sample",
        type=int,
        default=0,
        help="also time raw TextModel.score on this many input texts",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no Ray Data progress bars"
    )


def config_from_args(args: argparse.Namespace) -> BulkConfig:
    return BulkConfig(
        input=Path(args.input),
        output=Path(args.output),
        policy=args.policy,
        output_format=args.output_format,
        shard_rows=args.shard_rows,
        batch_size=args.batch_size,
        actors=args.actors,
        threads=args.threads,
        actor_cpus=args.actor_cpus,
        gpu_fraction=args.gpu_fraction,
        platform=args.platform,
        address=args.address,
        raw_sample=args.raw_sample,
        progress=args.progress,
    )


def print_summary(summary: dict[str, Any]) -> None:
    from serve_app.bulk.shards import summary_lines

    print(json.dumps(summary, indent=1))
    for line in summary_lines(summary):
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serve_app.bulk", description=__doc__)
    add_arguments(parser)
    try:
        print_summary(run_bulk(config_from_args(parser.parse_args(argv))))
    except BulkError as exc:
        print(f"bulk: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
