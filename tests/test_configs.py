"""The Serve configs, the cluster manifests and the Grafana dashboard stay valid and in step.

Unit tests: nothing here starts Ray. ``serve build`` runs as a subprocess (it imports and
builds the application without a cluster, ~7 s); the launcher YAML is checked against the JSON
schema bundled in the installed ray and by ray's own ``validate_config``. KubeRay ships no
schema inside ray, so the RayService is checked by hand against the fields and rules of the
KubeRay v1 API (ray-operator/apis/ray/v1 and utils/validation.go).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from pydantic import BaseModel
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.serve.config import AutoscalingConfig, BackpressureConfig
from ray.serve.schema import (
    DeploymentSchema,
    LoggingConfig,
    RayActorOptionsSchema,
    ServeDeploySchema,
)

from serve_app.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
RAY_DIR = Path(ray.__file__).parent
CONFIGS = ["configs/local.yaml", "configs/gpu.yaml"]
IMPORT_PATH = "serve_app.graph:build_app"
DASHBOARD = "configs/grafana/modserve-dashboard.json"
DEPLOYMENTS = {"Ingress", "TextEnsemble", "ImageClassifier", "RegexFallback", "Policy"}
MODELS = {"TextEnsemble", "ImageClassifier"}  # the @serve.batch deployments
AUTOSCALING_KEYS = {
    "min_replicas",
    "max_replicas",
    "target_ongoing_requests",
    "upscale_delay_s",
    "downscale_delay_s",
}
# Nested option blocks of a deployment entry and the model that knows their keys (the deploy
# schema keeps autoscaling_config a plain dict and ignores unknown keys, so a typo passes it).
NESTED: dict[str, type[BaseModel]] = {
    "autoscaling_config": AutoscalingConfig,
    "ray_actor_options": RayActorOptionsSchema,
    "backpressure_config": BackpressureConfig,
    "logging_config": LoggingConfig,
}


def load(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / path).read_text())
    return data


def application(path: str) -> dict[str, Any]:
    (app,) = load(path)["applications"]
    return dict(app)


def deployments(path: str) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in application(path)["deployments"]}


def demand(app: dict[str, Any], bound: str) -> tuple[float, float]:
    """CPUs and GPUs the deployments reserve with every one at its ``bound`` replica count."""
    cpus = gpus = 0.0
    for d in app["deployments"]:
        replicas = d["autoscaling_config"][bound]
        cpus += d["ray_actor_options"].get("num_cpus", 1) * replicas  # Serve's default: 1
        gpus += d["ray_actor_options"].get("num_gpus", 0) * replicas
    return cpus, gpus


# --- the Serve configs ------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS)
def test_serve_config_validates(path: str) -> None:
    config = ServeDeploySchema.model_validate(load(path))
    (app,) = config.applications
    assert app.import_path == IMPORT_PATH
    assert {d.name for d in app.deployments} == DEPLOYMENTS
    load_settings(app.args, environ={})  # every arg is a valid setting


@pytest.mark.parametrize("path", CONFIGS)
def test_every_option_is_one_serve_knows(path: str) -> None:
    """Every key of a deployment entry is a field of the schema ``serve build`` emits."""
    for name, entry in deployments(path).items():
        assert entry.keys() <= DeploymentSchema.model_fields.keys(), name
        for key, model in NESTED.items():
            if key in entry:
                assert entry[key].keys() <= model.model_fields.keys(), (name, key)
                model.model_validate(entry[key])


@pytest.mark.parametrize("path", CONFIGS)
def test_every_deployment_autoscales_and_sheds(path: str) -> None:
    for name, entry in deployments(path).items():
        # num_replicas and autoscaling_config exclude each other (unless num_replicas: auto)
        assert "num_replicas" not in entry, name
        auto = entry["autoscaling_config"]
        assert AUTOSCALING_KEYS <= auto.keys(), name
        assert 1 <= auto["min_replicas"] <= auto["max_replicas"], name
        assert 0 < auto["target_ongoing_requests"] <= entry["max_ongoing_requests"], name
        assert entry["max_queued_requests"] > 0, name  # bounded: past it, shed at once


@pytest.mark.parametrize("path", CONFIGS)
def test_logs_are_json(path: str) -> None:
    config = load(path)
    for where in (config, application(path)):
        assert LoggingConfig.model_validate(where["logging_config"]).encoding == "JSON"


@pytest.mark.parametrize("path", CONFIGS)
def test_ingress_sheds_itself_before_the_proxy_queues(path: str) -> None:
    settings = load_settings(application(path)["args"], environ={})
    ingress = deployments(path)["Ingress"]
    # the excess over max_in_flight reaches the ingress, which answers 503 + Retry-After itself
    assert ingress["max_ongoing_requests"] > settings.max_in_flight
    # and autoscaling adds a replica before one starts shedding
    assert ingress["autoscaling_config"]["target_ongoing_requests"] < settings.max_in_flight


def test_local_config_fits_two_cores() -> None:
    """Ray counts num_cpus as a reservation: at max_replicas every replica must still fit."""
    cpus, gpus = demand(application("configs/local.yaml"), "max_replicas")
    assert cpus <= 2 + 1e-9 and gpus == 0


def test_gpu_config_gives_models_a_gpu_fraction() -> None:
    gpus = {
        name: d["ray_actor_options"].get("num_gpus", 0)
        for name, d in deployments("configs/gpu.yaml").items()
    }
    assert 0 < gpus["TextEnsemble"] <= 0.5 and 0 < gpus["ImageClassifier"] <= 0.5
    assert all(gpus[name] == 0 for name in DEPLOYMENTS - MODELS)


# --- `serve build` ----------------------------------------------------------------------------

SHIM = '''\
"""What `serve run`/`serve deploy` do with a config's import path, for `serve build`, which
takes only a built Application: call the builder it names with the config's args. Also note
each batched deployment's max_batch_size, so the test need not import the models itself."""
import json
from pathlib import Path

