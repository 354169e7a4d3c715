"""Policy language and decisions: parametrised tables of cases, no Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.policy.model import (
    Decision,
    Policy,
    PolicyError,
    UnknownPolicyError,
    check_policy_file,
    decide,
    load_policies,
    load_policy,
    policies_from_user_config,
    policies_user_config,
)
from deployments.signals import ALL_CATEGORIES, Signal
from serve_app.settings import BUILTIN_POLICY_DIR

POLICY_DIR = BUILTIN_POLICY_DIR

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


# --- the policy language ---------------------------------------------------------------------

BROKEN = """\
name: broken
descripton: a typo'd key
categories:
  toxicty: {review: 0.5, block: 0.85}
  insult:
    review: 0.9
    block: 0.5
  profanity: {review: 1.5, block: null}
  spam: {review: 0.5}
  threat: {review: "high", block: null}
platforms:
  twiter:
    insult: {review: 0.1, block: 0.2}
on_degraded: reveiw
"""


@pytest.mark.parametrize(
    ("line", "location", "message", "hint"),
    [
        (2, "descripton", "unknown key 'descripton'", "did you mean 'description'?"),
        (4, "categories.toxicty", "unknown category 'toxicty'", "did you mean 'toxicity'?"),
        (5, "categories.insult", "review 0.9 is above block 0.5", "review must be <= block"),
        (8, "categories.profanity.review", "threshold 1.5 is out of range", "from 0 to 1"),
        (9, "categories.spam.block", "missing required key 'block'", "block: null"),
        (10, "categories.threat.review", "expected a number or null", "0.5"),
        (12, "platforms.twiter", "unknown platform 'twiter'", "did you mean 'twitter'?"),
        (14, "on_degraded", "'reveiw' is not allowed", "did you mean 'review'?"),
    ],
)
def test_check_reports_every_problem_with_line_and_hint(
    tmp_path: Path, line: int, location: str, message: str, hint: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    problems = check_policy_file(path)
    assert len(problems) == 8  # all of them, in one pass
    matching = [p for p in problems if p.line == line and p.location == location]
    assert len(matching) == 1, problems
    problem = matching[0]
    assert message in problem.message
    assert problem.hint is not None and hint in problem.hint
    assert str(problem).startswith(f"{path}:{line}: {location}: {problem.message} (hint: ")


def test_unknown_category_lists_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ncategories:\n  nudity: {review: 0.5, block: null}\n")
    (problem,) = check_policy_file(path)
    assert problem.hint is not None
    assert all(category in problem.hint for category in ALL_CATEGORIES)


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("name: p\ncategories:\n  toxicity: {review: 0.5\n  insult: 1\n", 4, "YAML syntax"),
        ("name: p\ncategories:\n\ttoxicity: 1\n", 3, "YAML syntax"),
        ("", 1, "policy file is empty"),
        ("- just\n- a list\n", 1, "expected a mapping"),
        ("name: p\nname: q\ncategories: {}\n", 2, "duplicate key 'name'"),
    ],
)
def test_check_reports_file_level_problems(
    tmp_path: Path, content: str, line: int, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(content)
    problems = check_policy_file(path)
    assert [p.line for p in problems] == [line]
    assert message in problems[0].message


def test_load_raises_policy_error_with_all_problems(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert len(caught.value.problems) == 8
    assert f"{path}:4: categories.toxicty" in str(caught.value)


def test_from_dict_problems_name_the_source_without_lines() -> None:
    with pytest.raises(PolicyError) as caught:
        raw = {"name": "x", "categories": {"toxicty": {"review": 0.5, "block": None}}}
        Policy.from_dict(raw, source="user_config")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("user_config", None)
    assert str(problem).startswith("user_config: categories.toxicty: unknown category")


# --- shipped policies -----------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(POLICY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_policies_are_clean(path: Path) -> None:
    assert check_policy_file(path) == []


def test_shipped_policies_load_and_default_documents_every_category() -> None:
    policies = load_policies(POLICY_DIR)
    assert {"default", "strict"} <= set(policies)
    assert set(policies["default"].categories) == set(ALL_CATEGORIES)


def test_load_policies_refuses_duplicate_names(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.yaml").write_text("name: same\ncategories: {}\n")
    with pytest.raises(PolicyError, match="duplicate policy name 'same'"):
        load_policies(tmp_path)


# --- user_config -----------------------------------------------------------------------------


def test_user_config_round_trip() -> None:
    config = policies_user_config(POLICY_DIR)
    policies, default = policies_from_user_config(config)
    assert default == "default"
    assert policies == {
        name: Policy.from_dict(p.to_dict(), source=f"user_config.policies.{name}")
        for name, p in load_policies(POLICY_DIR).items()
    }


def test_user_config_accepts_raw_files_keyed_by_stem() -> None:
    raw = {f.stem: yaml.safe_load(f.read_text()) for f in POLICY_DIR.glob("*.yaml")}
    policies, _ = policies_from_user_config({"policies": raw, "default": "strict"})
    assert set(policies) == {"default", "strict"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "expected a non-empty mapping"),
        ({"policies": {"x": BASE}, "default": "x"}, "'x' is not defined"),
        ({"policies": {"a": BASE, "b": BASE}, "default": "test"}, "duplicate policy name"),
        ({"policies": {"test": BASE}, "default": "test", "extra": 1}, "unknown key 'extra'"),
        ({"policies": {"test": {**BASE, "on_degraded": "x"}}, "default": "test"}, "'x'"),
    ],
)
def test_user_config_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policies_from_user_config(config)


# --- the deployment wrapper (plain class, Ray is not started) --------------------------------


def test_deployment_keeps_old_policies_on_bad_update() -> None:
    from deployments.policy.deployment import Policy as Deployed

    replica = Deployed.func_or_class()  # type: ignore[attr-defined]
    with pytest.raises(PolicyError):
        replica.reconfigure({"policies": {}})  # a bad first set refuses to start
    replica.reconfigure(policies_user_config(POLICY_DIR))
    replica.reconfigure({"policies": {"default": {"name": "default"}}, "default": "default"})
    assert replica.names() == ["default", "strict"]
    assert replica.decide([text(toxicity=0.9)], None, "twitter", False).decision == "block"
    assert replica.decide([text(toxicity=0.65)], "strict", "twitter", False).decision == "block"
    with pytest.raises(UnknownPolicyError, match="unknown policy 'nope'"):
        replica.decide([], "nope", "twitter", False)
