"""The Policy deployment: updates and the batch call (plain class, Ray is not started)."""

from __future__ import annotations

import pytest

from deployments.policy import PolicyError, UnknownPolicyError, policies_user_config
from deployments.policy.deployment import Policy as Deployed
from deployments.policy.loading import BUILTIN_POLICY_DIR
from deployments.signals import Signal

POLICY_DIR = BUILTIN_POLICY_DIR


def text(**scores: float) -> Signal:
    return Signal("text", "text", "test", scores)


def test_decide_many_answers_each_item_like_decide() -> None:
    replica = Deployed.func_or_class()  # type: ignore[attr-defined]
    replica.reconfigure(policies_user_config(POLICY_DIR))
    requests = [
        ([text(toxicity=0.99)], None, "twitter", False, None),
        ([text(toxicity=0.1)], "nope", "twitter", False, None),
        ([text(toxicity=0.65)], "strict", "reddit", False, None),
        ([], None, "custom", True, None),
    ]
    results = replica.decide_many(requests)
    assert isinstance(results[1], UnknownPolicyError)
    for request, result in zip(requests, results, strict=True):
        if not isinstance(result, UnknownPolicyError):
            assert result == replica.decide(*request)
    assert [getattr(r, "decision", None) for r in results] == ["block", None, "block", "review"]


def test_deployment_keeps_old_policies_on_bad_update() -> None:
    replica = Deployed.func_or_class()  # type: ignore[attr-defined]
    with pytest.raises(PolicyError):
        replica.reconfigure({"policies": {}})  # a bad first set refuses to start
    replica.reconfigure(policies_user_config(POLICY_DIR))
    replica.reconfigure({"policies": {"default": {"name": "default"}}, "default": "default"})
    assert replica.names() == ["default", "strict"]
    assert replica.decide([text(toxicity=0.99)], None, "twitter", False).decision == "block"
    assert replica.decide([text(toxicity=0.65)], "strict", "twitter", False).decision == "block"
    with pytest.raises(UnknownPolicyError, match="unknown policy 'nope'"):
        replica.decide([], "nope", "twitter", False)