import yaml
from ray._common.utils import import_attr
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary

from deployments.image.deployment import ImageClassifier
from deployments.text.deployment import TextEnsemble

config = yaml.safe_load(Path({config!r}).read_text())["applications"][0]
builder = import_attr(config["import_path"])
app = call_user_app_builder_with_args_if_necessary(builder, config["args"])
models = (TextEnsemble, ImageClassifier)
sizes = {{d.name: d.func_or_class.classify._get_max_batch_size() for d in models}}
Path({sizes!r}).write_text(json.dumps(sizes))
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``serve build`` output for the application local.yaml names, and the batch sizes."""
    tmp = tmp_path_factory.mktemp("serve-build")
    sizes = tmp / "batch_sizes.json"
    config = str(REPO / "configs" / "local.yaml")
    (tmp / "modserve_built.py").write_text(SHIM.format(config=config, sizes=str(sizes)))
    out = tmp / "built.yaml"
    serve = Path(sys.executable).with_name("serve")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
    command = [str(serve), "build", "modserve_built:app", "--app-dir", str(tmp), "-o", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"config": yaml.safe_load(out.read_text()), "batch": json.loads(sizes.read_text())}


def test_serve_build_makes_the_deployments_the_configs_name(built: dict[str, Any]) -> None:
    config = ServeDeploySchema.model_validate(built["config"])  # serve build validates it too
    (app,) = config.applications
    assert {d.name for d in app.deployments} == DEPLOYMENTS
    for entry in built["config"]["applications"][0]["deployments"]:
        assert entry.keys() <= DeploymentSchema.model_fields.keys()
    for path in CONFIGS:
        assert set(deployments(path)) == {d.name for d in app.deployments}, path


@pytest.mark.parametrize("path", CONFIGS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_batches_can_fill(built: dict[str, Any], path: str, name: str) -> None:
    """Autoscaling targets at least one full batch per replica (a lower target would add
    replicas before batches fill), and a replica holds two batches: one running, one filling."""
    batch = built["batch"][name]
    entry = deployments(path)[name]
    assert entry["autoscaling_config"]["target_ongoing_requests"] >= batch
    assert entry["max_ongoing_requests"] >= 2 * batch


# --- the Ray cluster launcher -----------------------------------------------------------------


def test_launcher_config_matches_ray_schema() -> None:
    config = load("cluster/ray-cluster.yaml")
    schema = json.loads((RAY_DIR / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)  # the file as written: no unknown or misspelt keys
    validate_config(prepare_config(config))  # as `ray up` sees it, defaults filled in


@pytest.mark.parametrize("bound", ["min_replicas", "max_replicas"])
def test_launcher_cluster_fits_the_gpu_config(bound: str) -> None:
    config = load("cluster/ray-cluster.yaml")
    nodes = config["available_node_types"]
    count = "min_workers" if bound == "min_replicas" else "max_workers"
    cpus = gpus = 0.0
    for name, node in nodes.items():
        n = 1 if name == config["head_node_type"] else node[count]
        cpus += node["resources"].get("CPU", 0) * n
        gpus += node["resources"].get("GPU", 0) * n
    need_cpus, need_gpus = demand(application("configs/gpu.yaml"), bound)
    assert need_cpus <= cpus and need_gpus <= gpus
    assert sum(n.get("max_workers", 0) for n in nodes.values()) <= config["max_workers"]


def test_launcher_cluster_requires_the_token() -> None:
    # The head's dashboard listens on every interface, and its Jobs API runs what it is sent.
    config = load("cluster/ray-cluster.yaml")
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert len(ray_starts) == 2 and all("RAY_AUTH_MODE=token " in c for c in ray_starts)
    assert config["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
    assert config["auth"]["ssh_user"] == "ubuntu"  # whose home the token is copied to


# --- the KubeRay RayService -------------------------------------------------------------------


def test_rayservice_cluster_requires_the_token() -> None:
    cluster = load("cluster/rayservice.yaml")["spec"]["rayClusterConfig"]
    assert cluster["authOptions"] == {"mode": "token"}
    major, minor, *_ = (int(p) for p in cluster["rayVersion"].split("."))
    assert (major, minor) >= (2, 52)  # the first Ray with token authentication

# Fields of the KubeRay v1 API (deprecated ones left out on purpose: KubeRay ignores them).
RAYSERVICE_SPEC = {
    "serveConfigV2",
    "rayClusterConfig",
    "upgradeStrategy",
    "serveService",
    "excludeHeadPodFromServeSvc",
    "rayClusterDeletionDelaySeconds",
}
RAYCLUSTER_SPEC = {
    "headGroupSpec",
    "workerGroupSpecs",
    "rayVersion",
    "enableInTreeAutoscaling",
    "autoscalerOptions",
    "headServiceAnnotations",
    "suspend",
    "gcsFaultToleranceOptions",
    "managedBy",
    "upgradeStrategy",
    "authOptions",
}
HEAD_GROUP = {
    "template",
    "headService",
    "enableIngress",
    "resources",
    "labels",
    "rayStartParams",
    "serviceType",
}
WORKER_GROUP = {
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "idleTimeoutSeconds",
    "resources",
    "labels",
    "rayStartParams",
    "template",
    "scaleStrategy",
    "numOfHosts",
    "suspend",
}
AUTOSCALER_OPTIONS = {
    "resources",
    "image",
    "imagePullPolicy",
    "securityContext",
    "idleTimeoutSeconds",
    "upscalingMode",
    "version",
    "env",
    "envFrom",
    "volumeMounts",
}
QUANTITY = re.compile(r"^(\d+(\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
HEAD_PORTS = {"gcs-server": 6379, "dashboard": 8265, "serve": 8000}


def cores(quantity: str) -> float:
    match = QUANTITY.fullmatch(quantity)
    assert match and match.group(3) in (None, "m"), quantity
    return float(match.group(1)) / (1000 if match.group(3) == "m" else 1)


def check_group(group: dict[str, Any], where: str) -> None:
    """What KubeRay's CRD and validation.go demand of a head or worker group."""
    params = group["rayStartParams"]
    assert all(isinstance(v, str) for v in params.values()), f"{where}: strings only"
    assert "labels" not in params, f"{where}: use the group's labels field"
    spec = group["template"]["spec"]
    assert spec["containers"], f"{where}: no container"
    # autoscaler v2 (the default from Ray 2.47) wants restartPolicy Never or unset
    assert spec.get("restartPolicy", "Never") == "Never", where
    for container in spec["containers"]:
        assert container["name"] and container["image"], where
        limits = container["resources"]["limits"]
        for key, value in [*limits.items(), *container["resources"].get("requests", {}).items()]:
            assert isinstance(value, str) and QUANTITY.fullmatch(value), (where, key, value)
        requests = container["resources"].get("requests", {})
        if "nvidia.com/gpu" in requests:  # an extended resource: request must equal limit
            assert requests["nvidia.com/gpu"] == limits["nvidia.com/gpu"], where


