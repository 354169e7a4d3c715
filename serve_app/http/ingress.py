"""The Ingress deployment: the only HTTP face of the graph.

It validates and decodes input, fans out to the text and image deployments concurrently, falls
back to the regex scorer when the text path fails or is too slow, asks the Policy deployment
for the decision and shapes one response. It holds no model; every analyzer answers in the
shape of ``deployments.signals``. The native, batch, OpenAI and Perspective endpoints share that
one path (``_content`` → ``_signals`` → Policy); ``serve_app.http.compat`` holds the foreign
contracts and their mappings.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at run time
# through Serve's class-based ingress, and string annotations made it take the body as a query.
import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
from ray.serve.handle import DeploymentHandle
from starlette.responses import JSONResponse

from deployments.image.decode import check_image
from deployments.policy import Decision, UnknownPolicyError
from deployments.signals import CategoryInfo, InputError, Signal
from serve_app.http.body import BodyGuard
from serve_app.http.compat.errors import (
    GoogleErrorResponse,
    OpenAIErrorResponse,
    google_error,
    openai_error,
)
from serve_app.http.compat.openai import (
    OpenAIModerationRequest,
    OpenAIModerationResponse,
    openai_response,
    openai_result,
    parse_inputs,
)
from serve_app.http.compat.perspective import (
    AnalyzeCommentRequest,
    AnalyzeCommentResponse,
    analyze_response,
    checked_text,
    sentence_spans,
)
from serve_app.http.errors import (
    ApiError,
    error_responses,
    from_validation,
    install_error_handlers,
)
from serve_app.http.payloads import base64_digits
from serve_app.http.schemas import (
    BatchRequest,
    BatchResponse,
    CategoriesResponse,
    CategoryDescription,
    ErrorBody,
    ErrorResponse,
    HealthResponse,
    ModerationRequest,
    ModerationResponse,
    ReadyResponse,
)
from serve_app.ops.guard import Ops, install_ops
from serve_app.ops.ratelimit import Limit
from serve_app.settings import Settings

# Under "ray.serve", so Serve's replica log handlers take our lines too: one log file per
# replica, JSON when the config asks, each line with the request id.
log = logging.getLogger("ray.serve.modserve.ingress")
T = TypeVar("T")
TEXT_CHUNK = 32  # texts per classify_many call: TextEnsemble's batch size

ERRORS = error_responses(
    ErrorResponse,
    {
        400: "Malformed JSON, text that is not valid Unicode, bad base64 or an image that "
        "cannot be decoded",
        401: "No valid API key (when API keys are configured)",
        413: "Body, text or image over the size limits",
        415: "A body that is not JSON, or an image other than JPEG, PNG, WEBP or GIF",
        422: "A missing or invalid field, or an unknown platform or policy",
        429: "Over the per-author or per-API-key rate limit; retry after Retry-After seconds",
        503: "Overloaded or unavailable; retry after Retry-After seconds when given",
    },
)

app = FastAPI(
    title="modserve",
    version="0.1.0",
    description="Self-hosted content moderation: category scores and a policy decision.",
)
install_error_handlers(
    app, {"/v1/moderations": openai_error, "/v1alpha1/comments:analyze": google_error}
)
app.add_middleware(BodyGuard)  # 413 by Content-Length before reading, 415 for non-JSON
install_ops(app)  # shedding, API keys, per-key limits, the review API and page (before the body)
OPENAI_ERRORS = error_responses(
    OpenAIErrorResponse,
    {
        400: "Invalid input (also too large, not JSON, not valid Unicode), a remote image URL, "
        "an image that cannot be used",
        401: "No valid API key (when API keys are configured)",
        429: "Over the per-API-key rate limit; retry after Retry-After seconds",
        503: "Overloaded or unavailable",
    },
)
GOOGLE_ERRORS = error_responses(
    GoogleErrorResponse,
    {
        400: "INVALID_ARGUMENT, e.g. an unknown requested attribute",
        401: "UNAUTHENTICATED: no valid API key (when API keys are configured)",
        429: "RESOURCE_EXHAUSTED: over the per-API-key rate limit",
        503: "UNAVAILABLE",
    },
)
READY_ERRORS = error_responses(ReadyResponse, {503: "Not ready: the body says which deployment"})


async def _within(awaitable: Awaitable[T], timeout: float) -> T:
    async def wait() -> T:
        return await awaitable

    return await asyncio.wait_for(wait(), timeout)


async def _none() -> None:
    return None


async def _listed(awaitable: Awaitable[T]) -> list[T]:
    return [await awaitable]


def fault_reason(exc: BaseException) -> str:
    """Why an analyzer did not answer, as the ``reason`` of the fallback metric and log."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, BackPressureError):
        return "shed"  # its queue is full: max_queued_requests
    if isinstance(exc, RayActorError | DeploymentUnavailableError | ReplicaUnavailableError):
        return "unavailable"
    return "error"


