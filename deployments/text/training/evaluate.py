"""Quality figures for the text ensemble: ``modserve eval text``, and training's advertising check.

Four parts, each reported per category so a regression shows where it comes from:

- **validation**: AUROC, AUPRC and F1 at the policy's review threshold, on the held-out
  validation splits, pooled per category (per component too) and per set;
- **obfuscation**: recall on obfuscated copies of validation positives divided by recall on the
  clean texts, per category and per transform (``obfuscate.py``);
- **fairness**: the false-flag rate on identity sentences per identity and per function
  (``fairness.py``);
- **agreement**: how well human raters agree with each other where a set keeps every rater's
  vote (Toxic Spans): the ceiling its labels put on any model's AUROC.

Hand-made training rows (``Example.handmade``) are dropped here, whatever split they claim: they
were written to fix the model and would flatter it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from deployments.text.model import POOLED, POOLED_EN, TextScores, component_key
from deployments.text.training import EVAL_PARTS, fairness, obfuscate
from deployments.text.training.data import (
    SPAN_CATEGORIES,
    TOXIC_SPANS,
    Example,
    clean,
    labelled_by_set,
    text_key,
    toxic_spans_votes,
)
from deployments.text.training.measures import (
    auroc,
    average_precision,
    f1_at,
    precision_at,
    recall_at,
)

Scorer = Callable[[Sequence[str]], TextScores]
Thresholds = float | Mapping[str, float | None]
# Scripts the obfuscation transforms apply to (homoglyphs, leetspeak are Latin-script tricks).
# The English sets without Toxic Spans, whose labels three raters barely agree on (see the
# agreement part): where the English insult target is measured.
POOLED_EN_OTHER = f"{POOLED_EN}-without-{TOXIC_SPANS}"
LATIN_LANGUAGES = frozenset({"en", "de", "fr", "es", "it", "pt", "tr", "da"})


def evaluable(examples: Iterable[Example]) -> list[Example]:
    """The rows evaluation may use: validation split, never a hand-made row."""
    return [e for e in examples if e.split == "validation" and not e.handmade]


def _threshold(threshold: Thresholds, category: str) -> float:
    if isinstance(threshold, float | int):
        return float(threshold)
    value = threshold.get(category)
    return 0.5 if value is None else float(value)


def label_matrix(examples: Sequence[Example], categories: Sequence[str]) -> np.ndarray:
    """Labels as floats with NaN where a set says nothing about a category."""
    y = np.full((len(examples), len(categories)), np.nan, dtype=np.float32)
    for i, ex in enumerate(examples):
        for j, cat in enumerate(categories):
            if cat in ex.labels:
                y[i, j] = ex.labels[cat]
    return y


def _figures(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | int]:
    return {
        "n": int(len(y)),
        "positives": int((y >= 0.5).sum()),
        "auroc": _round(auroc(y, p)),
        "auprc": _round(average_precision(y, p)),
        "f1": _round(f1_at(y, p, threshold)),
        "precision": _round(precision_at(y, p, threshold)),
        "recall": _round(recall_at(y, p, threshold)),
    }


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 4)


def evaluate(
    scores: TextScores, examples: Sequence[Example], threshold: Thresholds = 0.5
) -> dict[str, dict[str, dict[str, float | int]]]:
    """``{"pooled": {category/component: figures}, "pooled-<language>": {category: ensemble
    figures}, "<set>": {category: ensemble figures}}``; ``pooled-en`` pools the English rows
    only, and so on for every language with validation rows.

    ``threshold`` (for F1) is one number or one per category; hand-made rows are skipped.
    """
    y = label_matrix(examples, scores.categories)
    y[[e.handmade for e in examples]] = np.nan
    sources = np.array([ex.source for ex in examples])
    languages = np.array([ex.language for ex in examples])
    report: dict[str, dict[str, dict[str, float | int]]] = {POOLED: {}, POOLED_EN: {}}
    for j, cat in enumerate(scores.categories):
        known = ~np.isnan(y[:, j])
        if not known.any():
            continue
        thr = _threshold(threshold, cat)
        report[POOLED][cat] = _figures(y[known, j], scores.ensemble[known, j], thr)
        for name, probs in scores.components.items():
            report[POOLED][component_key(cat, name)] = _figures(y[known, j], probs[known, j], thr)
        for language in sorted(set(languages[known])):
            rows = known & (languages == language)
            report.setdefault(f"{POOLED}-{language}", {})[cat] = _figures(
                y[rows, j], scores.ensemble[rows, j], thr
            )
        rows = known & (languages == "en") & (sources != TOXIC_SPANS)
        if rows.any():
            report.setdefault(POOLED_EN_OTHER, {})[cat] = _figures(
                y[rows, j], scores.ensemble[rows, j], thr)
        for source in sorted(set(sources[known])):
            rows = known & (sources == source)
            report.setdefault(source, {})[cat] = _figures(
                y[rows, j], scores.ensemble[rows, j], thr
            )
    return report


def format_table(report: dict[str, dict[str, dict[str, float | int]]]) -> str:
    """A readable table: one line per (set, category), pooled rows first."""
    lines = [f"{'set':44} {'category':26} {'n':>6} {'pos':>5} {'AUROC':>6} {'AUPRC':>6} {'F1':>6}"]
    for source, cats in report.items():
        for cat, f in cats.items():
            lines.append(
                f"{source:44} {cat:26} {f['n']:>6} {f['positives']:>5} "
                f"{f['auroc']:>6.3f} {f['auprc']:>6.3f} {f['f1']:>6.3f}"
            )
    return "\n".join(lines)


# --- scoring with a progress bar ----------------------------------------------------------


def score_all(scorer: Scorer, texts: Sequence[str], desc: str, chunk: int = 256) -> TextScores:
    """``scorer`` over ``texts`` in chunks, with a progress bar; one ``TextScores`` back."""
    if not texts:
        raise ValueError(f"{desc}: nothing to score")
    parts = [scorer(texts[i : i + chunk]) for i in
             tqdm(range(0, len(texts), chunk), desc=desc, unit="chunk", leave=False)]
    if len(parts) == 1:
        return parts[0]
    return TextScores(
        parts[0].categories,
        {name: np.concatenate([p.components[name] for p in parts]) for name in parts[0].components},
        np.concatenate([p.ensemble for p in parts]),
    )


def subset(scores: TextScores, mask: np.ndarray) -> TextScores:
    """The rows of ``scores`` where ``mask`` is true."""
    return TextScores(scores.categories, {k: v[mask] for k, v in scores.components.items()},
                      scores.ensemble[mask])


def policy_thresholds(path: Path) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """(review, block) thresholds per category of a policy file (base thresholds, no platform)."""
    from deployments.policy import load_policy  # the policy package, not its deployment

    policy = load_policy(path)
    return ({c: t.review for c, t in policy.categories.items()},
            {c: t.block for c, t in policy.categories.items()})


# A threshold is written with two decimals, so one set at an operating point may sit this far
# from it. One further under the point flags more harmless posts than the point's budget: a
# strict policy may mean to, but usually it was set at an older model's point.
ROUNDING = 0.005
THRESHOLD_KINDS = ("review", "block")  # the operating points' keys, budget 1 % and 0.1 %


def under_point(threshold: float, point: float) -> bool:
    return threshold < point - ROUNDING


def at_point(threshold: float, point: float) -> bool:
    return abs(threshold - point) <= ROUNDING


_THRESHOLD_LINE = re.compile(
    r"^(?P<head>\s+(?P<category>[a-z_]+):\s*\{\s*review:\s*)(?P<review>null|[0-9.]+)"
    r"(?P<mid>\s*,\s*block:\s*)(?P<block>null|[0-9.]+)(?P<tail>\s*\}.*)$"
)


def derive_policy(
    text: str,
    old_points: Mapping[str, Mapping[str, float]],
    new_points: Mapping[str, Mapping[str, float]],
) -> tuple[str, list[str]]:
    """A policy file's text with each base threshold that sits at the old model's operating
    point moved to the new model's (two decimals), and one line per threshold moved.

    Thresholds set by hand (not at the old point), nulls, categories either model lacks and the
    ``platforms`` overrides are kept as written, and so is every comment: what a threshold buys
    is measured afresh by ``modserve eval text``. Only the one-line ``{review: .., block: ..}``
    form under ``categories:`` is read, the form the shipped policies use."""
    out, changes, inside = [], [], False
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace() and not line.lstrip().startswith("#"):
            inside = line.startswith("categories:")
        match = _THRESHOLD_LINE.match(line.rstrip("\n")) if inside else None
        category = match["category"] if match else ""
        if match and category in old_points and category in new_points:
            values = {}
            for kind in THRESHOLD_KINDS:
                written = match[kind]
                old, new = old_points[category][kind], new_points[category][kind]
                values[kind] = written
                if written != "null" and at_point(float(written), old):
                    values[kind] = f"{new:.2f}"
                    if values[kind] != written:
                        changes.append(f"{category} {kind} {written} -> {values[kind]} "
                                       f"(operating point {old:.3f} -> {new:.3f})")
            line = (f"{match['head']}{values['review']}{match['mid']}{values['block']}"
                    f"{match['tail']}" + ("\n" if line.endswith("\n") else ""))
        out.append(line)
    return "".join(out), changes


# --- ordinary posts ---------------------------------------------------------------------------


def ordinary(examples: Iterable[Example]) -> list[Example]:
    """Harmless validation rows of every set: labelled 0 for every category their set labels
    (a DynaHate "not hate" row with no toxicity label is left out: the set labels toxicity,
    but not on it). What a platform's everyday traffic mostly looks like, and so what a policy
    must leave alone."""
    rows = evaluable(examples)
    labelled = labelled_by_set(rows)
    return [e for e in rows if e.labels and set(e.labels) == labelled[e.source]
            and max(e.labels.values()) < 0.5]


# Posts by length in characters: short posts are one piece; a long one is scored in windows and
# sentences, and each piece is one more chance to reach a threshold.
LENGTHS = {"1-280": (1, 280), "281-1000": (281, 1000), "1001+": (1001, 1 << 62)}


def ordinary_report(
    scores: TextScores,
    examples: Sequence[Example],
    review: Mapping[str, float | None],
    block: Mapping[str, float | None],
) -> dict[str, Any]:
    """Share of harmless posts a policy sends to review and to block: overall (any category at
    its threshold), per category, per set and per length (``LENGTHS``; overall)."""
    cats = [c for c in scores.categories if review.get(c) is not None or block.get(c) is not None]

    def hits(thresholds: Mapping[str, float | None]) -> np.ndarray:
        flagged = threshold_hits(scores, thresholds)
        out = np.zeros((len(examples), len(cats)), dtype=bool)
        for k, c in enumerate(cats):
            if c in flagged:
                out[:, k] = flagged[c]
        return out

    reviewed, blocked = hits(review), hits(block)
    any_block: np.ndarray = np.any(blocked, axis=1)
    any_review: np.ndarray = np.any(reviewed, axis=1) & ~any_block
    sources = np.array([e.source for e in examples])
    lengths = np.array([len(e.text) for e in examples])

    def share(mask: np.ndarray) -> float:
        return round(float(mask.mean()), 4) if len(mask) else float("nan")

    def part(chosen: np.ndarray) -> dict[str, float | int]:
        return {"n": int(chosen.sum()), "review": share(any_review[chosen]),
                "block": share(any_block[chosen])}

    return {
        "n": len(examples),
        "review": share(any_review),
        "block": share(any_block),
        "category": {c: {"review": share(reviewed[:, k]), "block": share(blocked[:, k])}
                     for k, c in enumerate(cats)},
        "set": {s: part(sources == s) for s in sorted(set(sources))},
        "length": {name: part((lengths >= low) & (lengths <= high))
                   for name, (low, high) in LENGTHS.items()},
    }


def threshold_hits(
    scores: TextScores, thresholds: Mapping[str, float | None]
) -> dict[str, np.ndarray]:
    """Per category with a threshold: which rows reach it."""
    return {c: scores.ensemble[:, k] >= thresholds[c] for k, c in enumerate(scores.categories)
            if thresholds.get(c) is not None}


def ordinary_mask(examples: Sequence[Example]) -> np.ndarray:
    """Which of ``examples`` are ordinary posts (``ordinary``)."""
    chosen = {id(e) for e in ordinary(examples)}
    return np.array([id(e) in chosen for e in examples], dtype=bool)


def ordinary_figures(
    scores: TextScores,
    examples: Sequence[Example],
    review: Mapping[str, float | None],
    block: Mapping[str, float | None],
) -> dict[str, Any]:
    """``ordinary_report`` on the ordinary rows among ``examples`` (``scores`` is of all)."""
    mask = ordinary_mask(examples)
    harmless = [e for e, keep in zip(examples, mask, strict=True) if keep]
    return ordinary_report(subset(scores, mask), harmless, review, block)


def format_ordinary(report: Mapping[str, Any]) -> str:
    lines = [f"ordinary posts ({report['n']} harmless validation rows): "
             f"review {report['review']:.2%}, block {report['block']:.2%}",
             f"{'category':20} {'review':>8} {'block':>8}"]
    lines += [f"{c:20} {r['review']:>8.2%} {r['block']:>8.2%}"
              for c, r in report["category"].items()]
    for title, key in (("set", "set"), ("characters", "length")):
        lines += [f"{title:44} {'n':>6} {'review':>8} {'block':>8}"]
        lines += [f"{s:44} {r['n']:>6} {r['review']:>8.2%} {r['block']:>8.2%}"
                  for s, r in report[key].items()]
    return "\n".join(lines)


# --- obfuscation ----------------------------------------------------------------------------


def obfuscation_sample(
    examples: Sequence[Example], categories: Sequence[str], per_category: int, seed: int
) -> list[tuple[Example, list[str]]]:
    """Up to ``per_category`` Latin-script validation positives per category (seeded), each
    with its positive categories; a text positive for several categories appears once."""
    pool = [e for e in evaluable(examples) if e.language in LATIN_LANGUAGES]
    chosen: dict[int, None] = {}
    for cat in categories:
        positives = [i for i, e in enumerate(pool) if e.labels.get(cat, 0.0) >= 0.5]
        rng = random.Random(f"{seed}/{cat}")
        chosen.update(dict.fromkeys(sorted(rng.sample(positives, min(per_category,
                                                                      len(positives))))))
    return [(pool[i], [c for c in categories if pool[i].labels.get(c, 0.0) >= 0.5])
            for i in sorted(chosen)]


def _ratio(obf: int, clean: int) -> float:
    return round(obf / clean, 4) if clean else float("nan")


def obfuscation_report(
    scorer: Scorer,
    examples: Sequence[Example],
    salience: Mapping[str, Mapping[str, float]],
    review: Mapping[str, float | None],
    categories: Sequence[str],
    *,
    per_category: int = 150,
    transforms: Sequence[str] = tuple(obfuscate.ALL_TRANSFORMS),
    seed: int = 13,
) -> dict[str, Any]:
    """Recall at the review threshold on obfuscated ÷ on clean copies of the same positives.

    Per category (all transforms pooled, and per transform), per transform (categories pooled)
    and overall. Only categories with a review threshold count; only texts with a salient word.
    """
    categories = [c for c in categories if review.get(c) is not None]
    sample = obfuscation_sample(examples, categories, per_category, seed)
    variants = obfuscate.variants([e.text for e, _ in sample], [c for _, c in sample],
                                  salience, transforms, seed)
    used = sorted({v.index for v in variants})
    if not used:
        raise ValueError("obfuscation: no validation positive has a salient word")
    clean = score_all(scorer, [sample[i][0].text for i in used], "obfuscation: clean")
    obf = score_all(scorer, [v.text for v in variants], "obfuscation: variants")
    row_of = {i: r for r, i in enumerate(used)}
    thr = np.array([_threshold(review, c) for c in clean.categories])
    clean_hit = clean.ensemble >= thr
    obf_hit = obf.ensemble >= thr
    # counts[(category, transform)] = [positives, clean hits, obfuscated hits]
    counts: dict[tuple[str, str], list[int]] = {}
    for k, v in enumerate(variants):
        for cat in sample[v.index][1]:
            if cat not in categories:
                continue
            j = clean.categories.index(cat)
            slot = counts.setdefault((cat, v.transform), [0, 0, 0])
            slot[0] += 1
            slot[1] += int(clean_hit[row_of[v.index], j])
            slot[2] += int(obf_hit[k, j])

    def pooled(keys: Iterable[tuple[str, str]]) -> dict[str, float | int]:
        n, c, o = (sum(counts[k][i] for k in keys) for i in range(3))
        return {"n": n, "clean_recall": round(c / n, 4) if n else float("nan"),
                "obfuscated_recall": round(o / n, 4) if n else float("nan"),
                "ratio": _ratio(o, c)}

    keys = list(counts)
    report: dict[str, Any] = {
        "texts": len(used),
        "variants": len(variants),
        "overall": pooled(keys),
        "transform": {t: pooled([k for k in keys if k[1] == t]) for t in transforms},
        "category": {c: pooled([k for k in keys if k[0] == c]) for c in categories
                     if any(k[0] == c for k in keys)},
        "category_transform": {f"{c}/{t}": _ratio(counts[c, t][2], counts[c, t][1])
                               for c, t in keys},
    }
    missed = [(v, j) for k, v in enumerate(variants) for j, cat in enumerate(clean.categories)
              if cat in sample[v.index][1] and clean_hit[row_of[v.index], j] and not obf_hit[k, j]]
    report["missed_examples"] = [  # a few disguises the model fell for, to read
        {"transform": v.transform, "category": clean.categories[j], "words": list(v.words),
         "text": v.text[:200]}
        for v, j in random.Random(seed).sample(missed, min(12, len(missed)))
    ]
    return report


def format_obfuscation(report: Mapping[str, Any]) -> str:
    """Ratios per transform and per category, clean and obfuscated recall beside them."""
    lines = [f"{'obfuscation':34} {'n':>6} {'clean':>6} {'obf':>6} {'ratio':>6}"]
    rows = [("overall", report["overall"])]
    rows += [(f"transform {t}", r) for t, r in report["transform"].items()]
    rows += [(f"category {c}", r) for c, r in report["category"].items()]
    for name, r in rows:
        lines.append(f"{name:34} {r['n']:>6} {r['clean_recall']:>6.3f} "
                     f"{r['obfuscated_recall']:>6.3f} {r['ratio']:>6.3f}")
    return "\n".join(lines)


# --- rater agreement -------------------------------------------------------------------------


PANEL, OTHERS = 3, 4  # agreement: a panel of three raters against the majority of four others


def rater_agreement(
    votes: Sequence[Sequence[set[str]]],
    category: str,
    scores: np.ndarray | None = None,
    panel: int = PANEL,
    others: int = OTHERS,
) -> dict[str, float | int]:
    """Figures of a predictor against the strict majority of ``others`` raters, over items with
    ``panel + others`` votes or more (ties skipped). The predictor is the share of the first
    ``panel`` raters who marked ``category``, or, given, ``scores`` (one per item).

    The set's own labels are a majority of about three raters, so the panel shows roughly how
    well those labels predict a fresh panel's: the context for a model's AUROC on them.
    """
    predicted, majority = [], []
    for i, raters in enumerate(votes):
        if len(raters) < panel + others:
            continue
        yes = sum(category in m for m in raters[panel : panel + others])
        if 2 * yes != others:
            share = sum(category in m for m in raters[:panel]) / panel
            predicted.append(share if scores is None else float(scores[i]))
            majority.append(float(2 * yes > others))
    return _figures(np.array(majority), np.array(predicted), 0.5)


def agreement_report(
    data_dir: Path, scorer: Scorer, examples: Sequence[Example]
) -> dict[str, dict[str, dict[str, float | int]]]:
    """For every set that keeps each rater's vote (Toxic Spans): the raters' agreement on all
    its comments, and on its validation comments (among ``examples``) the model beside it."""
    if not (data_dir / TOXIC_SPANS).is_dir():
        return {}
    comments = toxic_spans_votes(data_dir / TOXIC_SPANS)
    votes = [raters for _, raters in comments]
    report = {TOXIC_SPANS: {c: rater_agreement(votes, c) for c in SPAN_CATEGORIES}}
    validation = {text_key(e.text) for e in evaluable(examples) if e.source == TOXIC_SPANS}
    held = [(text, raters) for text, raters in comments
            if len(raters) >= PANEL + OTHERS and text_key(clean(text)) in validation]
    if held:
        scores = scorer([text for text, _ in held])
        held_votes = [raters for _, raters in held]
        part = report[f"{TOXIC_SPANS} validation"] = {}
        for c in (c for c in SPAN_CATEGORIES if c in scores.categories):
            j = scores.categories.index(c)
            part[component_key(c, f"{PANEL} raters")] = rater_agreement(held_votes, c)
            part[component_key(c, "model")] = rater_agreement(held_votes, c, scores.ensemble[:, j])
    return report


# --- the whole evaluation ---------------------------------------------------------------------


def run_eval(
    scorer: Scorer,
    examples: Sequence[Example],
    review: Mapping[str, float | None],
    block: Mapping[str, float | None],
    *,
    parts: Sequence[str] = EVAL_PARTS,
    obfuscation_per_category: int = 150,
    transforms: Sequence[str] = tuple(obfuscate.ALL_TRANSFORMS),
    seed: int = 13,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """The parts asked for, as one JSON-able dict. ``examples`` are all loaded rows: validation
    rows are scored, training rows only give the obfuscation's salient words; the agreement part
    reads the raters' votes from ``data_dir``."""
    result: dict[str, Any] = {"parts": list(parts)}
    if "validation" in parts or "ordinary" in parts:
        val = evaluable(examples)
        scores = score_all(scorer, [e.text for e in val], "validation")
        if "validation" in parts:
            result["validation"] = evaluate(scores, val, review)
        if "ordinary" in parts:
            result["ordinary"] = ordinary_figures(scores, val, review, block)
    if "obfuscation" in parts:
        train = [(e.text, e.labels) for e in examples
                 if e.split == "train" and e.language in LATIN_LANGUAGES]
        categories = scorer(["a probe for the category list"]).categories
        result["obfuscation"] = obfuscation_report(
            scorer, examples, obfuscate.salient_words(train), review, categories,
            per_category=obfuscation_per_category, transforms=transforms, seed=seed)
    if "fairness" in parts:
        cases = fairness.load_cases()
        scores = score_all(scorer, [c.text for c in cases], "fairness")
        result["fairness"] = fairness.fairness_report(cases, scores.ensemble, scores.categories,
                                                      review, block)
    if "agreement" in parts:
        if data_dir is None:
            raise ValueError("the agreement part needs the labelled data folder")
        result["agreement"] = agreement_report(data_dir, scorer, examples)
    return result


def format_report(result: Mapping[str, Any]) -> str:
    """All the parts present in ``result`` as readable tables."""
    sections = []
    if "validation" in result:
        sections.append(format_table(result["validation"]))
    if "ordinary" in result:
        sections.append(format_ordinary(result["ordinary"]))
    if "obfuscation" in result:
        sections.append(format_obfuscation(result["obfuscation"]))
    if "fairness" in result:
        sections.append(fairness.format_fairness(result["fairness"]))
    if "agreement" in result:
        title = f"rater agreement: {PANEL} raters' share, or the model, against {OTHERS} others"
        sections.append(title + "\n" + format_table(result["agreement"]))
    return "\n\n".join(sections)
