"""The ImageClassifier Serve deployment: batching around ImageModel, nothing else.

All behaviour lives in ``ImageModel`` so the bulk job and the tests use it without Ray.
"""

from __future__ import annotations

import asyncio

from ray import serve

from deployments.image.model import ImageModel
from deployments.metrics import ServeMetrics
from deployments.signals import CategoryInfo, InputError, Signal


@serve.deployment(
    name="ImageClassifier", max_ongoing_requests=32, ray_actor_options={"num_cpus": 0.6}
)
class ImageClassifier:
    def __init__(self, max_bytes: int, max_pixels: int, device: str = "auto") -> None:
        self._model = ImageModel(device=device, max_bytes=max_bytes, max_pixels=max_pixels)
        self._model.warm_up()
        self._metrics = ServeMetrics()
        self._metrics.refresh_memory()

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def classify(self, images: list[bytes]) -> list[Signal | InputError]:
        # Off the event loop, so the next batch gathers while this one runs.
        return await asyncio.to_thread(self._predict, images)

    def _predict(self, images: list[bytes]) -> list[Signal | InputError]:
        with self._metrics.timed("classify"):
            results = self._model.predict(images)
        self._metrics.model_batch("classify", len(images))
        return results

    def categories(self) -> list[CategoryInfo]:
        return self._model.categories()

    def check_health(self) -> None:
        """Serve calls this every health_check_period_s: keep the memory gauge current even
        while no request comes (a gauge set only in __init__ was never exported)."""
        self._metrics.refresh_memory()

    def ready(self) -> bool:
        """Loaded and warmed; __init__ finishes both before the replica takes requests."""
        return True
