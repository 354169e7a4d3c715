"""What the ingress does for the people who operate it: limits, access, the queue and the log.

The Ingress holds one ``Ops`` and makes three calls into it (``install_ops`` at import,
``Ops.start`` in its constructor, ``admit`` and ``record`` per request), so the moderation path
stays readable and this concern stays in one place:

- **access**: moderation endpoints need an API key when ``api_key_sha256`` lists any (keys are
  kept only as SHA-256 digests); the review API needs the admin token. No key: 401. Secrets are
  read from headers only (``Authorization: Bearer``, ``X-API-Key``, ``X-Goog-Api-Key`` for
  Perspective clients): a ``?key=`` in the URL is refused, since URLs end up in logs.
- **rate limits**: a token bucket per API key (here, before the body is read) on every
  moderation endpoint, and per ``author_id`` (``admit``) on the native ones (the OpenAI and
  Perspective requests carry no author); the policy may override the settings' rate and burst.
  Author ids are compared as ``bucket_key`` folds them. 429 with ``Retry-After``.
- **policies**: ``admit`` also refuses a policy name that is not loaded (422), from a table of
  the loaded policies and their limits refreshed from the Policy deployment; so a made-up name
  costs no call to it, no log line and no memory.
- **load shedding**: past ``max_in_flight`` moderation requests at once, the replica answers
  503 with ``Retry-After`` at once, in the one error shape, rather than queueing work it cannot
  finish within the proxy's timeout (Serve's ``max_queued_requests`` is the backstop behind it).
- **metrics**: the replica's ``ServeMetrics``; whole-request latency per endpoint, shed and
  rate-limited counts are recorded here, decisions and fallbacks by the ingress.
- **recording**: every native decision (the OpenAI and Perspective endpoints are stateless and
  record nothing) is appended to the audit log and every ``review`` decision is queued, through
  a bounded in-memory buffer that a background task flushes in batches. When the store is down,
  moderation goes on answering and the buffer waits; when it overflows, the oldest entries are
  dropped and counted. Entries still in the buffer when the process dies are lost: at most
  ``review_buffer`` of them (plus one batch in flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from deployments.metrics import ServeMetrics
from serve_app.http.errors import ApiError, render
from serve_app.ops.ratelimit import FailOpenLimiter, Limit, RateLimiter, bucket_key, make_limiter
from serve_app.ops.reviews import AuditEvent, NewReview, ReviewStore, StoreError, open_store
from serve_app.settings import Settings

log = logging.getLogger("ray.serve.modserve.ops")

# Paths (as they end: a Serve route prefix may stand before them) that moderate content.
MODERATION_PATHS = (
    "/v1/moderate",
    "/v1/moderate/batch",
    "/v1/moderations",
    "/v1alpha1/comments:analyze",
)
FLUSH_BATCH = 500
FLUSH_EVERY_S = 0.1
# Every loaded policy's per-author limit (None: the settings' default); the default policy's
# under the key None.
PolicyLimits = Callable[[], Awaitable[Mapping[str | None, Limit | None]]]
POLICIES_FRESH_S = 10.0  # how long the table of loaded policies is used before it is asked again
POLICIES_MISS_S = 1.0  # an unknown name refreshes it at most this often (a new policy is found)
SECRET_HEADERS = "Authorization: Bearer, X-API-Key or X-Goog-Api-Key"


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_secret(request: Request) -> str | None:
    """``Authorization: Bearer S``, ``X-API-Key: S`` or ``X-Goog-Api-Key: S`` (what Google
    client libraries send for Perspective). Never the URL: a ``?key=`` raises 401."""
    if "key" in request.query_params:
        raise ApiError(
            401,
            "unauthorized",
            f"send the key in a header ({SECRET_HEADERS}), never in the URL",
            "key",
        )
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or request.headers.get("x-goog-api-key") or None


def matches(secret: str | None, digests: tuple[str, ...]) -> bool:
    if secret is None:
        return False
    digest = sha256_hex(secret)
    return any(hmac.compare_digest(digest, known) for known in digests)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


class Recorder:
    """A bounded buffer of (audit event, review item or None) flushed to the store in batches."""

    def __init__(self, store: ReviewStore, capacity: int) -> None:
        self.store = store
        self.buffer: deque[tuple[AuditEvent, NewReview | None]] = deque()
        self.capacity = capacity
        self.dropped = 0  # entries lost to overflow while the store was down, or refused by it
        self.store_up = True
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def add(self, event: AuditEvent, item: NewReview | None) -> None:
        if len(self.buffer) >= self.capacity:
            self.buffer.popleft()
            self.dropped += 1
        self.buffer.append((event, item))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())
        self._wake.set()

    def flush(self) -> int:
        """Write one batch; on a store failure put it back and raise. Returns entries written.

        A batch the store refuses for its content (not for being down) is written entry by
        entry, so only the entries it cannot hold are dropped (counted and logged), never the
        decisions that happened to share their batch.
        """
        batch = [self.buffer.popleft() for _ in range(min(FLUSH_BATCH, len(self.buffer)))]
        try:
            self._write(batch)
        except StoreError:
            self._put_back(batch)
            raise
        except Exception as exc:
            refused = []
            for done, entry in enumerate(batch):
                try:
                    self._write([entry])
                except StoreError:
                    self._put_back(batch[done:])
                    raise
                except Exception:
                    refused.append(entry[0].content_id)
            self.dropped += len(refused)
            if refused:  # one line a batch, however many entries the store refused in it
                log.error("store refused %d entries (%r): %r", len(refused), exc, refused[:3])
        return len(batch)

    def _write(self, batch: list[tuple[AuditEvent, NewReview | None]]) -> None:
        self.store.add([i for _, i in batch if i is not None], [e for e, _ in batch])

    def _put_back(self, batch: list[tuple[AuditEvent, NewReview | None]]) -> None:
        self.buffer.extendleft(reversed(batch))
        while len(self.buffer) > self.capacity:
            self.buffer.popleft()
            self.dropped += 1

    async def run(self) -> None:
        """Flush in batches every FLUSH_EVERY_S while there is anything to flush; back off up to
        5 s while the store is down."""
        pause = 0.1
        while True:
            if not self.buffer:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(FLUSH_EVERY_S)  # gather a batch: one transaction, not one a post
            try:
                await asyncio.to_thread(self.flush)
            except StoreError as exc:
                if self.store_up:
                    log.warning("review store down (%s); buffering decisions", exc)
                self.store_up = False
                await asyncio.sleep(pause)
                pause = min(5.0, pause * 2)
                continue
            if not self.store_up:
                log.warning("review store back; %d buffered entries left", len(self.buffer))
            self.store_up, pause = True, 0.1


class Ops:
    """Access, limits and recording for one ingress replica; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: ReviewStore,
        limiter: RateLimiter,
        policy_limits: PolicyLimits | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.limiter = limiter
        self.recorder = Recorder(store, settings.review_buffer)
        self.default_limit = Limit(settings.rate_limit_per_s, settings.rate_limit_burst)
        self._policies = PolicyTable(policy_limits) if policy_limits is not None else None
        self.metrics = ServeMetrics()
        self.in_flight = 0  # moderation requests this replica is working on

    @classmethod
    def start(cls, settings: Settings, app: FastAPI, policy_limits: PolicyLimits | None) -> Ops:
        """Build from settings and make it the one ``app.state.ops`` the routes use."""
        store = open_store(settings.database_url, settings.data_dir)
        ops = cls(settings, store, make_limiter(settings.redis_url), policy_limits)
        app.state.ops = ops
        return ops

    # --- access and limits ---------------------------------------------------------------

    def check_admin(self, request: Request) -> None:
        """The admin token must match (401 otherwise, also when none is configured)."""
        digest = self.settings.admin_token_sha256
        if digest is None or not matches(presented_secret(request), (digest,)):
            raise ApiError(401, "unauthorized", "a valid admin token is required")

    async def check_api_key(self, request: Request) -> None:
        keys = self.settings.api_key_sha256
        if not keys:
            return
        secret = presented_secret(request)
        if not matches(secret, keys):
            raise ApiError(401, "unauthorized", "a valid API key is required")
        assert secret is not None
        await self._take("key:" + sha256_hex(secret)[:16], self.default_limit, "api_key")

    async def admit(self, author_id: str, policy: str | None) -> None:
        """Raise 422 for a policy that is not loaded, 429 when this author is over the limit
        (the policy's, else the default)."""
        await self._take("author:" + bucket_key(author_id), await self._limit(policy), "author_id")

    async def _take(self, key: str, limit: Limit, field: str) -> None:
        verdict = await self.limiter.take(key, limit)
        if not verdict.allowed:
            self.metrics.rate_limited.inc(tags={"field": field})
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests for this {field}; retry later",
                field,
                headers=retry_after(verdict.retry_after_s),
            )

    async def _limit(self, policy: str | None) -> Limit:
        """The policy's limit; 422 for a name that is not loaded. When the loaded policies are
        not known (Policy unavailable), the default limit, and Policy decides on the name."""
        if self._policies is None:
            return self.default_limit
        limits = await self._policies.get(policy)
        if limits is None:
            return self.default_limit
        if policy not in limits:
            loaded = ", ".join(sorted(n for n in limits if n is not None)) or "none"
            raise ApiError(
                422, "unknown_policy", f"unknown policy {policy!r}; loaded: {loaded}", "policy"
            )
        return limits[policy] or self.default_limit

    # --- recording -----------------------------------------------------------------------

    def record(self, request: Any, response: Any, queued: bool) -> None:
        """Audit one decision; queue it for review when the policy says so (``queued``).

        ``request``/``response`` are the native ModerationRequest/ModerationResponse (read by
        attribute, so other endpoints can pass objects of the same shape).
        """
        policy = str(response.details.get("policy", ""))
        item = None
        if queued:
            item = NewReview(
                content_id=request.content_id,
                author_id=request.author_id,
                platform=request.platform,
                policy=policy,
                model_version=response.model_version,
                decision=response.decision,
                scores=dict(response.category_scores),
                flagged=list(response.flagged_categories),
                reasons=list(response.details.get("reasons", [])),
                text=request.text,
                image_base64=request.image_base64,
            )
        detail = {
            "decision": response.decision,
            "author_id": request.author_id,
            "platform": request.platform,
            "policy": policy,
            "model_version": response.model_version,
            "flagged": list(response.flagged_categories),
            "scores": dict(response.category_scores),
            "degraded": response.degraded,
        }
        event = AuditEvent(
            "ingress", "decision", request.content_id, item.id if item else None, detail
        )
        self.recorder.add(event, item)

    def status(self) -> dict[str, Any]:
        limiter = self.limiter
        return {
            "store": type(self.store).__name__,
            "store_up": self.recorder.store_up,
            "buffered": len(self.recorder.buffer),
            "dropped": self.recorder.dropped,
            "limiter": type(limiter).__name__,
            "limiter_fallbacks": limiter.fallbacks if isinstance(limiter, FailOpenLimiter) else 0,
            "limiter_redis_down": limiter.down if isinstance(limiter, FailOpenLimiter) else False,
        }


