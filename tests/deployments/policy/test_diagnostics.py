"""The policy language's checks: every problem located by file, line and key, with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.policy import Policy, PolicyError, check_policy_file, load_policy
from deployments.policy.loading import BUILTIN_POLICY_DIR
from deployments.signals import ALL_CATEGORIES

POLICY_DIR = BUILTIN_POLICY_DIR

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



@pytest.mark.parametrize("path", sorted(POLICY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_policies_are_clean(path: Path) -> None:
    assert check_policy_file(path) == []

