"""Token buckets in-process and in a real Redis (127.0.0.1:6379, a unique key prefix per run)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from serve_app.ops.ratelimit import (
    FailOpenLimiter,
    Limit,
    LocalLimiter,
    RateLimiter,
    RedisLimiter,
    Verdict,
    bucket_key,
    make_limiter,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMIT = Limit(per_s=10, burst=20)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RateLimiter, key: str, n: int, limit: Limit = LIMIT) -> int:
    async def run() -> int:
        return sum([(await limiter.take(key, limit)).allowed for _ in range(n)])

    return asyncio.run(run())


def test_local_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock=clock)
    assert allowed(limiter, "a", 25) == 20
    refused = limiter.take_now("a", LIMIT)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.1)
    clock.now += 0.5
    assert allowed(limiter, "a", 10) == 5
    assert allowed(limiter, "b", 20) == 20  # keys are independent
    clock.now += 60
    assert allowed(limiter, "a", 30) == 20  # refills to the burst, never beyond


def test_local_limiter_forgets_the_oldest_keys() -> None:
    limiter = LocalLimiter(max_keys=2, clock=Clock())
    for key in ("a", "b", "c"):
        allowed(limiter, key, 20)
    assert allowed(limiter, "a", 1) == 1  # "a" was forgotten: a fresh bucket
    assert allowed(limiter, "c", 1) == 0


def test_redis_bucket_is_shared_by_two_replicas() -> None:
    prefix = f"modserve-test:{uuid.uuid4().hex}:"
    limit = Limit(per_s=0.5, burst=6)

    async def run() -> tuple[list[bool], Verdict]:
        # Two clients stand for two ingress replicas; the Redis client is bound to this loop.
        first, second = RedisLimiter(REDIS_URL, prefix), RedisLimiter(REDIS_URL, prefix)
        try:
            seen = []
            for i in range(10):
                limiter = first if i % 2 else second
                seen.append((await limiter.take("author:x", limit)).allowed)
            return seen, await first.take("author:x", limit)
        finally:
            await first.client.delete(prefix + "author:x")
            await first.close()
            await second.close()

    seen, last = asyncio.run(run())
    assert seen == [True] * 6 + [False] * 4
    assert not last.allowed and 1.0 < last.retry_after_s <= 2.0


def test_redis_down_fails_open_to_the_local_buckets(caplog: pytest.LogCaptureFixture) -> None:
    limiter = make_limiter("redis://127.0.0.1:1/0")
    assert isinstance(limiter, FailOpenLimiter)
    assert allowed(limiter, "author:y", 25) == 20  # still limited, now in-process
    assert limiter.down and limiter.fallbacks == 25
    assert sum("counting in-process" in r.message for r in caplog.records) == 1


def test_fail_open_returns_to_redis_when_it_is_back() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.fail = True

        async def take(self, key: str, limit: Limit) -> Verdict:
            if self.fail:
                raise ConnectionError("down")
            return Verdict(False, 9.0)

    flaky = Flaky()
    limiter = FailOpenLimiter(flaky, LocalLimiter(), retry_s=0.0)
    assert allowed(limiter, "k", 1) == 1
    flaky.fail = False
    verdict = asyncio.run(limiter.take("k", LIMIT))
    assert verdict == Verdict(False, 9.0) and not limiter.down


def test_no_redis_url_means_in_process() -> None:
    assert isinstance(make_limiter(None), LocalLimiter)


@pytest.mark.parametrize(
    "spelling", ["x", "X", " x", "x ", "x\u200b", "\u200dx", "\uff58", "x\u00a0", "\u202ex"]
)
def test_ids_that_read_alike_share_a_bucket_key(spelling: str) -> None:
    assert bucket_key(spelling) == bucket_key("x")


def test_bucket_keys_tell_different_ids_apart_and_stay_small() -> None:
    assert bucket_key("x") != bucket_key("y")
    assert bucket_key("Straße") == bucket_key("STRASSE")  # full case folding
    assert len(bucket_key("\ufdfa" * 256)) == 32  # NFKC expands this one 18-fold
    assert bucket_key("\ud800")  # a lone surrogate (refused at the edge) does not raise here
