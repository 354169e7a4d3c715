"""The ``modserve`` command: train, evaluate, check policies, benchmark, load-test, export
reviews.

Each subcommand is a thin shell over a plain function; errors print one line and exit non-zero
(2 for bad usage or input, 1 for a failed check) instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deployments.text.training import EVAL_PARTS
from deployments.text.training.obfuscate import ALL_TRANSFORMS

if TYPE_CHECKING:
    from deployments.text.training.data import Example
    from serve_app.settings import Settings

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_POLICY = "default.yaml"  # in the settings' policy_dir
CACHE_DIR = Path(".cache")  # embeddings reused between training runs


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def cmd_train_text(args: argparse.Namespace) -> int:
    from deployments.text.encoder import ENCODERS
    from deployments.text.model import ARTIFACT_DIR
    from deployments.text.training.train import TrainConfig, train_text

    data = _data_dir(args.data)
    unknown = sorted(set(args.encoders or ()) - set(ENCODERS))
    if unknown:
        raise CliError(f"unknown encoders {unknown}; known: {sorted(ENCODERS)}")
    cfg = TrainConfig(
        seed=args.seed,
        encoders=tuple(args.encoders or TrainConfig.encoders),
        ngrams=tuple(args.ngrams or TrainConfig.ngrams),
        max_per_source=args.max_per_source or None,
        epochs=args.epochs,
    )
    out = Path(args.out) if args.out else ARTIFACT_DIR
    cache = None if args.no_cache else CACHE_DIR
    extra = _review_examples(args.reviews or [])
    metrics = train_text(
        data, out, cfg, cache_dir=cache, sources=args.sources or None, extra=extra
    )
    print(json.dumps({k: metrics[k] for k in ("version", "rows", "advertised", "seconds")}))
    for category, reason in metrics["withheld"].items():
        print(f"not advertised: {category}: {reason}")
    print(f"artifact and metrics.json written to {out}")
    return 0


def cmd_eval_text(args: argparse.Namespace) -> int:
    from deployments.text.model import ARTIFACT_DIR, TextModel
    from deployments.text.training.data import load_examples
    from deployments.text.training.evaluate import format_report, policy_thresholds, run_eval

    policy = Path(args.policy) if args.policy else _settings().policy_dir / DEFAULT_POLICY
    if not policy.is_file():
        raise CliError(f"{policy}: no such policy file")
    try:
        review, block = policy_thresholds(policy)
    except ValueError as exc:  # PolicyError: every problem, one per line
        raise CliError(f"{policy}: not a valid policy:\n{exc}") from None
    data = _data_dir(args.data) if set(args.parts) - {"fairness"} else None  # all but fairness
    examples = []
    if data is not None:
        try:
            examples = load_examples(data, args.sources or None,
                                     max_per_source=args.max_per_source or None, seed=args.seed)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        if not any(e.split == "validation" for e in examples):
            raise CliError("no validation rows for the chosen sources")
    model = TextModel(Path(args.artifacts) if args.artifacts else ARTIFACT_DIR, device=args.device)
    # Only what the service serves can flag: a trained but unadvertised category is ignored.
    review = {c: t for c, t in review.items() if c in model.advertised}
    block = {c: t for c, t in block.items() if c in model.advertised}
    try:
        result = run_eval(model.score, examples, review, block, parts=args.parts,
                          obfuscation_per_category=args.obfuscation_per_category,
                          transforms=args.transforms, seed=args.seed,
                          data_dir=data)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    result = {"model_version": model.version, "advertised": model.advertised,
              "policy": str(policy), "max_per_source": args.max_per_source, "seed": args.seed,
              **result}
    print(format_report(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures written to {args.out}")
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from deployments.policy import check_policy_file

    failed = False
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise CliError(f"{name}: no such file")
        problems = check_policy_file(path)
        for problem in problems:
            print(problem)
        failed = failed or bool(problems)
        if not problems:
            print(f"{name}: ok")
            for note in _under_operating_points(path):
                print(f"{name}: note: {note}")
    return 1 if failed else 0


def _points(artifacts: Path) -> tuple[str, dict[str, dict[str, float]]]:
    """(version, operating points) of the text artifact in ``artifacts``."""
    from deployments.text.model import MANIFEST_FILE

    path = artifacts / MANIFEST_FILE
    if not path.is_file():
        raise CliError(f"{artifacts}: no text model manifest ({MANIFEST_FILE}) there")
    manifest = json.loads(path.read_text())
    return manifest["version"], manifest.get("operating_points", {})


def _under_operating_points(path: Path, artifacts: Path | None = None) -> list[str]:
    """Where a (valid) policy's text thresholds sit under a text model's operating points (the
    served one by default), so that more than 1 % (review) or 0.1 % (block) of harmless posts
    reach them. Not a problem: a strict policy means to. But a retrained model moves its points,
    not the policy (``modserve policy derive`` moves them)."""
    from deployments.text.model import ARTIFACT_DIR
    from deployments.text.training.evaluate import THRESHOLD_KINDS, policy_thresholds, under_point

    version, points = _points(artifacts or ARTIFACT_DIR)
    notes = []
    for kind, thresholds, budget in zip(
        THRESHOLD_KINDS, policy_thresholds(path), ("1 %", "0.1 %"), strict=True
    ):
        under = [f"{c} {t:.2f} < {p[kind]:.2f}" for c, p in points.items()
                 if (t := thresholds.get(c)) is not None and under_point(t, p[kind])]
        if under:
            notes.append(f"{kind} thresholds under {version}'s {budget} "
                         f"false-flag points: {', '.join(under)}")
    return notes


def cmd_policy_derive(args: argparse.Namespace) -> int:
    import dataclasses
    import tempfile

    from deployments.policy import check_policy_file
    from deployments.text.model import ARTIFACT_DIR
    from deployments.text.training.evaluate import derive_policy

    path = Path(args.file) if args.file else _settings().policy_dir / DEFAULT_POLICY
    if not path.is_file():
        raise CliError(f"{path}: no such policy file")
    old_version, old = _points(Path(args.served) if args.served else ARTIFACT_DIR)
    new_dir = Path(args.artifacts)
    new_version, new = _points(new_dir)
    text, changes = derive_policy(path.read_text(), old, new)
    with tempfile.TemporaryDirectory() as tmp:
        derived = Path(tmp) / path.name
        derived.write_text(text)
        problems = [dataclasses.replace(p, file=str(path)) for p in check_policy_file(derived)]
        notes = [] if problems else _under_operating_points(derived, new_dir)
    if problems:  # a hand-set review now over a moved block, say
        raise CliError("the derived policy is not valid:\n" + "\n".join(map(str, problems)))
    print(f"{path}: thresholds at {old_version}'s operating points, moved to {new_version}'s:")
    for change in changes or ["none moved"]:
        print(f"  {change}")
    for note in notes:
        print(f"note (set by hand, kept): {note}")
    if args.write:
        path.write_text(text)
        print(f"{path} written; its comments on what each threshold buys come from "
              "`modserve eval text --parts validation ordinary`")
    else:
        print("nothing written (--write to apply)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from serve_app.bench.loadgen import MAX_CONCURRENCY
    from serve_app.bench.throughput import run_bench

    try:
        concurrencies = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        raise CliError(f"--concurrency {args.concurrency!r}: want numbers like 1,8,32") from None
    if not all(1 <= c <= MAX_CONCURRENCY for c in concurrencies):
        raise CliError(f"--concurrency: each level must be between 1 and {MAX_CONCURRENCY}")
    report = run_bench(
        url=args.url,
        texts=args.texts,
        images=args.images,
        requests=args.requests,
        concurrencies=concurrencies,
        data_dir=_data_dir(args.data),
        batch_texts=args.batch_texts,
    )
    print(json.dumps(report, indent=2))
    return 0


def cmd_bulk(args: argparse.Namespace) -> int:
    from serve_app.bulk.job import BulkError, config_from_args, print_summary, run_bulk

    try:
        print_summary(run_bulk(config_from_args(args)))
    except BulkError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_bulk_synth(args: argparse.Namespace) -> int:
    from serve_app.bulk.shards import BulkError
    from serve_app.bulk.synth import synth_rows, validation_texts, write_rows

    texts = validation_texts(_data_dir(args.data), max_chars=args.max_chars)
    try:
        rows = write_rows(Path(args.out), synth_rows(texts, args.n, seed=args.seed,
                                                     bad_every=args.bad_every))
    except BulkError as exc:
        raise CliError(str(exc)) from None
    print(f"{rows} rows from {len(texts)} validation texts written to {args.out}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from serve_app.bench import LoadError
    from serve_app.bench.loadgen import config_from_args, print_report, run_load
    from serve_app.bench.throughput import sample_texts

    try:
        cfg = config_from_args(args)
        report = run_load(cfg, sample_texts(_data_dir(args.data), args.texts))
    except LoadError as exc:
        raise CliError(str(exc)) from None
    print_report(report, Path(args.out) if args.out else None)
    return 0 if report.ok else 1


def _review_examples(paths: Sequence[str]) -> list[Example]:
    from deployments.text.training.data import load_jsonl_examples

    examples: list[Example] = []
    for path in paths:
        if not Path(path).is_file():
            raise CliError(f"{path}: no such file")
        try:
            examples += load_jsonl_examples(Path(path))
        except ValueError as exc:
            raise CliError(str(exc)) from None
    return examples


def cmd_reviews_export(args: argparse.Namespace) -> int:
    from serve_app.ops.reviews import StoreUnavailable, export_jsonl, open_store

    settings = _settings()
    store = open_store(settings.database_url, settings.data_dir)
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            written = export_jsonl(store, out)
    except (OSError, StoreUnavailable) as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    print(f"{written} resolved items written to {args.out}")
    return 0


def _settings() -> Settings:
    from serve_app.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def _data_dir(value: str | None) -> Path:
    path = Path(value) if value else _settings().training_data_dir
    if not path.is_dir():
        raise CliError(
            f"training data directory {path} not found "
            "(pass --data DIR or set MODSERVE_TRAINING_DATA_DIR)"
        )
    return path


DATA_HELP = "labelled data folder (default: the training_data_dir setting, ../shared/data)"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="modserve", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_eval, _add_policy, _add_bench, _add_load, _add_bulk,
                _add_reviews):
        add(sub)
    return root


def _add_train(sub: Subparsers) -> None:
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    text = train.add_parser("text", help="train the text ensemble on the labelled sets")
    text.add_argument("--data", help=DATA_HELP)
    text.add_argument("--out", help="artifact folder (default: the packaged artifacts)")
    text.add_argument("--sources", nargs="*", help="only these sets (folder names)")
    text.add_argument("--encoders", nargs="*", help="sentence encoders to fit heads on")
    text.add_argument("--ngrams", nargs="*", choices=["char_ngram", "word_ngram"],
                      help="n-gram components (default: both)")
    text.add_argument("--max-per-source", type=int, default=0,
                      help="seeded sample of at most this many rows per set (default 0 = all)")
    text.add_argument("--epochs", type=int, default=8)
    text.add_argument("--seed", type=int, default=13)
    text.add_argument("--no-cache", action="store_true", help="do not reuse cached embeddings")
    text.add_argument(
        "--reviews", action="append", metavar="FILE", help="also train on this JSONL export"
    )
    text.set_defaults(func=cmd_train_text)


def _add_eval(sub: Subparsers) -> None:
    evaluate = sub.add_parser("eval", help="evaluate a model").add_subparsers(
        dest="what", required=True
    )
    etext = evaluate.add_parser(
        "text", help="validation figures, obfuscation ratio, fairness table and rater agreement"
    )
    etext.add_argument("--data", help=DATA_HELP)
    etext.add_argument("--artifacts", help="artifact folder (default: the packaged artifacts)")
    etext.add_argument("--sources", nargs="*", help="only these sets (folder names)")
    etext.add_argument("--max-per-source", type=int, default=0,
                       help="seeded sample of at most this many rows per set (default 0 = all)")
    etext.add_argument("--parts", nargs="+", choices=EVAL_PARTS, default=list(EVAL_PARTS),
                       help="which parts to run (default: all)")
    etext.add_argument("--policy", help="policy file whose review/block thresholds apply "
                       "(default: default.yaml in the policy_dir setting)")
    etext.add_argument("--obfuscation-per-category", type=int, default=150,
                       help="validation positives sampled per category for obfuscation")
    etext.add_argument("--transforms", nargs="+", choices=list(ALL_TRANSFORMS),
                       default=list(ALL_TRANSFORMS),
                       help="obfuscation transforms (default: all)")
    etext.add_argument("--seed", type=int, default=13)
    etext.add_argument("--device", default="auto")
    etext.add_argument("--out", "--json", dest="out", help="also write everything as JSON here")
    etext.set_defaults(func=cmd_eval_text)


def _add_policy(sub: Subparsers) -> None:
    policy = sub.add_parser("policy", help="policy tools").add_subparsers(
        dest="what", required=True
    )
    check = policy.add_parser("check", help="check policy files; prints every problem")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_policy_check)
    derive = policy.add_parser(
        "derive", help="move a policy's thresholds that sit at the served text model's operating "
        "points to a retrained model's; hand-set ones stay")
    derive.add_argument("file", nargs="?",
                        help="policy file (default: default.yaml in the policy_dir setting)")
    derive.add_argument("--artifacts", required=True, help="the retrained text model's folder")
    derive.add_argument("--served", help="the model the policy was set for "
                        "(default: the packaged artifacts)")
    derive.add_argument("--write", action="store_true", help="rewrite the file in place")
    derive.set_defaults(func=cmd_policy_derive)


def _add_bench(sub: Subparsers) -> None:
    bench = sub.add_parser("bench", help="raw model and HTTP throughput, as one JSON report")
    bench.add_argument("--url", default="http://127.0.0.1:8000", help="a running modserve")
    bench.add_argument("--texts", type=int, default=1024, help="texts for raw throughput")
    bench.add_argument("--images", type=int, default=64, help="images for raw throughput")
    bench.add_argument("--requests", type=int, default=200, help="HTTP requests per level")
    bench.add_argument("--concurrency", default="1,8,32", help="HTTP concurrency levels")
    bench.add_argument("--data", help=DATA_HELP)
    bench.add_argument(
        "--batch-texts", type=int, default=256, help="texts for /v1/moderate/batch vs raw (0: skip)"
    )
    bench.set_defaults(func=cmd_bench)


def _add_load(sub: Subparsers) -> None:
    from serve_app.bench.loadgen import add_arguments

    load = sub.add_parser(
        "load",
        help="drive a local modserve past capacity (closed-loop probe, open-loop 1x/2x) and "
        "report answers, latency, shedding and lost requests; loopback only",
    )
    add_arguments(load)
    load.set_defaults(func=cmd_load)


def _add_bulk(sub: Subparsers) -> None:
    from serve_app.bulk.job import add_arguments

    bulk = sub.add_parser("bulk", help="moderate a stored dataset with Ray Data (resumable)")
    add_arguments(bulk)
    bulk.set_defaults(func=cmd_bulk)
    synth = sub.add_parser("bulk-synth", help="synthetic bulk input from the validation texts")
    synth.add_argument("n", type=int, help="rows")
    synth.add_argument("out", help="output file: .jsonl, .csv or .parquet")
    synth.add_argument("--data", help=DATA_HELP)
    synth.add_argument("--max-chars", type=int, default=280, help="longest text drawn")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--bad-every", type=int, default=0, help="every k-th row is bad (0: none)")
    synth.set_defaults(func=cmd_bulk_synth)


def _add_reviews(sub: Subparsers) -> None:
    reviews = sub.add_parser("reviews", help="review queue tools").add_subparsers(
        dest="what", required=True
    )
    export = reviews.add_parser("export", help="resolved items as JSONL training data")
    export.add_argument("out", help="JSONL file to write (`train text --reviews` reads it)")
    export.set_defaults(func=cmd_reviews_export)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"modserve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