def pod_resources(group: dict[str, Any]) -> tuple[float, float]:
    """CPUs and GPUs Ray advertises on one pod of a group: rayStartParams, else the limits."""
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    params = group["rayStartParams"]
    cpus = float(params["num-cpus"]) if "num-cpus" in params else cores(limits["cpu"])
    gpus = float(params.get("num-gpus", limits.get("nvidia.com/gpu", 0)))
    return cpus, gpus


def test_rayservice_serves_the_gpu_config() -> None:
    service = load("cluster/rayservice.yaml")
    assert service["kind"] == "RayService"
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    assert serve_config == load("configs/gpu.yaml")  # every value, not just the applications


def test_rayservice_has_the_structure_kuberay_requires() -> None:
    service = load("cluster/rayservice.yaml")
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    name = service["metadata"]["name"]
    assert DNS1035.fullmatch(name) and len(name) <= 47  # KubeRay's MaxRayServiceNameLength
    spec = service["spec"]
    assert spec.keys() <= RAYSERVICE_SPEC and isinstance(spec["serveConfigV2"], str)
    upgrade = spec.get("upgradeStrategy", {}).get("type", "NewCluster")
    assert upgrade in {"NewCluster", "NewClusterWithIncrementalUpgrade", "None"}

    cluster = spec["rayClusterConfig"]
    assert cluster.keys() <= RAYCLUSTER_SPEC
    assert cluster["rayVersion"] == ray.__version__  # the Ray the configs were checked against
    assert cluster["enableInTreeAutoscaling"] is True  # Serve autoscaling needs pods to grow
    options = cluster.get("autoscalerOptions", {})
    assert options.keys() <= AUTOSCALER_OPTIONS
    assert options.get("upscalingMode", "Default") in {"Default", "Aggressive", "Conservative"}

    head = cluster["headGroupSpec"]
    assert head.keys() <= HEAD_GROUP
    check_group(head, "head")
    (container, *_) = head["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert HEAD_PORTS.items() <= ports.items()

    groups = cluster["workerGroupSpecs"]
    assert len({g["groupName"] for g in groups}) == len(groups)
    for group in groups:
        assert group.keys() <= WORKER_GROUP
        check_group(group, group["groupName"])
        counts = group["minReplicas"], group.get("replicas", 0), group["maxReplicas"]
        assert all(isinstance(n, int) for n in counts) and counts[0] <= counts[1] <= counts[2]
    assert any(pod_resources(g)[1] >= 1 for g in groups), "no worker group has a GPU"


@pytest.mark.parametrize("bound", ["min_replicas", "max_replicas"])
def test_rayservice_cluster_fits_the_gpu_config(bound: str) -> None:
    cluster = load("cluster/rayservice.yaml")["spec"]["rayClusterConfig"]
    count = "minReplicas" if bound == "min_replicas" else "maxReplicas"
    head_cpus, head_gpus = pod_resources(cluster["headGroupSpec"])
    cpus, gpus = head_cpus, head_gpus
    for group in cluster["workerGroupSpecs"]:
        pod_cpus, pod_gpus = pod_resources(group)
        cpus += pod_cpus * group[count]
        gpus += pod_gpus * group[count]
    need_cpus, need_gpus = demand(application("configs/gpu.yaml"), bound)
    assert need_cpus <= cpus and need_gpus <= gpus


# --- the Grafana dashboard --------------------------------------------------------------------

# What modserve records (deployments/metrics.py) as Prometheus sees it, with the base name the
# code registers: Ray adds `ray_`, counters gain `_total`, histograms `_bucket/_sum/_count`.
OURS = {
    "ray_moderation_requests_total": "moderation_requests",
    "ray_moderation_latency_seconds": "moderation_latency_seconds",
    "ray_moderation_batch_size": "moderation_batch_size",
    "ray_model_memory_bytes": "model_memory_bytes",
    "ray_moderation_fallbacks_total": "moderation_fallbacks",
    "ray_moderation_rate_limited_total": "moderation_rate_limited",
    "ray_moderation_shed_total": "moderation_shed",
}
HISTOGRAMS = {"ray_moderation_latency_seconds", "ray_moderation_batch_size"}
# Ray Serve's built-ins the dashboard may use, with the name as ray/serve/_private defines it.
SERVE_BUILTINS = {
    "ray_serve_num_http_requests_total": "serve_num_{protocol_name}_requests",
    "ray_serve_num_http_error_requests_total": "serve_num_{protocol_name}_error_requests",
    "ray_serve_deployment_processing_latency_ms_bucket": "serve_deployment_processing_latency_ms",
    "ray_serve_deployment_replica_healthy": "serve_deployment_replica_healthy",
    "ray_serve_autoscaling_target_replicas": "serve_autoscaling_target_replicas",
    "ray_serve_deployment_queued_queries": "serve_deployment_queued_queries",
    "ray_serve_num_ongoing_requests_at_replicas": "serve_num_ongoing_requests_at_replicas",
    "ray_serve_replica_processing_queries": "serve_replica_processing_queries",
}
ALLOWED = (
    {name for name in OURS if name not in HISTOGRAMS}
    | {f"{name}_{part}" for name in HISTOGRAMS for part in ("bucket", "sum", "count")}
    | set(SERVE_BUILTINS)
)
FUNCTIONS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "clamp_min",
    "label_values",
}
PANELS = {
    "Requests by decision",
    "Degraded share",
    "Latency per deployment (p50 / p95 / p99)",
    "Batch size (TextEnsemble, ImageClassifier)",
    "Fallbacks by reason",
    "Shed and rate limited",
    "Replicas per deployment",
    "Queue length",
    "Model memory",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / DASHBOARD).read_text())
    return data


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def expressions() -> list[str]:
    board = dashboard()
    found = [t["expr"] for p in panels(board["panels"]) for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["query"]["query"])
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (or a Grafana ``label_values(metric, label)``)."""
    values = re.fullmatch(r"label_values\((\w+),\s*\w+\)", expr)
    if values:
        return {values.group(1)}
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings, then what holds no metric name:
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)  # label matchers, ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][-+]?\d+)?", "", expr)  # numbers
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("("):
            assert match.group() in FUNCTIONS, f"unexpected function {match.group()} in {expr}"
        else:
            names.add(match.group())
    return names


def test_metric_names_are_parsed() -> None:
    expr = 'histogram_quantile(0.95, sum by (deployment, le) (rate(a_b_bucket{x="y"}[5m]))) / b'
    assert metric_names(expr) == {"a_b_bucket", "b"}


def test_dashboard_reads_only_known_metrics() -> None:
    used = set().union(*(metric_names(e) for e in expressions()))
    assert used <= ALLOWED, used - ALLOWED
    covered = {n for n in OURS if n in used or any(u.startswith(n + "_") for u in used)}
    assert covered == set(OURS)  # every metric modserve records has a panel


def test_dashboard_metrics_exist() -> None:
    """Each name is registered by modserve's code or by the installed Ray Serve."""
    ours = (REPO / "deployments" / "metrics.py").read_text()
    for base in OURS.values():
        assert f'"{base}"' in ours, base
    serve = "".join(p.read_text() for p in (RAY_DIR / "serve" / "_private").glob("*.py"))
    for name, base in SERVE_BUILTINS.items():
        assert f'"{base}"' in serve, name


