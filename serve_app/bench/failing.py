"""Text and image deployments that fail on purpose, for the fault tests and benchmarks.

The text stand-in's behaviour is chosen by the text itself, so it holds no state a restarted
replica would lose: ``ok: …`` is answered (by the regex scorer, standing in for a model, and
not marked degraded), ``slow: …`` waits past every timeout, anything else raises.
"""

from __future__ import annotations

import asyncio

from ray import serve

from deployments.fallback.lexicon import RegexScorer
from deployments.signals import CategoryInfo, Signal


# Many at once, so slow calls never hold up the "ok:" ones; fast health checks, so a killed
# replica is replaced in seconds.
@serve.deployment(
    name="FailingText", max_ongoing_requests=100, health_check_period_s=1, health_check_timeout_s=5
)
class FailingText:
    def __init__(self) -> None:
        self._scorer = RegexScorer()

    async def classify(self, text: str) -> Signal:
        if text.startswith("ok:"):
            answer = self._scorer.score([text])[0]
            return Signal("text", "text", "stand-in", answer.scores)
        if text.startswith("slow:"):
            await asyncio.sleep(30)
        raise RuntimeError("injected text-model failure")

    async def classify_many(self, texts: list[str]) -> list[Signal]:
        return [await self.classify(t) for t in texts]

    def categories(self) -> list[CategoryInfo]:
        return []

    def ready(self) -> bool:
        return True


@serve.deployment(name="FailingImage")
class FailingImage:
    async def classify(self, image: bytes) -> Signal:
        raise RuntimeError("injected image-model failure")

    def categories(self) -> list[CategoryInfo]:
        return []

    def ready(self) -> bool:
        return True
