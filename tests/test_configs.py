"""The Serve configs and the cluster manifest stay valid and in step with each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from serve_app.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENTS = {"Ingress", "TextEnsemble", "ImageClassifier", "RegexFallback", "Policy"}


def load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / path).read_text())
    return data


@pytest.mark.parametrize("path", ["configs/local.yaml", "configs/gpu.yaml"])
def test_serve_config_validates(path: str) -> None:
    config = ServeDeploySchema.model_validate(load(path))
    (app,) = config.applications
    assert app.import_path == "serve_app.graph:build_app"
    assert {d.name for d in app.deployments} == DEPLOYMENTS
    load_settings(app.args, environ={})  # every arg is a valid setting


def test_local_config_fits_two_cores() -> None:
    (app,) = load("configs/local.yaml")["applications"]
    cpus = sum(
        d["ray_actor_options"]["num_cpus"] * d.get("num_replicas", 1) for d in app["deployments"]
    )
    assert cpus <= 2


def test_gpu_config_gives_models_a_gpu_fraction() -> None:
    (app,) = load("configs/gpu.yaml")["applications"]
    gpus = {d["name"]: d["ray_actor_options"].get("num_gpus", 0) for d in app["deployments"]}
    assert 0 < gpus["TextEnsemble"] <= 0.5 and 0 < gpus["ImageClassifier"] <= 0.5
    assert all("autoscaling_config" in d for d in app["deployments"])


def test_rayservice_serves_the_gpu_config() -> None:
    service = load("cluster/rayservice.yaml")
    assert service["kind"] == "RayService"
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert serve_config["applications"] == load("configs/gpu.yaml")["applications"]
