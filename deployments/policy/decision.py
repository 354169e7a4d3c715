"""Deciding: one post's signals under one policy become allow / review / block, with reasons.

``decide`` is a pure function of a policy and the signals, with no Ray and no I/O, so the Serve
deployment, the bulk job, training's evaluation and the tests all decide alike, and a decision
can be explained line by line from its ``reasons``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from deployments.policy.loading import Policy, Thresholds
from deployments.signals import Decision as DecisionKind
from deployments.signals import Signal

_RANK: dict[str, int] = {"allow": 0, "review": 1, "block": 2}


@dataclass(frozen=True)
class Decision:
    """What the policy made of the signals for one post.

    ``confidence_score`` is how strongly the scores support the decision, in [0, 1]:

    - block: the highest score among the categories at or over their block threshold;
    - review: the highest score among the flagged categories, or 0.0 when no category is
      flagged and the review comes from a rule (``on_degraded: review``, ``on_missing_image``);
    - allow: ``1 - max(score / lowest threshold)`` over the categories the policy sets a
      threshold for, clipped to [0, 1] (a score at half its review threshold gives 0.5), or
      0.0 when no such category was scored at all.

    It is a reading of the scores, not a calibrated probability that the decision is right.
    """

    decision: DecisionKind
    confidence_score: float
    flagged_categories: list[str]
    category_scores: dict[str, float]
    reasons: list[str]
    degraded: bool
    policy: str
    platform: str
    queued: bool = False  # goes to the human review queue (every review, plus also_queue)

    @property
    def is_approved(self) -> bool:
        return self.decision == "allow"


@dataclass(frozen=True)
class _Hit:
    category: str
    score: float
    step: Literal["review", "block"]
    threshold: float

    def reason(self) -> str:
        return f"{self.category} {self.score:.2f} >= {self.step} {self.threshold:.2f}"


def decide(
    policy: Policy,
    platform: str,
    signals: Sequence[Signal],
    *,
    image_expected: bool,
    text: str | None = None,
) -> Decision:
    """Turn the signals for one post into allow / review / block under ``policy``.

    Scores are the maximum per category over all signals. A platform not named in the policy
    uses its base thresholds. See ``Decision`` for how ``confidence_score`` is defined. A
    blocklist match in ``text`` raises the decision to the blocklist's action (confidence 1).
    """
    scores = _max_scores(signals)
    thresholds = policy.thresholds_for(platform)
    hits = _hits(scores, thresholds)
    reasons = [hit.reason() for hit in hits]
    decision = _apply_rules(policy, signals, _by_thresholds(hits), reasons, image_expected)
    confidence = _confidence(decision, hits, scores, thresholds)
    decision, confidence = _apply_blocklist(policy, text, decision, confidence, reasons)
    return Decision(
        decision=decision,
        confidence_score=confidence,
        flagged_categories=[hit.category for hit in hits],
        category_scores=scores,
        reasons=reasons,
        degraded=any(s.degraded for s in signals) or _image_missing(signals, image_expected),
        policy=policy.name,
        queued=decision == "review" or decision in policy.also_queue,
        platform=platform,
    )


def _max_scores(signals: Sequence[Signal]) -> dict[str, float]:
    scores: dict[str, float] = {}
    for signal in signals:
        for category, score in signal.scores.items():
            scores[category] = max(score, scores.get(category, 0.0))
    return scores


def _hits(scores: Mapping[str, float], thresholds: Mapping[str, Thresholds]) -> list[_Hit]:
    """Categories at or over a threshold (the higher step wins), highest score first."""
    hits = []
    for category, score in scores.items():
        limits = thresholds.get(category)
        if limits is None:
            continue
        if limits.block is not None and score >= limits.block:
            hits.append(_Hit(category, score, "block", limits.block))
        elif limits.review is not None and score >= limits.review:
            hits.append(_Hit(category, score, "review", limits.review))
    return sorted(hits, key=lambda hit: (-hit.score, hit.category))


def _by_thresholds(hits: Sequence[_Hit]) -> DecisionKind:
    if any(hit.step == "block" for hit in hits):
        return "block"
    return "review" if hits else "allow"


def _apply_rules(
    policy: Policy,
    signals: Sequence[Signal],
    decision: DecisionKind,
    reasons: list[str],
    image_expected: bool,
) -> DecisionKind:
    """The policy's rules for degraded answers and unscored images (appends their reasons)."""
    degraded = [s for s in signals if s.degraded]
    reasons += list(dict.fromkeys(_degraded_reason(s) for s in degraded))
    if degraded and policy.on_degraded == "review" and decision != "review":
        decision = "review"
        reasons.append("degraded answer sent to review (on_degraded: review)")
    if _image_missing(signals, image_expected):
        decision = _missing_image(policy, decision, reasons)
    return decision


def _image_missing(signals: Sequence[Signal], image_expected: bool) -> bool:
    """The post carried an image that no analyzer scored: the answer is degraded."""
    return image_expected and not any(s.modality == "image" for s in signals)


def _degraded_reason(signal: Signal) -> str:
    if signal.analyzer == "fallback":
        return f"{signal.modality} scored by the regex fallback"
    return f"{signal.modality} scored by a degraded analyzer ({signal.analyzer})"


def _missing_image(policy: Policy, decision: DecisionKind, reasons: list[str]) -> DecisionKind:
    reasons.append("image could not be scored")
    if policy.on_missing_image == "review" and decision == "allow":
        reasons.append("unscored image sent to review (on_missing_image: review)")
        return "review"
    return decision


def _apply_blocklist(
    policy: Policy,
    text: str | None,
    decision: DecisionKind,
    confidence: float,
    reasons: list[str],
) -> tuple[DecisionKind, float]:
    """A blocklist match raises the decision to the list's action (appends the matches)."""
    if policy.blocklist is None or not text:
        return decision, confidence
    listed = policy.blocklist.matches(text)
    reasons += [f"blocklist {name}" for name in listed]
    if listed and _RANK[policy.blocklist.action] > _RANK[decision]:
        return policy.blocklist.action, 1.0
    return decision, confidence


def _confidence(
    decision: DecisionKind,
    hits: Sequence[_Hit],
    scores: Mapping[str, float],
    thresholds: Mapping[str, Thresholds],
) -> float:
    if decision == "block":
        return max(hit.score for hit in hits if hit.step == "block")
    if decision == "review":
        return max((hit.score for hit in hits), default=0.0)
    ratios = [
        score / lowest if lowest > 0 else 1.0
        for category, score in scores.items()
        if category in thresholds and (lowest := thresholds[category].lowest()) is not None
    ]
    if not ratios:
        return 0.0
    return min(1.0, max(0.0, 1.0 - max(ratios)))
