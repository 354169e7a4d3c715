"""One real local Ray Serve instance for the whole integration session, shared by every module.

Only one Ray cluster may run on the machine at a time, so the graph tests and the bulk job test
use the same instance (the bulk job joins it instead of starting its own).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    os.environ["PYTHONPATH"] = str(REPO)  # replicas import the failing deployment from tests/
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    from ray import serve

    from deployments.fallback.deployment import RegexFallback
    from deployments.policy.deployment import Policy
    from serve_app.graph import build_app, policy_user_config
    from serve_app.ingress import Ingress
    from serve_app.settings import load_settings
    from tests.integration.failing import FailingText

    ray.init(include_dashboard=False, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    args = {"device": "cpu"}
    serve.run(build_app(args), name="modserve", route_prefix="/")
    settings = load_settings({**args, "text_timeout_s": 1.0})
    small = {"ray_actor_options": {"num_cpus": 0.05}}
    broken = Ingress.options(**small).bind(
        text=FailingText.options(**small).bind(),
        image=None,
        fallback=RegexFallback.options(**small).bind(),
        policy=Policy.options(user_config=policy_user_config(settings), **small).bind(),
        settings=settings.model_dump(mode="json"),
    )
    serve.run(broken, name="broken", route_prefix="/broken")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()
