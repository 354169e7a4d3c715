"""A text deployment that fails on purpose, for the fallback tests (test code, not shipped)."""

from __future__ import annotations

import asyncio

from ray import serve

from deployments.signals import CategoryInfo, Signal


@serve.deployment(name="FailingText")
class FailingText:
    async def classify(self, text: str) -> Signal:
        if text.startswith("slow:"):
            await asyncio.sleep(30)
        raise RuntimeError("injected text-model failure")

    def categories(self) -> list[CategoryInfo]:
        return []

    def ready(self) -> bool:
        return True
