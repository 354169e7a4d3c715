"""configs/gpu.yaml's shape on one node that declares a GPU: fractional placement, autoscaling.

The head node is ``make head`` (``make serve``'s head node without the app, in the same Ray
environment) with ``--num-gpus 1`` and 16 logical CPUs (gpu.yaml reserves whole CPUs per
replica); the models run on the CPU. The config is gpu.yaml with what a 2-core box cannot carry
taken out: one replica of each small deployment, autoscaling that reacts in seconds instead of
minutes, and a text target this box's load can cross. gpu.yaml's 32 is a GPU node's figure:
here the cores saturate in front of the replicas while Serve's autoscaler sees 1-3 requests at
the text deployment (measured with ``python -m serve_app.cluster replicas --metrics``), so the
test asks it to scale past 1. ``modserve load`` drives it while the test records the replica
counts once a second.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serve_app.cluster import autoscaler_load, read_token, replica_counts, serve_details
from tests.integration.test_ray_tools import (
    BIN,
    REPO,
    Proc,
    alive,
    clean_env,
    ctrl_c,
    descendants,
)

pytestmark = pytest.mark.integration

DATA = REPO.parent / "shared" / "data"  # the validation texts modserve load sends
TEXT = "TextEnsemble"
MODELS = ("TextEnsemble", "ImageClassifier")
TEXT_TARGET = 1.0  # requests per text replica; see the module docstring
LOAD_S = 45
SCALE_BACK_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small_gpu_config(http_port: int, data_dir: Path) -> dict[str, Any]:
    """configs/gpu.yaml for one 2-core node: same resources per replica, fewer replicas."""
    config: dict[str, Any] = yaml.safe_load((REPO / "configs" / "gpu.yaml").read_text())
    config["proxy_location"] = "HeadOnly"
    config["http_options"].update(host="127.0.0.1", port=http_port)
    (app,) = config["applications"]
    app["args"].update(device="cpu", data_dir=str(data_dir))
    for entry in app["deployments"]:
        entry["autoscaling_config"].update(
            min_replicas=1,
            max_replicas=2 if entry["name"] == TEXT else 1,
            look_back_period_s=5,
            upscale_delay_s=3,
            downscale_delay_s=15,
        )
    (text,) = [d for d in app["deployments"] if d["name"] == TEXT]
    text["autoscaling_config"]["target_ongoing_requests"] = TEXT_TARGET
    return config


@dataclass
class Cluster:
    head: subprocess.Popen[str]
    dashboard: str
    url: str
    metrics: str
    config: Path
    env: dict[str, str]
    token: str | None
    below: set[Proc] = field(default_factory=set)

    def counts(self) -> dict[str, dict[str, int]]:
        return replica_counts(serve_details(self.dashboard, self.token))

    def actors(self) -> list[dict[str, Any]]:
        """Live actors with their resources (the state API that ``ray list actors`` reads)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        params: dict[str, str | int] = {"detail": "true", "limit": 10000}
        got = httpx.get(f"{self.dashboard}/api/v0/actors", params=params, headers=headers)
        got.raise_for_status()
        rows: list[dict[str, Any]] = got.json()["data"]["result"]["result"]
        return [a for a in rows if a["state"] == "ALIVE"]


