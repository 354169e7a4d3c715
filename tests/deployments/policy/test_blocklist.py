"""Per-policy blocklists (RE2, checked at load) and per-policy rate limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from deployments.policy import Policy, PolicyError, check_policy_file, decide
from deployments.policy.blocklist import Blocklist
from deployments.signals import Signal

BASE: dict[str, Any] = {"name": "p", "categories": {"insult": {"review": 0.5, "block": 0.9}}}


def policy(**extra: Any) -> Policy:
    return Policy.from_dict({**BASE, **extra})


def text_signal(insult: float) -> Signal:
    return Signal("text", "text", "v1", {"insult": insult})


TERM, PATTERN = "term 'scam.example'", "pattern 'free\\\\s+v-?bucks'"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Visit SCAM.example today", [TERM]),  # terms match in any case
        ("scamXexample is fine", []),  # a term is literal: '.' is not a wildcard
        ("a scam.examples site", []),  # whole words only
        ("free   v-bucks at scam.example", [TERM, PATTERN]),
        ("FREE vbucks", []),  # a pattern is as written: (?i) makes it ignore case
    ],
)
def test_terms_are_whole_words_and_patterns_are_re2(text: str, found: list[str]) -> None:
    assert Blocklist(("scam.example",), (r"free\s+v-?bucks",)).matches(text) == found
    assert Blocklist(patterns=(r"(?i)free\s+v-?bucks",)).matches("FREE vbucks") != []


@pytest.mark.parametrize(
    "disguised",
    ["s.l.u.r", "s l u r", "ｓｌｕｒ", "sl\u200bur", "SLUR", "5lur", "ѕlur", "sluuur"],
)
def test_a_disguised_term_is_blocked_like_the_plain_one(disguised: str) -> None:
    blocklist = Blocklist(("slur",), (r"\bslur\b",))
    assert blocklist.matches(f"what a {disguised} here")[0] == "term 'slur'"
    assert len(blocklist.matches(f"what a {disguised} here")) == 1 + (disguised != "SLUR")


def test_a_match_raises_the_decision_to_the_action() -> None:
    strict = policy(blocklist={"terms": ["brigade now"], "action": "block"})
    calm = decide(strict, "reddit", [text_signal(0.1)], image_expected=False, text="hello")
    assert calm.decision == "allow"
    hit = decide(strict, "reddit", [text_signal(0.1)], image_expected=False, text="Brigade now!")
    assert (hit.decision, hit.confidence_score) == ("block", 1.0)
    assert "blocklist term 'brigade now'" in hit.reasons
    review_only = policy(blocklist={"terms": ["x"], "action": "review"})
    blocked = decide(review_only, "reddit", [text_signal(0.95)], image_expected=False, text="x")
    assert blocked.decision == "block"  # a blocklist never lowers a decision


def test_blocklist_and_rate_limit_survive_user_config() -> None:
    original = policy(
        blocklist={"terms": ["a"], "patterns": ["b+"], "action": "review"},
        rate_limit={"per_second": 2.5, "burst": 5},
    )
    copy = Policy.from_dict(original.to_dict())
    assert copy.blocklist == Blocklist(("a",), ("b+",), "review")
    assert copy.rate_limit == (2.5, 5)
    assert "blocklist" not in policy().to_dict()  # files without one keep their old form


def test_a_pattern_re2_refuses_fails_the_check_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ncategories: {}\nblocklist:\n  terms: [ok]\n  patterns:\n"
        "    - '(a)\\1'\n    - '(?=lookahead)'\n  actoin: block\n"
        "rate_limit: {per_second: 0, burst: 3}\n"
    )
    problems = [str(p) for p in check_policy_file(path)]
    assert any("bad.yaml:5: blocklist.patterns.0: RE2 refuses" in p for p in problems), problems
    assert any("blocklist.patterns.1" in p and "backreferences" in p for p in problems)
    assert any("bad.yaml:8:" in p and "did you mean 'action'" in p for p in problems)
    assert any("bad.yaml:9: rate_limit.per_second" in p for p in problems)
    with pytest.raises(PolicyError):
        Policy.from_dict({**BASE, "blocklist": {"patterns": ["(?<=x)y"]}})


def test_re2_stays_linear_on_a_catastrophic_pattern() -> None:
    # (a+)+$ takes exponential time in a backtracking engine on "aaaa...!"; RE2 does not.
    blocklist = Blocklist(patterns=(r"(a+)+$",))
    started = time.perf_counter()
    assert blocklist.matches("a" * 50_000 + "!") == []
    assert time.perf_counter() - started < 1.0


def test_review_and_marked_decisions_are_queued() -> None:
    plain, marked = policy(), policy(also_queue=["block"])
    for signal, queued_plain, queued_marked in [
        (text_signal(0.1), False, False),
        (text_signal(0.6), True, True),
        (text_signal(0.95), False, True),
    ]:
        assert decide(plain, "reddit", [signal], image_expected=False).queued is queued_plain
        assert decide(marked, "reddit", [signal], image_expected=False).queued is queued_marked
    assert Policy.from_dict(marked.to_dict()).also_queue == ("block",)