class PolicyTable:
    """The loaded policies and their limits, as ``PolicyLimits`` last answered.

    Asked again after ``POLICIES_FRESH_S``, or sooner (at most every ``POLICIES_MISS_S``) when a
    request names a policy the table does not hold, so a policy added by ``serve deploy`` is
    found at once. Keyed by loaded names only: what clients send is never stored.
    """

    def __init__(self, fetch: PolicyLimits) -> None:
        self._fetch = fetch
        self._limits: Mapping[str | None, Limit | None] | None = None
        self._asked_at = -math.inf
        self._lock = asyncio.Lock()

    async def get(self, name: str | None) -> Mapping[str | None, Limit | None] | None:
        """The table, refreshed first when stale (or missing ``name``); None when never known."""
        if self._stale(name):
            async with self._lock:  # one refresh for all the requests that found it stale
                if self._stale(name):
                    await self._refresh()
        return self._limits

    def _stale(self, name: str | None) -> bool:
        age = time.monotonic() - self._asked_at
        missing = self._limits is None or name not in self._limits
        return age > POLICIES_FRESH_S or (missing and age > POLICIES_MISS_S)

    async def _refresh(self) -> None:
        self._asked_at = time.monotonic()
        try:
            self._limits = dict(await self._fetch())
        except Exception as exc:  # Policy unavailable: keep what was known
            log.warning("loaded policies unknown (%s); using the last known", exc)


