"""The RegexFallback deployment: a thin Serve wrapper around ``RegexScorer``.

It runs on CPU with no model, so it stays up when the text ensemble fails, times out or sheds
load; the ingress calls it only then, and every answer is marked degraded.
"""

from __future__ import annotations

from ray import serve

from deployments.fallback.lexicon import RegexScorer
from deployments.metrics import ServeMetrics
from deployments.signals import CategoryInfo, Signal


@serve.deployment(
    name="RegexFallback", max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.1}
)
class RegexFallback:
    def __init__(self) -> None:
        self._scorer = RegexScorer()
        self._metrics = ServeMetrics()

    async def score(self, text: str) -> Signal:
        with self._metrics.timed("score"):
            return self._scorer.score([text])[0]

    def categories(self) -> list[CategoryInfo]:
        return self._scorer.categories()

    def ready(self) -> bool:
        """The lexicon is compiled in __init__; a replica that exists can answer."""
        return True
