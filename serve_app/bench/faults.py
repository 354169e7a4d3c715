"""Kill the real TextEnsemble replica under load (a measurement, not a test).

    make serve   # in another terminal (or /v1/ready answering on 127.0.0.1:8000)
    .venv/bin/python -m serve_app.bench.faults [--rate 20] [--seconds 40] [--kill-at 10]

Sends ``--rate`` posts a second for ``--seconds`` to /v1/moderate on loopback (``modserve
load``'s open loop), kills the TextEnsemble replica (``ray.kill``) at ``--kill-at`` seconds,
and prints one JSON line: answers by status, degraded answers, requests without an answer
(must be 0), and how long after the kill answers stopped being degraded (Serve starts a new
replica, which loads the model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from typing import Any

from serve_app.bench import loadgen

TEXT = "you are a worthless stupid idiot and everyone hates you"


def kill_text_replica() -> str:
    import ray

    ray.init(address="auto", logging_level=logging.ERROR)
    names: list[str] = [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("SERVE_REPLICA::modserve#TextEnsemble#")
    ]
    (name,) = names
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    return name


async def run(rate: float, seconds: float, kill_at: float) -> dict[str, Any]:
    cfg = loadgen.LoadConfig(rates=[loadgen.Rate(rate)], duration=seconds)
    bodies = loadgen.request_bodies([TEXT], uuid.uuid4().hex[:8])

    async def kill() -> tuple[str, float]:
        await asyncio.sleep(kill_at)
        killed_at = time.perf_counter()
        return await asyncio.to_thread(kill_text_replica), killed_at

    async with loadgen.http_client(cfg) as client:
        await loadgen.ensure_ready(client)
        started = time.perf_counter()
        tally, (killed, killed_at) = await asyncio.gather(
            loadgen.open_loop(client, loadgen.MODERATE, bodies, rate, seconds, cfg.max_in_flight),
            kill(),
        )
    answers = tally.outcomes
    last_degraded = max((a.sent_at for a in answers if a.degraded and a.sent_at >= killed_at),
                        default=killed_at)
    return {
        "killed": killed,
        "killed_at_s": round(killed_at - started, 2),
        "sent": len(answers),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "degraded": sum(bool(a.degraded) for a in answers),
        "no_answer": sum(a.status is None for a in answers),
        "degraded_until_s_after_kill": round(last_degraded - killed_at, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--kill-at", type=float, default=10.0)
    args = parser.parse_args()
    if not 0 <= args.kill_at < args.seconds:
        parser.error("--kill-at must fall within --seconds")
    print(json.dumps(asyncio.run(run(args.rate, args.seconds, args.kill_at))))


if __name__ == "__main__":
    main()
