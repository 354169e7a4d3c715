"""A bare Ray Serve graph with modserve's three hops and none of its code: the yardstick for
the overhead of our own Ingress, models, validation and stores.

Ingress (FastAPI via ``@serve.ingress``) → a text deployment batched like TextEnsemble
(``@serve.batch``, 32 per batch) that returns a fixed tiny result → a policy deployment that
returns a fixed tiny result. ``modserve load --compare-bare`` deploys it as the application
``bare`` at ``/bare`` beside the running modserve application, drives both with the same
closed-loop probe, and deletes it. Each deployment takes its per-replica options (replicas,
queue limits, ``ray_actor_options``) from the Serve config modserve runs under, so the two
stay in step; when the cluster has fewer CPUs free than those reservations add up to (two
cores, modserve already holding most of them and free to autoscale into the rest), every
``num_cpus`` is scaled down to fit.
Ray counts ``num_cpus`` as a reservation, not a limit, so that changes where the replicas may
be placed, not how fast a replica that does nothing runs.
"""

# No `from __future__ import annotations` here, as in serve_app/ingress.py: FastAPI reads the
# route signature at run time through Serve's class-based ingress.
import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request
from ray import serve
from ray.serve import Application, Deployment
from ray.serve.handle import DeploymentHandle

from serve_app.bench import LoadError

LOCAL_CONFIG = Path("configs") / "local.yaml"
APP_NAME = "bare"
ROUTE_PREFIX = "/bare"
# bare deployment -> the modserve deployment whose options it copies
MIRRORS = {"BareIngress": "Ingress", "BareText": "TextEnsemble", "BarePolicy": "Policy"}
COPIED_OPTIONS = (
    "num_replicas",
    "max_ongoing_requests",
    "max_queued_requests",
    "autoscaling_config",
    "backpressure_config",
    "ray_actor_options",
)
FIXED_SCORES = {"toxicity": 0.01}
FIXED_DECISION = {"decision": "allow", "degraded": False}
CPU_HEADROOM = 0.9  # of the CPUs left, so rounding never leaves a replica unplaceable
MIN_CPU_SCALE = 0.01

app = FastAPI(title="modserve-bare", description="Ray Serve's own cost of three hops")


class BareError(LoadError):
    """The bare graph cannot be planned or deployed; one line for the CLI."""


@serve.deployment(name="BareText")
class BareText:
    # batched as deployments/text/deployment.py batches TextEnsemble.classify
    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def classify(self, texts: list[str]) -> list[dict[str, float]]:
        return [FIXED_SCORES for _ in texts]


@serve.deployment(name="BarePolicy")
class BarePolicy:
    def decide(self, scores: dict[str, float]) -> dict[str, Any]:
        return FIXED_DECISION