class ModerationGuard:
    """In front of the moderation paths: shed past ``max_in_flight``, check the API key (and
    its limit), time the whole request. Plain ASGI: Starlette's ``BaseHTTPMiddleware`` costs an
    extra task and stream per request, measurable on the hot path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        ops: Ops | None = getattr(scope["app"].state, "ops", None) if "app" in scope else None
        if scope["type"] != "http" or ops is None or not path.endswith(MODERATION_PATHS):
            await self.app(scope, receive, send)
            return
        if ops.in_flight >= ops.settings.max_in_flight:
            ops.metrics.shed.inc()
            shed = ApiError(503, "overloaded", "at capacity; retry later", headers=retry_after(1))
            await render(scope, shed)(scope, receive, send)
            return
        ops.in_flight += 1
        try:
            with ops.metrics.timed(path.rsplit("/", 1)[-1]):
                await self._checked(ops, scope, receive, send)
        finally:
            ops.in_flight -= 1

    async def _checked(self, ops: Ops, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await ops.check_api_key(Request(scope))
        except ApiError as exc:
            await render(scope, exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_ops(app: FastAPI) -> None:
    """The moderation guard (shedding, API keys, timing) and the review API."""
    from serve_app.ops.review_api import router

    app.add_middleware(ModerationGuard)
    app.include_router(router)
