"""Kill the real TextEnsemble replica under load (a measurement, not a test).

    make serve   # in another terminal (or /v1/ready answering on 127.0.0.1:8000)
    .venv/bin/python -m tests.integration.fault_bench [--rate 20] [--seconds 40] [--kill-at 10]

Sends ``--rate`` posts a second for ``--seconds`` to /v1/moderate on loopback, kills the
TextEnsemble replica (``ray.kill``) at ``--kill-at`` seconds, and prints one JSON line: answers
by status, degraded answers, requests without an answer (must be 0), and how long after the
kill answers stopped being degraded (Serve starts a new replica, which loads the model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx

URL = "http://127.0.0.1:8000/v1/moderate"
TEXT = "you are a worthless stupid idiot and everyone hates you"


def kill_text_replica() -> str:
    import ray

    ray.init(address="auto", logging_level="ERROR")
    (name,) = [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("SERVE_REPLICA::modserve#TextEnsemble#")
    ]
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
    return name


async def post(client: httpx.AsyncClient, i: int, started: float) -> dict[str, Any]:
    sent = time.perf_counter() - started
    body = {"content_id": f"k{i}", "author_id": f"k{i}", "platform": "custom", "text": TEXT}
    try:
        response = await client.post(URL, json=body)
    except httpx.HTTPError as exc:
        return {"sent": sent, "status": None, "error": type(exc).__name__}
    degraded = response.status_code == 200 and response.json()["degraded"]
    return {"sent": sent, "status": response.status_code, "degraded": degraded}


async def run(rate: float, seconds: float, kill_at: float) -> dict[str, Any]:
    started = time.perf_counter()
    jobs: list[asyncio.Task[dict[str, Any]]] = []
    killed_at, killed = None, ""
    async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, i / rate - (time.perf_counter() - started)))
            if killed_at is None and time.perf_counter() - started >= kill_at:
                killed = await asyncio.to_thread(kill_text_replica)
                killed_at = time.perf_counter() - started
            jobs.append(asyncio.create_task(post(client, i, started)))
        answers = await asyncio.gather(*jobs)
    late = [a for a in answers if killed_at is not None and a["sent"] >= killed_at]
    last_degraded = max((a["sent"] for a in late if a.get("degraded")), default=killed_at)
    return {
        "killed": killed,
        "killed_at_s": killed_at,
        "sent": len(answers),
        "statuses": dict(Counter(str(a["status"]) for a in answers)),
        "degraded": sum(bool(a.get("degraded")) for a in answers),
        "no_answer": sum(a["status"] is None for a in answers),
        "degraded_until_s_after_kill": None if killed_at is None else last_degraded - killed_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--kill-at", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.rate, args.seconds, args.kill_at))))


if __name__ == "__main__":
    main()
