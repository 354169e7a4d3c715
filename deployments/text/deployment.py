"""The TextEnsemble Serve deployment: builds the model once, batches requests, calls it."""

from __future__ import annotations

import asyncio

from ray import serve

from deployments.metrics import ServeMetrics
from deployments.signals import CategoryInfo, Signal
from deployments.text.model import TextModel


@serve.deployment(name="TextEnsemble", max_ongoing_requests=64, ray_actor_options={"num_cpus": 0.8})
class TextEnsemble:
    def __init__(self, device: str = "auto") -> None:
        self._model = TextModel(device=device)
        self._model.predict(["warm-up"])
        self._metrics = ServeMetrics()
        self._metrics.refresh_memory()

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def classify(self, texts: list[str]) -> list[Signal]:
        return self._predict("classify", texts)

    async def classify_many(self, texts: list[str]) -> list[Signal]:
        """A list from one request (a batch, an OpenAI list, Perspective spans): already a
        batch, so it skips the per-call queue; run off the event loop like the batches."""
        return await asyncio.to_thread(self._predict, "classify_many", texts)

    def _predict(self, method: str, texts: list[str]) -> list[Signal]:
        with self._metrics.timed(method):
            signals = self._model.predict(texts)
        self._metrics.model_batch(method, len(texts))
        return signals

    def categories(self) -> list[CategoryInfo]:
        return self._model.categories()

    def check_health(self) -> None:
        """Serve calls this every health_check_period_s: keep the memory gauge current even
        while no request comes (a gauge set only in __init__ was never exported)."""
        self._metrics.refresh_memory()

    def ready(self) -> bool:
        """Loaded and warmed: __init__ finishes both before the replica takes requests."""
        return True
