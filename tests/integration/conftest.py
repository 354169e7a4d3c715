"""One real local Serve instance for the whole integration session, shared by every module.

Starting Ray and the models costs tens of seconds and most of a 2-core machine, so no module
starts its own. Two applications run on it: the graph as ``configs/local.yaml`` builds it (at
``/``), and at ``/broken`` the same Ingress, fallback and policy in front of text and image
deployments that fail on purpose (``failing.py``). Ray exports metrics on ``metrics_url`` and
Serve writes JSON logs, as the shipped configs ask. Settings point the review store at a
temporary folder, enable the admin token, give the shared test authors a generous rate limit,
and add a ``limited`` policy (a copy of the shipped policies plus one with a tiny per-author
limit) to show policy overrides end to end.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.policy.loading import BUILTIN_POLICY_DIR
from serve_app.ops.guard import sha256_hex

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "integration-admin-token"
LIMITED_POLICY = """\
name: limited
categories:
  toxicity: {review: 0.5, block: 0.85}
blocklist:
  terms: [forbidden phrase]
  action: review
rate_limit: {per_second: 0.01, burst: 2}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modserve-data")


@pytest.fixture(scope="session")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def metrics_url(base_url: str, metrics_port: int) -> str:
    return f"http://127.0.0.1:{metrics_port}/metrics"


@pytest.fixture(scope="session")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, metrics_port: int
) -> Iterator[str]:
    os.environ["PYTHONPATH"] = str(REPO)  # replicas import tests/ helpers by module path
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")  # as `make serve` runs it
    os.environ.setdefault("RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE", "1")
    os.environ.setdefault("RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH", "67108864")  # as make
    import ray
    from ray import serve

    from deployments.fallback.deployment import RegexFallback
    from deployments.policy.deployment import Policy
    from serve_app.bench.failing import FailingImage, FailingText
    from serve_app.graph import build_app, policy_user_config
    from serve_app.http.ingress import Ingress
    from serve_app.settings import load_settings

    policies = tmp_path_factory.mktemp("policies")
    for path in BUILTIN_POLICY_DIR.glob("*.yaml"):
        shutil.copy(path, policies / path.name)
    (policies / "limited.yaml").write_text(LIMITED_POLICY)

    # "local": a new instance of its own, never a cluster named in /tmp/ray (make serve's)
    ray.init(address="local", include_dashboard=False, log_to_driver=False,
             _metrics_export_port=metrics_port)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = {
        "device": "cpu",
        "policy_dir": str(policies),
        "data_dir": str(data_dir),
        "admin_token_sha256": sha256_hex(ADMIN_TOKEN),
        "rate_limit_burst": 1000,
    }
    json_logs = {"encoding": "JSON"}
    serve.run(build_app(args), name="modserve", route_prefix="/", logging_config=json_logs)
    broken_args = {"text_timeout_s": 1.0, "data_dir": str(data_dir / "b"), "max_in_flight": 24}
    settings = load_settings({**args, **broken_args})
    # Small reservations: the bulk-job test sizes its actors from the CPUs left free.
    small = {"ray_actor_options": {"num_cpus": 0.02}}
    broken = Ingress.options(**small).bind(
        text=FailingText.options(**small).bind(),
        image=FailingImage.options(**small).bind(),
        fallback=RegexFallback.options(**small).bind(),
        policy=Policy.options(user_config=policy_user_config(settings), **small).bind(),
        settings=settings.model_dump(mode="json"),
    )
    serve.run(broken, name="broken", route_prefix="/broken", logging_config=json_logs)
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()