def wait_for(what: str, check: Any, timeout: float, every: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not DATA.is_dir():
        pytest.skip(f"no labelled data at {DATA} for modserve load")
    tmp = tmp_path_factory.mktemp("autoscale")
    dashboard_port, http_port, metrics_port = free_port(), free_port(), free_port()
    config = tmp / "gpu-small.yaml"
    config.write_text(yaml.safe_dump(small_gpu_config(http_port, tmp / "data")))
    env = clean_env()
    ray_args = f"--dashboard-port={dashboard_port} --metrics-export-port={metrics_port}"
    ray_args += " --num-cpus=16 --num-gpus=1"
    command = ["make", "-o", ".venv/.installed-stamp", "head", f"BIN={BIN}"]
    log = (tmp / "head.log").open("w")
    head = subprocess.Popen(
        [*command, f"RAY_START_ARGS={ray_args}"], cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,  # as a terminal's job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    shell = {**env, "PATH": f"{BIN}{os.pathsep}{env['PATH']}", "RAY_AUTH_MODE": "token"}
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    url, metrics = f"http://127.0.0.1:{http_port}", f"http://127.0.0.1:{metrics_port}/metrics"
    running = Cluster(head, dashboard, url, metrics, config, shell, None)
    try:
        wait_for("the head node's dashboard", lambda: _up(head, dashboard), 120)
        running.token = read_token(shell)
        deploy = f"serve deploy {config} --address {dashboard}"
        done = subprocess.run(
            deploy, shell=True, cwd=REPO, env=shell, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-3000:]
        wait_for("/v1/ready", lambda: ready(running.url), 300)
        running.below = descendants(head.pid)
        yield running
    finally:
        running.below |= descendants(head.pid)
        if ctrl_c(head, 90) is None:  # the helper stops the head node and its workers
            head.terminate()
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                pass
        log.close()
        deadline = time.monotonic() + 30
        while alive(running.below) and time.monotonic() < deadline:
            time.sleep(1)
        left = alive(running.below)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"still running after the head node stopped: {sorted(left)}"


def _up(head: subprocess.Popen[str], dashboard: str) -> bool:
    assert head.poll() is None, f"the head node exited ({head.returncode})"
    try:
        return httpx.get(f"{dashboard}/api/version", timeout=5).status_code in (200, 401)
    except httpx.HTTPError:
        return False


def test_models_hold_the_configured_gpu_fractions(cluster: Cluster) -> None:
    config = yaml.safe_load(cluster.config.read_text())
    wanted = {d["name"]: d["ray_actor_options"] for d in config["applications"][0]["deployments"]}
    replicas = [a for a in cluster.actors() if a["class_name"].startswith("ServeReplica:")]
    held = {a["class_name"].rsplit(":", 1)[1]: a["required_resources"] for a in replicas}
    assert held.keys() == wanted.keys()
    for name, options in wanted.items():
        assert held[name].get("GPU", 0) == options.get("num_gpus", 0), name
        assert held[name]["CPU"] == options["num_cpus"], name
    assert {name for name, r in held.items() if r.get("GPU")} == set(MODELS)
    body = {"content_id": "p1", "text": "you are an idiot", "author_id": "u1", "platform": "reddit"}
    answer = httpx.post(f"{cluster.url}/v1/moderate", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "block" and not answer.json()["degraded"]


def test_text_scales_out_under_load_and_back_in(cluster: Cluster, tmp_path: Path) -> None:
    # seconds, RUNNING text replicas, all text replicas, requests the autoscaler saw at text
    timeline: list[tuple[float, int, int, float | None]] = []

    def record(since: float) -> None:
        states = cluster.counts().get(TEXT, {})
        seen = autoscaler_load(cluster.metrics).get(TEXT)
        timeline.append((round(time.monotonic() - since, 1), states.get("RUNNING", 0),
                         sum(states.values()), seen))  # fmt: skip

    report = tmp_path / "load.json"
    command = [
        str(BIN / "modserve"), "load", "--url", cluster.url, "--config", str(cluster.config),
        "--concurrency", "64", "--probe-seconds", str(LOAD_S), "--rates", "", "--out", str(report),
    ]  # fmt: skip
    began = time.monotonic()
    load = subprocess.Popen(command, cwd=REPO, env=cluster.env, stderr=subprocess.PIPE, text=True)
    try:
        while load.poll() is None:
            record(began)
            time.sleep(1)
        _, err = load.communicate()
    finally:
        if load.poll() is None:
            load.kill()
    loaded = time.monotonic() - began
    assert load.returncode == 0, err[-3000:]
    deadline = time.monotonic() + SCALE_BACK_S
    while time.monotonic() < deadline:
        record(began)
        if timeline[-1][1:3] == (1, 1):
            break
        time.sleep(1)
    changes = [t for i, t in enumerate(timeline) if i == 0 or t[1:3] != timeline[i - 1][1:3]]
    probe = json.loads(report.read_text())["probe"]
    print(f"\nload {loaded:.0f} s, {probe['ok_rps']} req/s")
    print(f"(s, {TEXT} RUNNING, all, requests the autoscaler saw): {changes}")
    print("autoscaler's view each second:", [t[3] for t in timeline])
    peak = max(running for _, running, _, _ in timeline)
    assert peak > 1, f"{TEXT} never rose above its minimum of 1 under load"
    assert timeline[-1][1:3] == (1, 1), f"{TEXT} not back to 1 replica {SCALE_BACK_S} s after load"