async def _catch(awaitable: Awaitable[T]) -> T | ApiError:
    """The result, or the ApiError it raised: for one item of many."""
    try:
        return await awaitable
    except ApiError as exc:
        return exc


def decode_image(payload: str, settings: Settings) -> bytes:
    """Base64 → bytes, with the cheap checks (size, format, pixel count) done before decode.

    ``payload`` may be MIME-style (line breaks) or a ``data:image/...;base64,`` URL."""
    payload = base64_digits(payload)
    if not payload:
        raise ApiError(400, "invalid_image", "image_base64 holds no image data", "image_base64")
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


def error_body(error: ApiError) -> ErrorResponse:
    """An error as one batch item's result, in the native error shape."""
    return ErrorResponse(error=ErrorBody(code=error.code, message=error.message, field=error.field))


@dataclass(frozen=True)
class Analysis:
    """What the graph made of one piece of content: the signals and the policy's decision."""

    signals: list[Signal]
    decision: Decision


def native_response(
    request: ModerationRequest, analysis: Analysis, started: float
) -> ModerationResponse:
    decision, present = analysis.decision, analysis.signals
    return ModerationResponse(
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
            "language": next((s.language for s in present if s.language), None),
            "analyzers": {
                s.analyzer: {"model_version": s.model_version, "scores": s.scores, **s.details}
                for s in present
            },
        },
    )


@dataclass(frozen=True)
class _Scored:
    """A batch item that passed validation and has its signals, waiting for its decision."""

    request: ModerationRequest
    text: str | None  # as checked: None when blank
    signals: list[Signal]
    image_expected: bool


