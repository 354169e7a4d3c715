"""Operational figures (not a test): a shared Redis limit across two ingress replicas, and a
load run while Redis and PostgreSQL are stopped and restarted.

    flock /tmp/modserve-ray.lock env PYTHONPATH=$PWD .venv/bin/python -m serve_app.bench.ops

It serves a light graph (two Ingress replicas; the text deployment fails on purpose so the
regex fallback answers, no model to load) with the real Ingress, Policy and stores. The fault
run uses a private Redis and a private PostgreSQL on spare ports, started here, so the shared
services on 6379/5432 are never touched. Prints one JSON report.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from deployments.policy.loading import BUILTIN_POLICY_DIR

REPO = Path.cwd()  # run from the checkout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
PHRASE = "forbidden phrase"
POLICY = f"""\
name: bench
categories:
  toxicity: {{review: 0.5, block: 0.85}}
blocklist: {{terms: ["{PHRASE}"], action: review}}
"""
PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"))
REDIS_PORT, PG_PORT = 6390, 5440


def serve_light(settings_args: dict[str, Any], port: int) -> None:
    from ray import serve

    from deployments.fallback.deployment import RegexFallback
    from deployments.policy.deployment import Policy
    from serve_app.bench.failing import FailingText
    from serve_app.graph import deployment, policy_user_config
    from serve_app.http.ingress import Ingress
    from serve_app.settings import load_settings

    settings = load_settings(settings_args)
    small: dict[str, Any] = {"ray_actor_options": {"num_cpus": 0.05}}
    app = deployment(Ingress).options(num_replicas=2, **small).bind(
        text=deployment(FailingText).options(**small).bind(),
        image=None,
        fallback=deployment(RegexFallback).options(**small).bind(),
        policy=deployment(Policy).options(user_config=policy_user_config(settings), **small).bind(),
        settings=settings.model_dump(mode="json"),
    )
    serve.run(app, name="bench", route_prefix="/")


async def flood(
    url: str, seconds: float, author: str, concurrency: int = 8
) -> tuple[Counter[int], float]:
    """One author as fast as ``concurrency`` clients can go: status counts, and the seconds
    from the first answer to the last (the window the bucket refilled over)."""
    codes: Counter[int] = Counter()
    answered: list[float] = []
    async with httpx.AsyncClient(timeout=30) as http:  # warm both replicas' connections first
        for i in range(4):
            body = {"content_id": "w", "author_id": f"warm{i}", "platform": "custom", "text": "hi"}
            await http.post(f"{url}/v1/moderate", json=body)
    stop = time.monotonic() + seconds

    async def client(n: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            i = 0
            while time.monotonic() < stop:
                body = {
                    "content_id": f"{n}-{i}",
                    "author_id": author,
                    "platform": "custom",
                    "text": "hello there",
                }
                codes[(await http.post(f"{url}/v1/moderate", json=body)).status_code] += 1
                answered.append(time.monotonic())
                i += 1

    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return codes, max(answered) - min(answered)


def shared_limit(url: str) -> dict[str, Any]:
    """Allowed against burst + rate x window (defaults: 20 + 10/s)."""
    codes, window = asyncio.run(flood(url, 10.0, f"bench-{uuid.uuid4().hex[:8]}"))
    return {
        "answers": dict(codes),
        "allowed": codes[200],
        "window_s": round(window, 2),
        "expected": round(20 + 10 * window),
    }


# --- the fault run ----------------------------------------------------------------------------


def sh(command: str) -> None:
    subprocess.run(command, shell=True, check=True, capture_output=True)


def start_redis() -> None:
    sh(
        f"redis-server --daemonize yes --bind 127.0.0.1 --port {REDIS_PORT} --save '' "
        f"--appendonly no --logfile /tmp/ops-bench-redis.log"
    )


def stop_redis() -> None:
    sh(f"redis-cli -p {REDIS_PORT} shutdown nosave || true")


def pg_ctl(data: Path, action: str) -> None:
    options = f"-o '-p {PG_PORT} -k {data.parent} -c listen_addresses=127.0.0.1'"
    sh(
        f'su postgres -c "{PG_BIN}/pg_ctl -D {data} -w -m fast -l {data.parent}/log {options} '
        f'{action}"'
    )


def init_pg() -> Path:
    root = Path(tempfile.mkdtemp(prefix="ops-bench-pg-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    shutil.chown(root, "postgres")
    data = root / "data"
    sh(f"su postgres -c '{PG_BIN}/initdb -D {data} -A trust -U postgres'")
    pg_ctl(data, "start")
    return data


async def fault_load(
    url: str, seconds: float, schedule: list[tuple[float, str]], actions: dict[str, Any]
) -> dict[str, Any]:
    """Distinct authors (no 429), every text a review decision; faults fire on schedule."""
    codes: Counter[str] = Counter()
    reviews: list[str] = []
    probes: list[tuple[float, int]] = []
    started = time.monotonic()

    async def client(n: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            i = 0
            while time.monotonic() - started < seconds:
                cid = f"fault-{n}-{i}"
                body = {
                    "content_id": cid,
                    "author_id": f"a{n}-{i}",
                    "platform": "custom",
                    "text": f"a {PHRASE} {i}",
                    "policy": "bench",
                }
                try:
                    r = await http.post(f"{url}/v1/moderate", json=body)
                    codes[str(r.status_code)] += 1
                    if r.status_code == 200 and r.json()["decision"] == "review":
                        reviews.append(cid)
                except httpx.HTTPError as exc:
                    codes[type(exc).__name__] += 1
                i += 1

    async def faults() -> None:
        for at, name in schedule:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
            await asyncio.to_thread(actions[name])
            async with httpx.AsyncClient(timeout=30) as http:
                probe = await http.get(f"{url}/v1/reviews", headers=actions["admin"])
                probes.append((round(time.monotonic() - started, 1), probe.status_code))

    await asyncio.gather(faults(), *(client(n) for n in range(6)))
    return {"answers": dict(codes), "review_decisions": reviews, "review_api_after": probes}


def main() -> None:
    os.environ["PYTHONPATH"] = str(REPO)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    from serve_app.ops.guard import sha256_hex
    from serve_app.ops.reviews import PostgresStore

    tmp = Path(tempfile.mkdtemp(prefix="ops-bench-"))
    (tmp / "policies").mkdir()
    shutil.copy(BUILTIN_POLICY_DIR / "default.yaml", tmp / "policies")
    (tmp / "policies/bench.yaml").write_text(POLICY)
    token = uuid.uuid4().hex
    base = {
        "policy_dir": str(tmp / "policies"),
        "data_dir": str(tmp),
        "admin_token_sha256": sha256_hex(token),
        "device": "cpu",
    }
    report: dict[str, Any] = {}
    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}"
    try:
        serve_light({**base, "redis_url": "redis://127.0.0.1:6379/0"}, port)
        report["redis_two_replicas_10s"] = shared_limit(url)
        serve_light(base, port)
        report["in_process_two_replicas_10s"] = shared_limit(url)

        start_redis()
        pg_data = init_pg()
        pg_url = f"postgresql://postgres@127.0.0.1:{PG_PORT}/postgres"
        serve_light(
            {
                **base,
                "redis_url": f"redis://127.0.0.1:{REDIS_PORT}/0",
                "database_url": pg_url,
                "rate_limit_burst": 100_000,
            },
            port,
        )
        actions = {
            "stop redis": stop_redis,
            "start redis": start_redis,
            "stop postgres": lambda: pg_ctl(pg_data, "stop"),
            "start postgres": lambda: pg_ctl(pg_data, "start"),
            "admin": {"Authorization": f"Bearer {token}"},
        }
        schedule: list[tuple[float, str]] = [
            (5, "stop redis"),
            (12, "start redis"),
            (18, "stop postgres"),
            (28, "start postgres"),
        ]
        run = asyncio.run(fault_load(url, 35.0, schedule, actions))
        time.sleep(15)  # let the buffers flush (backoff is at most 5 s)
        store = PostgresStore(pg_url)
        stored = {e.content_id for e in store.audit(0, 1_000_000) if e.action == "decision"}
        queued = {i.content_id for i in store.find(_open(100_000))}
        store.close()
        answered = run.pop("review_decisions")
        run["review_answers"] = len(answered)
        run["queued_items"] = len(queued & set(answered))
        run["audited_decisions"] = len(stored & set(answered))
        run["lost_items"] = len(set(answered) - queued)
        run["schedule_s"] = schedule
        report["faults"] = run
        pg_ctl(pg_data, "stop")
        stop_redis()
    finally:
        print(json.dumps(report, indent=2), flush=True)
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()


def _open(limit: int) -> Any:
    from serve_app.ops.reviews import ReviewFilter

    return ReviewFilter(limit=limit)


if __name__ == "__main__":
    main()
