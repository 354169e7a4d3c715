"""The Policy deployment: holds the live policy set and decides; the rules live in decision.py.

Policies arrive through Ray Serve ``user_config`` so an operator can change them with
``serve deploy`` without restarting a replica. A bad update is refused as a whole and the
replica keeps deciding under the set it had; only a bad first set stops the replica starting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ray import serve

from deployments.metrics import ServeMetrics
from deployments.policy import loading
from deployments.policy.decision import Decision, decide
from deployments.policy.diagnostics import PolicyError
from deployments.policy.loading import UnknownPolicyError, policies_from_user_config
from deployments.signals import Signal

logger = logging.getLogger("ray.serve")


@serve.deployment(name="Policy", max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.1})
class Policy:
    """The Serve deployment; the rules themselves are ``loading.Policy``."""

    def __init__(self) -> None:
        self._policies: dict[str, loading.Policy] = {}
        self._default = "default"
        self._metrics = ServeMetrics()

    def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Swap in ``{"policies": {name: raw_dict}, "default": name}`` if all of it is valid."""
        try:
            policies, default = policies_from_user_config(user_config)
        except PolicyError as exc:
            if not self._policies:
                raise
            logger.error("policy update refused, keeping %s:\n%s", self.names(), exc)
            return
        self._policies, self._default = policies, default
        logger.info("policies loaded: %s (default %r)", self.names(), default)

    def decide(
        self,
        signals: list[Signal],
        policy: str | None,
        platform: str,
        image_expected: bool,
        text: str | None = None,
    ) -> Decision:
        """Raises ``UnknownPolicyError`` when ``policy`` names no loaded policy."""
        with self._metrics.timed("decide"):
            chosen = self._get(policy or self._default)
            return decide(chosen, platform, signals, image_expected=image_expected, text=text)

    def rate_limit(self, policy: str | None) -> tuple[float, int] | None:
        """The policy's per-author (per second, burst), or None for the settings' default."""
        return self._get(policy or self._default).rate_limit

    def decide_many(
        self, requests: list[tuple[list[Signal], str | None, str, bool, str | None]]
    ) -> list[Decision | UnknownPolicyError]:
        """``decide`` for a whole batch in one call: per item its decision or its policy error.

        One handle call per item costs more than the decisions themselves on a 256-item batch.
        """
        results: list[Decision | UnknownPolicyError] = []
        for signals, policy, platform, image_expected, text in requests:
            try:
                results.append(self.decide(signals, policy, platform, image_expected, text))
            except UnknownPolicyError as exc:
                results.append(exc)
        return results

    def ready(self) -> bool:
        """A policy set is loaded (reconfigure runs before the replica takes requests)."""
        return bool(self._policies)

    def names(self) -> list[str]:
        return sorted(self._policies)

    def _get(self, name: str) -> loading.Policy:
        try:
            return self._policies[name]
        except KeyError:
            raise UnknownPolicyError(name, self.names()) from None
