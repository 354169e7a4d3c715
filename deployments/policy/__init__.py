"""Policies: the platform's own rules that turn analyzer scores into allow / review / block.

Scores say what a post looks like; a policy says what a community does about it. Keeping that
split is what lets one set of models serve a children's game and an adult forum. A policy is a
small YAML language checked like code: ``schema`` says what a file may contain, ``diagnostics``
reports every problem with its file, line and a hint before the policy reaches a running server,
``loading`` turns checked files into ``Policy`` sets, and ``decision.decide`` is a pure function
of a policy and the signals, so the Serve deployment, the bulk job and the tests decide alike.
"""

from deployments.policy.decision import Decision, decide
from deployments.policy.diagnostics import PolicyError, PolicyProblem, check_policy_file
from deployments.policy.loading import (
    Policy,
    Thresholds,
    UnknownPolicyError,
    load_policies,
    load_policy,
    policies_from_user_config,
    policies_user_config,
)

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Thresholds",
    "UnknownPolicyError",
    "check_policy_file",
    "decide",
    "load_policies",
    "load_policy",
    "policies_from_user_config",
    "policies_user_config",
]