@serve.deployment(name="BareIngress")
@serve.ingress(app)
class BareIngress:
    def __init__(self, text: DeploymentHandle[Any], policy: DeploymentHandle[Any]) -> None:
        self.text = text
        self.policy = policy

    @app.post("/v1/moderate")
    async def moderate(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        scores = await self.text.classify.remote(str(body.get("text", "")))
        decision: dict[str, Any] = await self.policy.decide.remote(scores)
        return {"content_id": body.get("content_id"), **decision}


@dataclass(frozen=True)
class BarePlan:
    """Per bare deployment the Serve options it runs with, and how its CPUs were scaled."""

    options: dict[str, dict[str, Any]]
    config: str
    cpu_scale: float = 1.0  # 1.0: the config's reservations as they are


def serve_deployments(config: Path) -> dict[str, dict[str, Any]]:
    """Every deployment entry of a one-application Serve config, by name."""
    try:
        raw = yaml.safe_load(config.read_text())
        (application,) = raw["applications"]
        return {d["name"]: d for d in application["deployments"]}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise BareError(f"{config}: not a one-application Serve config ({exc})") from None


def mirrored_options(found: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The copied options of Ingress, TextEnsemble and Policy, by bare name."""
    missing = sorted(set(MIRRORS.values()) - set(found))
    if missing:
        raise BareError(f"no deployment named {', '.join(missing)} in the Serve config")
    return {
        bare: {k: found[real][k] for k in COPIED_OPTIONS if k in found[real]}
        for bare, real in MIRRORS.items()
    }


def _cpus(options: Mapping[str, Any]) -> float:
    return float(options.get("ray_actor_options", {}).get("num_cpus", 1))


def _replicas(options: Mapping[str, Any], bound: str = "min_replicas") -> int:
    autoscaling = options.get("autoscaling_config")
    if autoscaling:
        return int(autoscaling.get(bound, 1))
    replicas = options.get("num_replicas", 1)
    return replicas if isinstance(replicas, int) else 1


def reserved_cpus(options: Mapping[str, Mapping[str, Any]]) -> float:
    """CPUs reserved when every deployment runs its (minimum) replicas."""
    return sum(_cpus(o) * _replicas(o) for o in options.values())


def upscale_cpus(options: Mapping[str, Mapping[str, Any]]) -> float:
    """CPUs the deployments may still take by autoscaling from their minimum to their maximum."""
    return sum(_cpus(o) * (_replicas(o, "max_replicas") - _replicas(o)) for o in options.values())


def plan_bare(config: Path = LOCAL_CONFIG, free_cpus: float | None = None) -> BarePlan:
    """The config's options; every ``num_cpus`` scaled down when they would not fit in the free
    CPUs less the room modserve itself may still autoscale into (the bare graph must not stop
    the graph it is compared with from scaling up)."""
    found = serve_deployments(config)
    options = mirrored_options(found)
    needed = reserved_cpus(options)
    budget = None if free_cpus is None else free_cpus - upscale_cpus(found)
    if budget is None or needed <= budget:
        return BarePlan(options, str(config))
    scale = max(MIN_CPU_SCALE, math.floor(CPU_HEADROOM * budget / needed * 1000) / 1000)
    if free_cpus is not None and needed * scale > free_cpus:
        raise BareError(f"no CPU free on the cluster for the bare graph ({free_cpus:g} free)")
    scaled = {}
    for name, o in options.items():
        actor = {**o.get("ray_actor_options", {}), "num_cpus": round(_cpus(o) * scale, 4)}
        scaled[name] = {**o, "ray_actor_options": actor}
    return BarePlan(scaled, str(config), cpu_scale=scale)


def _deployment(target: object) -> Deployment:
    assert isinstance(target, Deployment), target
    return target


def build_bare(plan: BarePlan | None = None) -> Application:
    """The bare application; ``.bind()`` needs no running Ray."""
    options = (plan or plan_bare()).options
    return _deployment(BareIngress).options(**options["BareIngress"]).bind(
        text=_deployment(BareText).options(**options["BareText"]).bind(),
        policy=_deployment(BarePolicy).options(**options["BarePolicy"]).bind(),
    )


@contextmanager
def deployed_bare(config: Path = LOCAL_CONFIG) -> Iterator[BarePlan]:
    """The bare app running at ``/bare`` on the cluster already running modserve, then gone."""
    import ray

    try:
        ray.init(address="auto", log_to_driver=False, logging_level=logging.ERROR)
    except ConnectionError as exc:
        raise BareError(f"no running Ray cluster to deploy the bare graph on ({exc})") from None
    try:
        free: dict[str, float] = ray.available_resources()  # type: ignore[no-untyped-call]
        plan = plan_bare(config, float(free.get("CPU", 0.0)))
        serve.run(build_bare(plan), name=APP_NAME, route_prefix=ROUTE_PREFIX, blocking=False)
        try:
            yield plan
        finally:
            serve.delete(APP_NAME)
    finally:
        ray.shutdown()  # this driver only; the cluster and modserve keep running
