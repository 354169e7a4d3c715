"""From readers to examples: cleaning, merging duplicates, the split rule, and the other inputs
(hand-made rows, reviewers' exported labels) that share the ``Example`` type and the split.
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from .common import Example, Split, clean, hash_split, text_key
from .registry import SOURCES

# --- merging, splitting, sampling ----------------------------------------------------------


@dataclass
class _Merged:
    """One distinct text of a set: the first copy's text, every copy's labels."""

    text: str
    language: str
    labels: list[dict[str, float]]
    split: Split | None  # official split; "validation" if any copy is

    def mean_labels(self) -> dict[str, float]:
        if len(self.labels) == 1:
            return self.labels[0]
        pooled: dict[str, list[float]] = {}
        for labels in self.labels:
            for cat, value in labels.items():
                pooled.setdefault(cat, []).append(value)
        return {cat: sum(values) / len(values) for cat, values in pooled.items()}


def _merged(data_dir: Path, name: str) -> tuple[tuple[str, str, _Merged], ...]:
    """(source, key, merged row) per distinct text of one set."""
    merged: dict[tuple[str, str], _Merged] = {}
    for row in SOURCES[name].read(data_dir / name):
        text = clean(row.text)
        key = text_key(text)
        if not key or not row.labels:
            continue
        source = f"{name}/{row.subset}" if row.subset else name
        slot = merged.get((source, key))
        if slot is None:
            slot = merged[source, key] = _Merged(text, row.language, [], None)
        slot.labels.append(row.labels)
        if row.split is not None and slot.split != "validation":
            slot.split = row.split
    return tuple((source, key, m) for (source, key), m in merged.items())


# Sets with an official split are read once for the split index and kept for their examples.
_merged_official = cache(_merged)


@cache
def _official_splits(data_dir: Path) -> Mapping[str, Split]:
    """Text key → split over every official split; validation wins over train."""
    splits: dict[str, Split] = {}
    for name, src in SOURCES.items():
        if src.official:
            for _, key, m in _merged_official(data_dir, name):
                if m.split is not None and splits.get(key) != "validation":
                    splits[key] = m.split
    return MappingProxyType(splits)


@cache
def _examples(data_dir: Path, name: str) -> tuple[Example, ...]:
    official = _official_splits(data_dir)
    rows = _merged_official(data_dir, name) if SOURCES[name].official else _merged(data_dir, name)
    return tuple(
        Example(m.text, source, m.language, official.get(key) or hash_split(key),
                MappingProxyType(m.mean_labels()))
        for source, key, m in rows
    )


def _subsample(examples: Sequence[Example], limit: int, seed: int) -> list[Example]:
    """At most ``limit`` per ``Example.source``, drawn per split in proportion (seeded)."""
    groups: dict[str, dict[str, list[int]]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.source, {}).setdefault(ex.split, []).append(i)
    keep: list[int] = []
    for source, by_split in groups.items():
        total = sum(len(ids) for ids in by_split.values())
        n_val = len(by_split.get("validation", []))
        k_val = min(n_val, max(round(limit * n_val / total), int(n_val > 0 and limit > 1)))
        for split, k in (("validation", k_val), ("train", limit - k_val)):
            ids = by_split.get(split, [])
            rng = random.Random(f"{seed}/{source}/{split}")
            keep += ids if len(ids) <= k else rng.sample(ids, k)
    return [examples[i] for i in sorted(keep)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates ~10^6 small acyclic objects; generational GC passes over them cost
    about a third of the load time and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_examples(
    data_dir: Path,
    sources: Sequence[str] | None = None,
    *,
    max_per_source: int | None = None,
    seed: int = 13,
) -> list[Example]:
    """All examples of ``sources`` (default: every set in ``SOURCES``), in registry order.

    ``max_per_source`` keeps a seeded subsample of at most that many examples per
    ``Example.source`` (so per language for multi-language sets), split proportions kept.
    Results are cached per process; the split never depends on ``sources`` or ``seed``.
    """
    names = list(SOURCES) if sources is None else list(sources)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; known: {sorted(SOURCES)}")
    data_dir = Path(data_dir).resolve()
    out: list[Example] = []
    with _gc_paused():
        for name in names:
            examples = _examples(data_dir, name)
            out += examples if max_per_source is None else _subsample(examples, max_per_source,
                                                                       seed)
    return out


# --- hand-made training rows ---------------------------------------------------------------

HANDMADE_DIR = Path(__file__).parent.parent / "handmade"


def fill_identity(template: str, slots: Mapping[str, str]) -> str:
    """A template with its identity slots filled: {adj}, {a_adj} (with "a"/"an"), {group},
    {Group} (capitalised for a sentence start). Shared by the hand-made set and the fairness
    evaluation, which must fill templates the same way."""
    adj, group = slots["adj"], slots["group"]
    article = "an" if adj[0].lower() in "aeiou" else "a"
    return template.format(adj=adj, a_adj=f"{article} {adj}", group=group,
                           Group=group[0].upper() + group[1:])


def load_handmade(directory: Path = HANDMADE_DIR) -> list[Example]:
    """The hand-made training rows (see the header of each file), tagged ``handmade=True``.

    Split "train" and the tag both keep them out of evaluation: ``evaluate.evaluable`` and
    ``evaluate.evaluate`` drop tagged rows whatever split they carry. Not part of
    ``load_examples``: a trainer adds them on purpose. In a file, ``groups`` are templates
    filled with every identity, ``fixed`` are sentences, and ``requests`` are tasks put in
    every one of the file's ``frames`` ("How do I {task}?").
    """
    import yaml  # only here: the public sets need nothing beyond the standard library

    out: list[Example] = []
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        identities = [slots for members in raw.get("identities", {}).values()
                      for slots in members.values()]
        rows: list[tuple[str, str, Mapping[str, float]]] = []
        for group, spec in raw.get("groups", {}).items():
            rows += [(group, fill_identity(t, slots), spec["labels"])
                     for t in spec["templates"] for slots in identities]
        for group, spec in raw.get("fixed", {}).items():
            rows += [(group, s, spec["labels"]) for s in spec["sentences"]]
        for group, spec in raw.get("requests", {}).items():
            rows += [(group, frame.format(task=task), spec["labels"])
                     for frame in raw["frames"] for task in spec["tasks"]]
        for group, text, labels in rows:
            out.append(Example(text, f"handmade/{path.stem}/{group}", "en", "train",
                               MappingProxyType({c: float(v) for c, v in labels.items()}),
                               handmade=True))
    return out


# --- reviewer labels -----------------------------------------------------------------------


def load_jsonl_examples(path: Path, source: str = "reviews") -> list[Example]:
    """Labelled rows from a JSONL file, as ``modserve reviews export`` writes them.

    Each line is ``{"text": ..., "labels": {category: 0..1}, "language"?: ...}``; other keys
    are ignored. This is how reviewers' decisions flow back into training: the rows join the
    public sets with the same split rule (the stable text hash), so a text is never trained on
    in one run and validated on in another. Raises ``ValueError`` naming the first bad line.
    """
    from deployments.signals import TEXT_CATEGORIES

    examples: list[Example] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, labels = clean(str(row["text"])), dict(row["labels"])
                unknown = [c for c in labels if c not in TEXT_CATEGORIES]
                if unknown or not all(0.0 <= float(v) <= 1.0 for v in labels.values()):
                    raise ValueError(f"labels must be text categories in [0, 1]: {labels}")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            key = text_key(text)
            if key and labels:
                floats = {c: float(v) for c, v in labels.items()}
                language = str(row.get("language", "und"))
                examples.append(
                    Example(text, source, language, hash_split(key), MappingProxyType(floats))
                )
    return examples