def test_dashboard_has_a_prometheus_variable_and_the_panels() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    titles = set()
    for panel in panels(board["panels"]):
        if panel["type"] == "row":
            continue
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    assert PANELS <= titles
    ids = [p["id"] for p in panels(board["panels"])]
    assert len(ids) == len(set(ids))


GRPC_LIMIT = "RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH"


def grpc_limits() -> dict[str, int]:
    """Every place Ray is started from, with the message limit between replicas it sets."""
    found = {}
    for path in ("Makefile", "cluster/ray-cluster.yaml", "cluster/rayservice.yaml",
                 "tests/integration/conftest.py"):
        text = (REPO / path).read_text()
        values = re.findall(GRPC_LIMIT + r"""(?: ?:?= ?|, value: "|", ")(\d+)""", text)
        assert values, f"{path} does not set {GRPC_LIMIT}"
        for value in values:
            found[f"{path}:{value}"] = int(value)
    return found


def test_every_ray_start_lets_the_largest_message_between_replicas_through() -> None:
    from serve_app.settings import largest_message_bytes

    limits = grpc_limits()
    assert set(limits.values()) == {64 * 1024 * 1024}, limits
    needed = [largest_message_bytes(load_settings(application(p).get("args", {}), environ={}))
              for p in CONFIGS]
    assert 4 * 1024 * 1024 < max(needed) <= 64 * 1024 * 1024  # Ray's 4 MiB default is too small
