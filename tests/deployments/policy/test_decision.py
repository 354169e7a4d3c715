"""Decisions: parametrised tables of cases per category, platform and rule, no Ray."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.policy import Decision, Policy, decide
from deployments.signals import Signal

BASE: dict[str, Any] = {
    "name": "test",
    "categories": {
        "toxicity": {"review": 0.5, "block": 0.85},
        "profanity": {"review": 0.8, "block": None},
        "self_harm": {"review": 0.3, "block": None},
        "spam": {"review": None, "block": 0.9},
    },
    "platforms": {
        "reddit": {"profanity": {"review": None, "block": None}},
        "facebook": {"toxicity": {"review": 0.3, "block": 0.6}},
    },
}


def make_policy(**overrides: Any) -> Policy:
    return Policy.from_dict({**BASE, **overrides}, source="test")


def text(**scores: float) -> Signal:
    return Signal(analyzer="text", modality="text", model_version="t1", scores=scores)


def fallback(**scores: float) -> Signal:
    return Signal("fallback", "text", "lexicon-x", scores, degraded=True)


def image(**scores: float) -> Signal:
    return Signal(analyzer="image", modality="image", model_version="i1", scores=scores)


def run(
    signals: list[Signal], platform: str = "twitter", image_expected: bool = False, **kw: Any
) -> Decision:
    return decide(make_policy(**kw), platform, signals, image_expected=image_expected)


# --- decisions per category, threshold and platform -----------------------------------------


@pytest.mark.parametrize(
    ("platform", "scores", "decision", "flagged"),
    [
        ("twitter", {"toxicity": 0.1}, "allow", []),
        ("twitter", {"toxicity": 0.4999}, "allow", []),
        ("twitter", {"toxicity": 0.5}, "review", ["toxicity"]),
        ("twitter", {"toxicity": 0.85}, "block", ["toxicity"]),
        ("twitter", {"profanity": 0.99}, "review", ["profanity"]),  # block: null never blocks
        ("reddit", {"profanity": 0.99}, "allow", []),  # override switches profanity off
        ("reddit", {"toxicity": 0.9}, "block", ["toxicity"]),  # ...and keeps the rest
        ("facebook", {"toxicity": 0.35}, "review", ["toxicity"]),
        ("facebook", {"toxicity": 0.65}, "block", ["toxicity"]),
        ("custom", {"toxicity": 0.65}, "review", ["toxicity"]),  # not listed: base thresholds
        ("twitter", {"spam": 0.89}, "allow", []),  # review: null, block only
        ("twitter", {"spam": 0.9}, "block", ["spam"]),
        ("twitter", {"violence": 0.99}, "allow", []),  # not in the policy: reported, ignored
        ("twitter", {"toxicity": 0.6, "self_harm": 0.9}, "review", ["self_harm", "toxicity"]),
        ("twitter", {"toxicity": 0.9, "self_harm": 0.95}, "block", ["self_harm", "toxicity"]),
    ],
)
def test_decision_table(
    platform: str, scores: dict[str, float], decision: str, flagged: list[str]
) -> None:
    result = run([text(**scores)], platform=platform)
    assert (result.decision, result.flagged_categories) == (decision, flagged)
    assert result.category_scores == scores
    assert result.is_approved == (decision == "allow")
    assert not result.degraded


def test_scores_are_the_maximum_over_signals() -> None:
    result = run([text(toxicity=0.2, insult=0.7), fallback(toxicity=0.6)])
    assert result.category_scores == {"toxicity": 0.6, "insult": 0.7}
    assert result.decision == "review"


@pytest.mark.parametrize(
    ("scores", "reason"),
    [
        ({"toxicity": 0.91}, "toxicity 0.91 >= block 0.85"),
        ({"toxicity": 0.62}, "toxicity 0.62 >= review 0.50"),
    ],
)
def test_reasons_name_score_and_threshold(scores: dict[str, float], reason: str) -> None:
    assert run([text(**scores)]).reasons == [reason]


# --- degraded answers and missing images ----------------------------------------------------


@pytest.mark.parametrize(
    ("on_degraded", "toxicity", "decision"),
    [
        ("decide", 0.9, "block"),
        ("decide", 0.6, "review"),
        ("decide", 0.1, "allow"),
        ("review", 0.9, "review"),  # a stand-in's scores never block on their own
        ("review", 0.1, "review"),
    ],
)
def test_on_degraded(on_degraded: str, toxicity: float, decision: str) -> None:
    result = run([fallback(toxicity=toxicity)], on_degraded=on_degraded)
    assert result.decision == decision
    assert result.degraded
    assert "text scored by the regex fallback" in result.reasons


def test_on_degraded_ignores_healthy_answers() -> None:
    assert run([text(toxicity=0.1)], on_degraded="review").decision == "allow"


@pytest.mark.parametrize(
    ("on_missing_image", "image_expected", "signals", "decision", "reason"),
    [
        ("review", True, [text(toxicity=0.1)], "review", True),
        ("review", True, [], "review", True),
        ("review", True, [text(toxicity=0.9)], "block", True),  # never softens a block
        ("review", True, [text(toxicity=0.1), image(sexual=0.1)], "allow", False),
        ("review", False, [text(toxicity=0.1)], "allow", False),
        ("allow", True, [text(toxicity=0.1)], "allow", True),
    ],
)
def test_on_missing_image(
    on_missing_image: str,
    image_expected: bool,
    signals: list[Signal],
    decision: str,
    reason: bool,
) -> None:
    result = run(signals, image_expected=image_expected, on_missing_image=on_missing_image)
    assert result.decision == decision
    assert ("image could not be scored" in result.reasons) == reason
    assert result.degraded == reason  # an image nobody scored makes the answer degraded


def test_missing_image_defaults_to_review() -> None:
    raw = {k: v for k, v in BASE.items() if k != "platforms"}
    policy = Policy.from_dict(raw)
    assert policy.on_missing_image == "review"
    assert decide(policy, "twitter", [text()], image_expected=True).decision == "review"


# --- confidence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signals", "kw", "confidence"),
    [
        ([text(toxicity=0.9, self_harm=0.95)], {}, 0.9),  # block: max over blocking categories
        ([text(toxicity=0.6, self_harm=0.4)], {}, 0.6),  # review: max over flagged
        ([text(toxicity=0.25)], {}, 0.5),  # allow: 1 - 0.25 / 0.5
        ([text(toxicity=0.0, spam=0.45)], {}, 0.5),  # spam has no review: ratio to block
        ([text(violence=0.9)], {}, 0.0),  # nothing the policy thresholds was scored
        ([], {}, 0.0),
        ([fallback(toxicity=0.1)], {"on_degraded": "review"}, 0.0),  # review by rule, not score
    ],
)
def test_confidence(signals: list[Signal], kw: dict[str, Any], confidence: float) -> None:
    assert run(signals, **kw).confidence_score == pytest.approx(confidence)

