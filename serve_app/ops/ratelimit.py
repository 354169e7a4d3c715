"""Token buckets that keep one abusive author or API key from drowning the service.

One small interface, ``RateLimiter.take(key, limit)``, two implementations: ``LocalLimiter``
(in-process, the embedded default: each ingress replica counts on its own) and ``RedisLimiter``
(one atomic Lua script per request, so every replica shares each bucket and the server's clock).
``FailOpenLimiter`` puts the local one behind Redis: when Redis errors or is slow, requests are
counted locally instead, the failure is logged (once per outage) and counted in
``fallbacks``, and Redis is retried after a pause. A client never sees an error for it.

Keys a client chooses (author ids) go through ``bucket_key`` first: ids that read the same to
a person (``x``, ``X``, `` x``, ``x`` + a zero-width space, a full-width ``ｘ``) share a bucket,
so a flood cannot dodge its limit by respelling the id.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("ray.serve.modserve.ratelimit")


@dataclass(frozen=True)
class Limit:
    """``per_s`` tokens refill each second up to ``burst``; each request takes one."""

    per_s: float
    burst: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    async def take(self, key: str, limit: Limit) -> Verdict: ...


def bucket_key(client_id: str) -> str:
    """``client_id`` folded for comparison, as a fixed-size digest.

    NFKC (compatibility forms: full-width, ligatures), format characters (category Cf:
    zero-width spaces and joiners, bidi marks) and whitespace removed, case folded, NFKC again
    (folding can denormalise). Hashed, because NFKC can expand a character eighteen-fold and
    the key must stay small in memory and in Redis.
    """
    text = unicodedata.normalize("NFKC", client_id)
    text = "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
    text = unicodedata.normalize("NFKC", text.casefold())
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def refill(tokens: float, elapsed: float, limit: Limit) -> tuple[float, Verdict]:
    """The bucket after ``elapsed`` seconds and one request: (tokens left, verdict)."""
    tokens = min(float(limit.burst), tokens + max(0.0, elapsed) * limit.per_s)
    if tokens >= 1.0:
        return tokens - 1.0, Verdict(True)
    return tokens, Verdict(False, (1.0 - tokens) / limit.per_s)


class LocalLimiter:
    """Buckets in this process; the least recently used are forgotten past ``max_keys``.

    Forgetting a bucket refills it, which only ever errs toward letting a request through.
    """

    def __init__(self, max_keys: int = 100_000, clock: Any = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str, limit: Limit) -> Verdict:
        return self.take_now(key, limit)

    def take_now(self, key: str, limit: Limit) -> Verdict:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(limit.burst), now))
        tokens, verdict = refill(tokens, now - last, limit)
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return verdict


# The same rule as ``refill``, run atomically inside Redis with Redis's own clock, so replicas
# on different hosts agree. Floats go back as strings (Lua numbers become integers in replies).
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every replica; raises on any Redis error or timeout."""

    def __init__(self, url: str, prefix: str = "modserve:rl:", timeout_s: float = 0.25) -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self.script = self.client.register_script(TOKEN_BUCKET_LUA)

    async def take(self, key: str, limit: Limit) -> Verdict:
        allowed, wait = await self.script(keys=[self.prefix + key], args=[limit.per_s, limit.burst])
        return Verdict(bool(int(allowed)), float(wait))

    async def close(self) -> None:
        await self.client.aclose()


class FailOpenLimiter:
    """Redis first; on a Redis failure, the local buckets, then Redis again ``retry_s`` later.

    While Redis is down each replica counts on its own, so N replicas let through up to N
    times the limit: the price of never refusing a client for the limiter's own fault.
    """

    def __init__(self, primary: RateLimiter, fallback: LocalLimiter, retry_s: float = 1.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self.retry_s = retry_s
        self.fallbacks = 0  # requests counted in-process because Redis failed (a metric)
        self.down = False
        self._retry_at = 0.0

    async def take(self, key: str, limit: Limit) -> Verdict:
        if time.monotonic() >= self._retry_at:
            try:
                verdict = await asyncio.wait_for(self.primary.take(key, limit), 1.0)
            except Exception as exc:  # refused, timed out, script error: all fail open
                self._failed(exc)
            else:
                if self.down:
                    log.warning(
                        "rate limiter: Redis is back (%d counted in-process)", self.fallbacks
                    )
                    self.down = False
                return verdict
        self.fallbacks += 1
        return self.fallback.take_now(key, limit)

    def _failed(self, exc: Exception) -> None:
        if not self.down:
            log.warning("rate limiter: Redis failed (%r); counting in-process", exc)
            self.down = True
        self._retry_at = time.monotonic() + self.retry_s


def make_limiter(redis_url: str | None) -> RateLimiter:
    """Redis (failing open to in-process) when a URL is configured, else in-process."""
    if redis_url:
        return FailOpenLimiter(RedisLimiter(redis_url), LocalLimiter())
    return LocalLimiter()
