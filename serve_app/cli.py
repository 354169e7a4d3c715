"""The ``modserve`` command: train, evaluate, check policies, benchmark, export reviews.

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

from serve_app.settings import REPO_ROOT

if TYPE_CHECKING:
    from deployments.text.data import Example

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def cmd_train_text(args: argparse.Namespace) -> int:
    from deployments.text.model import ARTIFACT_DIR
    from deployments.text.train import TrainConfig, train_text

    data = _data_dir(args.data)
    cfg = TrainConfig(
        seed=args.seed, max_per_source=args.max_per_source or None, epochs=args.epochs
    )
    out = Path(args.out) if args.out else ARTIFACT_DIR
    cache = None if args.no_cache else REPO_ROOT / ".cache" / "embeddings.npz"
    extra = _review_examples(args.reviews or [])
    metrics = train_text(
        data, out, cfg, cache_path=cache, sources=args.sources or None, extra=extra
    )
    print(json.dumps({k: metrics[k] for k in ("version", "rows", "advertised", "seconds")}))
    print(f"artifact and metrics.json written to {out}")
    return 0


def cmd_eval_text(args: argparse.Namespace) -> int:
    from deployments.text.data import load_examples
    from deployments.text.evaluate import evaluate, format_table
    from deployments.text.model import ARTIFACT_DIR, TextModel

    data = _data_dir(args.data)
    model = TextModel(Path(args.artifacts) if args.artifacts else ARTIFACT_DIR, device=args.device)
    examples = [
        e
        for e in load_examples(data, args.sources or None, max_per_source=args.max_per_source)
        if e.split == "validation"
    ]
    if not examples:
        raise CliError("no validation rows for the chosen sources")
    report = evaluate(model.score([e.text for e in examples]), examples, args.threshold)
    print(format_table(report))
    result = {
        "model_version": model.version,
        "advertised": model.advertised,
        "threshold": args.threshold,
        "validation": report,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"metrics written to {args.json}")
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from deployments.policy.model import check_policy_file

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
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from serve_app.bench import run_bench

    concurrencies = [int(c) for c in args.concurrency.split(",")]
    report = run_bench(
        url=args.url,
        texts=args.texts,
        images=args.images,
        requests=args.requests,
        concurrencies=concurrencies,
        data_dir=_data_dir(args.data),
    )
    print(json.dumps(report, indent=2))
    return 0


def _review_examples(paths: Sequence[str]) -> list[Example]:
    from deployments.text.data import load_jsonl_examples

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
    from serve_app.reviews import StoreUnavailable, export_jsonl, open_store
    from serve_app.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    store = open_store(settings.database_url, settings.resolved_data_dir())
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            written = export_jsonl(store, out)
    except (OSError, StoreUnavailable) as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    print(f"{written} resolved items written to {args.out}")
    return 0


def _data_dir(value: str | None) -> Path:
    path = Path(value) if value else DEFAULT_DATA
    if not path.is_dir():
        raise CliError(f"data directory {path} not found (pass --data DIR)")
    return path


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="modserve", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="what", required=True)
    text = train.add_parser("text", help="train the text ensemble on the labelled sets")
    text.add_argument("--data", help=f"labelled data folder (default {DEFAULT_DATA})")
    text.add_argument("--out", help="artifact folder (default: the packaged artifacts)")
    text.add_argument("--sources", nargs="*", help="only these sets (folder names)")
    text.add_argument("--max-per-source", type=int, default=6000, help="0 = all rows")
    text.add_argument("--epochs", type=int, default=8)
    text.add_argument("--seed", type=int, default=13)
    text.add_argument("--no-cache", action="store_true", help="do not reuse cached embeddings")
    text.add_argument(
        "--reviews", action="append", metavar="FILE", help="also train on this JSONL export"
    )
    text.set_defaults(func=cmd_train_text)

    evaluate = sub.add_parser("eval", help="evaluate a model").add_subparsers(
        dest="what", required=True
    )
    etext = evaluate.add_parser("text", help="per-set, per-category figures on validation")
    etext.add_argument("--data", help=f"labelled data folder (default {DEFAULT_DATA})")
    etext.add_argument("--artifacts", help="artifact folder (default: the packaged artifacts)")
    etext.add_argument("--sources", nargs="*", help="only these sets (folder names)")
    etext.add_argument("--max-per-source", type=int, default=None)
    etext.add_argument("--threshold", type=float, default=0.5, help="for F1 (policy threshold)")
    etext.add_argument("--device", default="auto")
    etext.add_argument("--json", help="also write the figures to this JSON file")
    etext.set_defaults(func=cmd_eval_text)

    policy = sub.add_parser("policy", help="policy tools").add_subparsers(
        dest="what", required=True
    )
    check = policy.add_parser("check", help="check policy files; prints every problem")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_policy_check)

    bench = sub.add_parser("bench", help="raw model and HTTP throughput, as one JSON report")
    bench.add_argument("--url", default="http://127.0.0.1:8000", help="a running modserve")
    bench.add_argument("--texts", type=int, default=1024, help="texts for raw throughput")
    bench.add_argument("--images", type=int, default=64, help="images for raw throughput")
    bench.add_argument("--requests", type=int, default=200, help="HTTP requests per level")
    bench.add_argument("--concurrency", default="1,8,32", help="HTTP concurrency levels")
    bench.add_argument("--data", help="labelled data folder for benchmark texts")
    bench.set_defaults(func=cmd_bench)

    reviews = sub.add_parser("reviews", help="review queue tools").add_subparsers(
        dest="what", required=True
    )
    export = reviews.add_parser("export", help="resolved items as JSONL training data")
    export.add_argument("out", help="JSONL file to write (`train text --reviews` reads it)")
    export.set_defaults(func=cmd_reviews_export)
    return root


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
