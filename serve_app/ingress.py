"""The Ingress deployment: the only HTTP face of the graph.

It validates and decodes input, fans out to the text and image deployments concurrently, falls
back to the regex scorer when the text path fails or is too slow, asks the Policy deployment
for the decision and shapes one response. It holds no model; every analyzer answers in the
shape of ``deployments.signals``.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at run time
# through Serve's class-based ingress, and string annotations made it take the body as a query.
import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.responses import JSONResponse

from deployments.image.decode import check_image
from deployments.policy.model import Decision, UnknownPolicyError
from deployments.signals import CategoryInfo, InputError, Signal
from serve_app.errors import ApiError, install_error_handlers
from serve_app.ops import Ops, install_ops
from serve_app.ratelimit import Limit
from serve_app.schemas import (
    CategoriesResponse,
    CategoryDescription,
    ErrorResponse,
    HealthResponse,
    ModerationRequest,
    ModerationResponse,
    ReadyResponse,
)
from serve_app.settings import Settings

log = logging.getLogger("modserve.ingress")
T = TypeVar("T")

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed JSON, bad base64 or an image that cannot be decoded",
        401: "API keys are enabled and the request has no valid one",
        413: "Text or image over the size limits",
        415: "Image in a format other than JPEG, PNG, WEBP or GIF",
        422: "A missing or invalid field, or an unknown platform or policy",
        429: "Over the rate limit of this author or API key; see Retry-After",
        503: "The service cannot answer right now",
    }.items()
}

app = FastAPI(
    title="modserve",
    version="0.1.0",
    description="Self-hosted content moderation: category scores and a policy decision.",
)
install_error_handlers(app)
install_ops(app)  # API keys, per-key limits, the review API and page (serve_app/ops.py)


async def _within(awaitable: Awaitable[T], timeout: float) -> T:
    async def wait() -> T:
        return await awaitable

    return await asyncio.wait_for(wait(), timeout)


async def _none() -> None:
    return None


def decode_image(payload: str, settings: Settings) -> bytes:
    """Base64 → bytes, with the cheap checks (size, format, pixel count) done before decode."""
    if len(payload) > settings.max_image_bytes * 4 // 3 + 8:
        raise ApiError(413, "image_too_large", "image is over the size limit", "image_base64")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(
            400, "invalid_base64", "image_base64 is not valid base64", "image_base64"
        ) from None
    checked = check_image(
        data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
    )
    if isinstance(checked, InputError):
        raise as_api_error(checked)
    return data


def as_api_error(error: InputError) -> ApiError:
    return ApiError(error.status, error.code, error.message, error.field)


@serve.deployment(name="Ingress", max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.1})
@serve.ingress(app)
class Ingress:
    def __init__(
        self,
        text: DeploymentHandle[Any],
        image: DeploymentHandle[Any] | None,
        fallback: DeploymentHandle[Any],
        policy: DeploymentHandle[Any],
        settings: dict[str, Any],
    ) -> None:
        self.text = text
        self.image = image
        self.fallback = fallback
        self.policy = policy
        self.settings = Settings(**settings)
        self.ops = Ops.start(self.settings, app, self._policy_limit)

    @app.post(
        "/v1/moderate",
        response_model=ModerationResponse,
        responses=ERRORS,
        summary="Moderate one post (text, image or both)",
    )
    async def moderate(self, request: ModerationRequest) -> ModerationResponse:
        started = time.perf_counter()
        await self.ops.admit(request.author_id, request.policy)  # 429 over the author's limit
        text = request.text if request.text and request.text.strip() else None
        if text is not None and len(text) > self.settings.max_text_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"text is over {self.settings.max_text_chars} characters",
                "text",
            )
        image = decode_image(request.image_base64, self.settings) if request.image_base64 else None
        signals = await asyncio.gather(
            self._text_signal(text) if text is not None else _none(),
            self._image_signal(image) if image is not None else _none(),
        )
        present = [s for s in signals if s is not None]
        decision = await self._decide(present, request, image_expected=image is not None)
        response = ModerationResponse(
            content_id=request.content_id,
            decision=decision.decision,
            is_approved=decision.decision == "allow",
            confidence_score=decision.confidence_score,
            flagged_categories=list(decision.flagged_categories),
            category_scores=dict(decision.category_scores),
            processing_time_ms=round((time.perf_counter() - started) * 1000, 2),
            model_version="+".join(s.model_version for s in present) or "none",
            degraded=decision.degraded,
            details={
                "policy": decision.policy,
                "reasons": list(decision.reasons),
                "analyzers": {
                    s.analyzer: {"model_version": s.model_version, "scores": s.scores, **s.details}
                    for s in present
                },
            },
        )
        self.ops.record(request, response, decision.queued)  # audit log and review queue
        return response

    async def _policy_limit(self, policy: str | None) -> Limit | None:
        limit: tuple[float, int] | None = await self.policy.rate_limit.remote(policy)
        return Limit(*limit) if limit else None

    async def _text_signal(self, text: str) -> Signal:
        """The ensemble's answer, or the regex fallback's when it fails or is too slow."""
        try:
            signal: Signal = await _within(
                self.text.classify.remote(text), self.settings.text_timeout_s
            )
            return signal
        except Exception as exc:  # timeout, dead replica, shed load, model error: all degrade
            log.warning("text ensemble unavailable (%s); regex fallback answers", exc)
        fallback: Signal = await self.fallback.score.remote(text)
        return fallback

    async def _image_signal(self, image: bytes) -> Signal | None:
        """The classifier's signal; None when it cannot answer (the policy then decides)."""
        if self.image is None:
            return None
        try:
            result: Signal | InputError = await _within(
                self.image.classify.remote(image), self.settings.image_timeout_s
            )
        except Exception as exc:
            log.warning("image classifier unavailable (%s)", exc)
            return None
        if isinstance(result, InputError):
            raise as_api_error(result)
        return result

    async def _decide(
        self, signals: list[Signal], request: ModerationRequest, *, image_expected: bool
    ) -> Decision:
        try:
            decision: Decision = await self.policy.decide.remote(
                signals, request.policy, request.platform, image_expected, request.text
            )
        except UnknownPolicyError as exc:
            raise ApiError(422, "unknown_policy", str(exc), "policy") from None
        return decision

    @app.get("/v1/health", response_model=HealthResponse, summary="Liveness")
    async def health(self) -> HealthResponse:
        return HealthResponse(status="ok")

    @app.get("/v1/ready", response_model=ReadyResponse, summary="Models loaded and warmed")
    async def ready(self) -> Any:
        handles = {"text": self.text, "fallback": self.fallback, "policy": self.policy}
        if self.image is not None:
            handles["image"] = self.image
        states = dict(
            zip(
                handles,
                await asyncio.gather(*(self._is_ready(h) for h in handles.values())),
                strict=True,
            )
        )
        body = ReadyResponse(ready=all(states.values()), deployments=states)
        if not body.ready:
            return JSONResponse(body.model_dump(), status_code=503)
        return body

    async def _is_ready(self, handle: DeploymentHandle[Any]) -> bool:
        try:
            return bool(await _within(handle.ready.remote(), 2.0))
        except Exception:
            return False

    @app.get("/v1/categories", response_model=CategoriesResponse, summary="What is scored, how")
    async def categories(self) -> CategoriesResponse:
        sources: dict[str, DeploymentHandle[Any]] = {"text": self.text, "fallback": self.fallback}
        if self.image is not None:
            sources["image"] = self.image
        listed: list[CategoryDescription] = []
        for analyzer, handle in sources.items():
            try:
                infos: list[CategoryInfo] = await _within(handle.categories.remote(), 5.0)
            except Exception:
                continue
            listed.extend(
                CategoryDescription(
                    name=i.name,
                    modality=i.modality,
                    source=i.source,
                    analyzer=analyzer,
                    description=i.description,
                )
                for i in infos
            )
        return CategoriesResponse(categories=listed)
