"""Policies: turning analyzer signals into allow / review / block under a platform's rules."""

from deployments.policy.model import (
    Decision,
    Policy,
    PolicyError,
    PolicyProblem,
    Thresholds,
    UnknownPolicyError,
    check_policy_file,
    decide,
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