def _batch_result(
    item: _Scored, decision: Decision | UnknownPolicyError, started: float
) -> ModerationResponse | ErrorResponse:
    if isinstance(decision, UnknownPolicyError):
        return error_body(ApiError(422, "unknown_policy", str(decision), "policy"))
    return native_response(item.request, Analysis(item.signals, decision), started)


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
        self.ops = Ops.start(self.settings, app, self._policy_limits)
        app.state.max_body_bytes = self.settings.max_body_bytes
        self.metrics = self.ops.metrics

    @app.post(
        "/v1/moderate",
        response_model=ModerationResponse,
        responses=ERRORS,
        summary="Moderate one post (text, image or both)",
    )
    async def moderate(self, request: ModerationRequest) -> ModerationResponse:
        return await self._moderate(request, self.settings.text_timeout_s)

    async def _moderate(self, request: ModerationRequest, timeout: float) -> ModerationResponse:
        started = time.perf_counter()
        await self.ops.admit(request.author_id, request.policy)  # 429 over the author's limit
        text, image = self._content(request.text, request.image_base64)
        analysis = await self._analyze(text, image, request.policy, request.platform, timeout)
        response = native_response(request, analysis, started)
        self._answered("moderate", analysis.decision)
        self.ops.record(request, response, analysis.decision.queued)  # audit log, review queue
        return response

    def _answered(self, endpoint: str, decision: Decision) -> None:
        self.metrics.requests.inc(
            tags={
                "endpoint": endpoint,
                "decision": decision.decision,
                "platform": decision.platform,
                "degraded": str(decision.degraded).lower(),
            }
        )

    def _content(
        self, text: str | None, image_base64: str | None, max_chars: int | None = None
    ) -> tuple[str | None, bytes | None]:
        """Validated text (None when blank) and decoded image: the checks every endpoint shares.
        ``max_chars`` (default: the native limit) is the longest text this endpoint takes."""
        text = text if text and text.strip() else None
        limit = max_chars or self.settings.max_text_chars
        if text is not None and len(text) > limit:
            raise ApiError(413, "text_too_long", f"text is over {limit} characters", "text")
        image = decode_image(image_base64, self.settings) if image_base64 is not None else None
        return text, image

    async def _analyze(
        self,
        text: str | None,
        image: bytes | None,
        policy: str | None,
        platform: str,
        timeout: float,
    ) -> Analysis:
        """Signals from text and image, then the policy's decision on them."""
        signals = await self._signals(text, image, timeout)
        decision = await self._decide(
            signals, policy, platform, image_expected=image is not None, text=text
        )
        return Analysis(signals, decision)

    async def _signals(self, text: str | None, image: bytes | None, timeout: float) -> list[Signal]:
        """The text and image analyzers' signals, asked concurrently; absent content is skipped."""
        signals = await asyncio.gather(
            self._text_signal(text, timeout) if text is not None else _none(),
            self._image_signal(image) if image is not None else _none(),
        )
        return [s for s in signals if s is not None]

    async def _many_signals(
        self, contents: list[tuple[str | None, bytes | None]], timeout: float
    ) -> list[list[Signal] | ApiError]:
        """``_signals`` for the many contents of one request, texts sent as whole batches.

        One handle call per text costs more than the model on a 256-item batch, so the texts go
        to ``classify_many`` in chunks of ``TEXT_CHUNK``, in parallel; a chunk that fails or is
        late is answered by the regex fallback, text by text. Per content: its signals, or the
        error its image gets (an image that cannot be decoded fails only its own item).
        """
        texts = [t for t, _ in contents if t is not None]
        text_signals = iter(await self._text_signals(texts, timeout))
        images = await asyncio.gather(
            *(_catch(self._image_signal(i)) if i is not None else _none() for _, i in contents)
        )
        out: list[list[Signal] | ApiError] = []
        for (text, _), image in zip(contents, images, strict=True):
            signal = next(text_signals) if text is not None else None
            if isinstance(image, ApiError):
                out.append(image)
            else:
                out.append([s for s in (signal, image) if s is not None])
        return out

    async def _text_signals(self, texts: list[str], timeout: float) -> list[Signal]:
        """Many texts, sent to ``classify_many`` in chunks of ``TEXT_CHUNK`` at once."""
        chunks = [texts[i : i + TEXT_CHUNK] for i in range(0, len(texts), TEXT_CHUNK)]
        answered = await asyncio.gather(
            *(self._ensemble(self.text.classify_many.remote(c), c, timeout) for c in chunks)
        )
        return [signal for chunk in answered for signal in chunk]

    async def _text_signal(self, text: str, timeout: float) -> Signal:
        """One text, through the ensemble's ``@serve.batch`` queue shared by every request."""
        (signal,) = await self._ensemble(_listed(self.text.classify.remote(text)), [text], timeout)
        return signal

    async def _ensemble(
        self, call: Awaitable[list[Signal]], texts: list[str], timeout: float
    ) -> list[Signal]:
        """The ensemble's answers to ``texts``, or the regex fallback's, text by text, when it
        fails, is too slow or sheds load: every failure degrades, none reaches the client."""
        try:
            return await _within(call, timeout)
        except Exception as exc:
            reason = fault_reason(exc)
            log.warning("text ensemble %s (%s); regex fallback answers", reason, exc)
            self.metrics.fallbacks.inc(len(texts), tags={"analyzer": "text", "reason": reason})
        return list(await asyncio.gather(*(self.fallback.score.remote(t) for t in texts)))

    async def _image_signal(self, image: bytes) -> Signal | None:
        """The classifier's signal; None when it cannot answer (the policy then decides)."""
        if self.image is None:
            return None
        try:
            result: Signal | InputError = await _within(
                self.image.classify.remote(image), self.settings.image_timeout_s
            )
        except Exception as exc:
            reason = fault_reason(exc)
            log.warning("image classifier %s (%s); the policy decides unscored", reason, exc)
            self.metrics.fallbacks.inc(tags={"analyzer": "image", "reason": reason})
            return None
        if isinstance(result, InputError):
            raise as_api_error(result)
        return result

    async def _decide(
        self,
        signals: list[Signal],
        policy: str | None,
        platform: str,
        *,
        image_expected: bool,
        text: str | None,
    ) -> Decision:
        try:
            decision: Decision = await self.policy.decide.remote(
                signals, policy, platform, image_expected, text
            )
        except UnknownPolicyError as exc:
            raise ApiError(422, "unknown_policy", str(exc), "policy") from None
        return decision

    async def _policy_limits(self) -> dict[str | None, Limit | None]:
        """Every loaded policy's per-author limit (None: the settings'), the default's as None."""
        names: list[str | None] = [None, *await self.policy.names.remote()]
        limits: list[tuple[float, int] | None] = await asyncio.gather(
            *(self.policy.rate_limit.remote(name) for name in names)
        )
        return {n: Limit(*limit) if limit else None for n, limit in zip(names, limits, strict=True)}

    @app.get("/v1/health", response_model=HealthResponse, summary="Liveness")
    async def health(self) -> HealthResponse:
        return HealthResponse(status="ok")

    @app.get(
        "/v1/ready",
        response_model=ReadyResponse,
        responses=READY_ERRORS,
        summary="Models loaded and warmed",
    )
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
                    validation_auroc=i.validation_auroc,
                )
                for i in infos
            )
        return CategoriesResponse(categories=listed)

    @app.post(
        "/v1/moderate/batch",
        response_model=BatchResponse,
        responses=ERRORS,
        summary="Moderate up to max_batch_items posts in one call; each item answered on its own",
    )
    async def moderate_batch(self, request: BatchRequest) -> BatchResponse:
        """Every item is in flight at once, so the text items fill TextEnsemble's batches."""
        if len(request.items) > self.settings.max_batch_items:
            raise ApiError(
                413,
                "batch_too_large",
                f"a batch holds at most {self.settings.max_batch_items} items",
                "items",
            )
        started = time.perf_counter()
        checked = await asyncio.gather(*(self._batch_item(item) for item in request.items))
        valid = [c for c in checked if not isinstance(c, ErrorResponse)]
        signals = iter(
            await self._many_signals(
                [(t, i) for _, t, i in valid], self.settings.batch_text_timeout_s
            )
        )
        scored: list[_Scored | ErrorResponse] = []
        for entry in checked:
            if isinstance(entry, ErrorResponse):
                scored.append(entry)
                continue
            found, (request_item, text, image) = next(signals), entry
            scored.append(
                error_body(found)
                if isinstance(found, ApiError)
                else _Scored(request_item, text, found, image_expected=image is not None)
            )
        pending = [s for s in scored if isinstance(s, _Scored)]
        decisions: list[Decision | UnknownPolicyError] = (
            await self.policy.decide_many.remote(
                [
                    (s.signals, s.request.policy, s.request.platform, s.image_expected, s.text)
                    for s in pending
                ]
            )
            if pending
            else []
        )
        decided = iter(decisions)
        results: list[ModerationResponse | ErrorResponse] = []
        for item in scored:
            if not isinstance(item, _Scored):
                results.append(item)
                continue
            decision = next(decided)
            result = _batch_result(item, decision, started)
            if isinstance(decision, Decision) and isinstance(result, ModerationResponse):
                self._answered("moderate/batch", decision)
                self.ops.record(item.request, result, decision.queued)
            results.append(result)
        return BatchResponse(results=results)

    async def _batch_item(
        self, raw: Any
    ) -> tuple[ModerationRequest, str | None, bytes | None] | ErrorResponse:
        """One item validated, admitted and decoded, or its own error: one bad item never fails
        the rest."""
        try:
            request = ModerationRequest.model_validate(raw)
            await self.ops.admit(request.author_id, request.policy)
            text, image = self._content(request.text, request.image_base64)
            return request, text, image
        except ValidationError as exc:
            return error_body(from_validation(RequestValidationError(exc.errors())))
        except ApiError as exc:
            return error_body(exc)
        except Exception as exc:
            log.exception("batch item failed", exc_info=exc)
            return error_body(ApiError(503, "unavailable", "this item could not be answered"))

    @app.post(
        "/v1/moderations",
        response_model=OpenAIModerationResponse,
        responses=OPENAI_ERRORS,
        summary="OpenAI-compatible moderation (text, list of texts, image data URLs)",
    )
    async def openai_moderations(self, request: OpenAIModerationRequest) -> dict[str, Any]:
        inputs = parse_inputs(request, self.settings.max_batch_items)
        try:
            limit = self.settings.max_compat_text_chars
            contents = [self._content(i.text, i.image_base64, limit) for i in inputs]
        except ApiError as exc:
            raise ApiError(exc.status, exc.code, exc.message, "input") from None
        found = await self._many_signals(contents, self._fan_out_timeout(len(contents)))
        for error in (f for f in found if isinstance(f, ApiError)):
            raise ApiError(error.status, error.code, error.message, "input")
        signals = [f for f in found if not isinstance(f, ApiError)]
        decisions = await self.policy.decide_many.remote(
            [
                (s, None, "custom", i is not None, t)
                for s, (t, i) in zip(signals, contents, strict=True)
            ]
        )
        results = []
        for signal, decision in zip(signals, decisions, strict=True):
            if isinstance(decision, UnknownPolicyError):  # only if the default policy went away
                raise ApiError(503, "unavailable", str(decision))
            self._answered("moderations", decision)
            results.append(openai_result(signal, decision.flagged_categories,
                                         decision.decision == "allow"))
        return openai_response(request.model, results)

    @app.post(
        "/v1alpha1/comments:analyze",
        response_model=AnalyzeCommentResponse,
        response_model_exclude_none=True,
        responses=GOOGLE_ERRORS,
        summary="Perspective-compatible comment analysis (summary and per-sentence scores)",
    )
    async def analyze_comment(self, request: AnalyzeCommentRequest) -> dict[str, Any]:
        text = checked_text(request, self.settings.max_compat_text_chars)
        spans = (
            sentence_spans(text, self.settings.max_batch_items) if request.spanAnnotations else []
        )
        texts = [text] + [text[begin:end] for begin, end in spans]
        signals = await self._text_signals(texts, self._fan_out_timeout(len(texts)))
        scored = list(zip(spans, (s.scores for s in signals[1:]), strict=True))
        return analyze_response(request, signals[0].scores, scored, signals[0].language)

    def _fan_out_timeout(self, calls: int) -> float:
        """Calls put in flight together queue behind each other: give them the batch budget."""
        return self.settings.text_timeout_s if calls == 1 else self.settings.batch_text_timeout_s
