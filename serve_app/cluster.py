"""The local Ray head node ``make serve`` runs, so the Ray tools in another shell work on it.

Ray 2.60 turns token authentication on for a cluster that ``ray.init()`` starts (what a bare
``serve run`` did), but its command-line tools - ``serve status``, ``serve deploy``, ``ray job
submit`` - send the token only when ``RAY_AUTH_MODE=token`` is in their own environment, and a
job's entrypoint runs with the head node's ``PATH``, where ``python`` was not the venv's. So
``make serve`` starts the head itself, with ``RAY_AUTH_MODE=token`` (the token is Ray's default
file, ``~/.ray/auth_token``, generated the first time), the venv's ``bin`` first on ``PATH``,
and the dashboard on loopback (the GCS port listens on every interface: the token is what
guards it); runs ``serve run CONFIG`` in the foreground; and on Ctrl-C, SIGTERM or SIGHUP takes
the application and the head node down with it. Another shell then needs
``source .venv/bin/activate`` and ``export RAY_AUTH_MODE=token``, nothing more.

``python -m serve_app.cluster replicas`` prints the replica counts of every deployment once a
second (the dashboard's Serve API, the one ``serve status`` reads), to watch autoscaling.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

AUTH_MODE = "token"
HOST = "127.0.0.1"
DASHBOARD_PORT = 8265  # Ray's default, so the tools in another shell need no --address
# The one agent port Ray fixes by default (its HTTP server, through which the dashboard submits
# jobs). A second Ray instance on the machine holds it (a test suite's ``ray.init()``, say), and
# then this head's agent never comes up: ``ray job submit`` answers "No available agent".
AGENT_PORT = 52365
AGENT_PORT_FLAG = "--dashboard-agent-listen-port"
DEFAULT_TOKEN_PATH = Path.home() / ".ray" / "auth_token"
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 30.0  # for serve run to delete the app, then for the head node to stop
SERVE_API = "/api/serve/applications/"
# What Serve's autoscaler saw per deployment (ongoing + queued requests, summed over replicas).
AUTOSCALER_LOAD = re.compile(
    r'^ray_serve_autoscaling_total_requests\{[^}]*deployment="([^"]+)"[^}]*\} ([0-9.e+-]+)$', re.M
)


class ClusterError(RuntimeError):
    """The head node could not be started; one line for the command line."""


def venv_bin() -> Path:
    """The folder of the running interpreter: ``.venv/bin`` under ``make``. Not resolved: the
    venv's ``python`` is a link to the base interpreter, which has none of the packages."""
    return Path(os.path.abspath(sys.executable)).parent


def ray_env(base: Mapping[str, str], bin_dir: Path) -> dict[str, str]:
    """``base`` as every process of the local cluster and its clients should see it."""
    env = dict(base)
    env.setdefault("RAY_AUTH_MODE", AUTH_MODE)  # an explicit choice in the shell is kept
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # One node and no load balancer in front: nowhere to drain replicas to and nobody to tell
    # that an ingress replica is leaving, so Ctrl-C need not wait Ray's 30 s for either.
    env.setdefault("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")
    env.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "1")
    rest = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != str(bin_dir)]
    env["PATH"] = os.pathsep.join([str(bin_dir), *rest])  # a job's `python` is the venv's
    env["VIRTUAL_ENV"] = str(bin_dir.parent)
    return env


def read_token(env: Mapping[str, str]) -> str | None:
    """The token Ray would use, in Ray's order: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, the file."""
    if env.get("RAY_AUTH_TOKEN", "").strip():
        return env["RAY_AUTH_TOKEN"].strip()
    path = Path(env["RAY_AUTH_TOKEN_PATH"]) if env.get("RAY_AUTH_TOKEN_PATH") else None
    path = path or DEFAULT_TOKEN_PATH
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def ensure_token(env: Mapping[str, str], bin_dir: Path) -> str | None:
    """The cluster's token, generated at Ray's default path the first time (``ray start``,
    unlike ``ray.init()``, refuses token mode without one). None when auth is off."""
    if env.get("RAY_AUTH_MODE", "").lower() != AUTH_MODE:
        return None
    token = read_token(env)
    if token is None:
        command = [str(bin_dir / "ray"), "get-auth-token", "--generate"]
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"ray get-auth-token --generate failed: {done.stderr.strip()}")
        token = read_token(env)
        if DEFAULT_TOKEN_PATH.exists():
            DEFAULT_TOKEN_PATH.chmod(0o600)  # a shared secret: readable by its owner only
    if token is None:
        raise ClusterError("token authentication is on but no token was found or generated")
    return token


def free_port() -> int:
    """A port for the GCS. Not Ray's 6379: that is Redis's too, and a local Redis (the rate
    limiter's server backend) would hold it; the tools find the cluster without it."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def is_free(port: int, host: str = "") -> bool:
    """Whether ``port`` can be bound on ``host`` (default: every interface, as Ray's agent
    binds the node's address and loopback)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def agent_port_args(extra: Sequence[str]) -> list[str]:
    """``--dashboard-agent-listen-port`` for a free port when Ray's default is taken and the
    caller chose none."""
    if any(arg.split("=")[0] == AGENT_PORT_FLAG for arg in extra) or is_free(AGENT_PORT):
        return []
    port = free_port()
    print(f"cluster: port {AGENT_PORT} (Ray's job agent) is taken; the head's agent uses {port}",
          file=sys.stderr)  # fmt: skip
    return [f"{AGENT_PORT_FLAG}={port}"]


def check_free(port: int, what: str) -> None:
    if not is_free(port, HOST):
        raise ClusterError(
            f"port {port} ({what}) is in use: is another Ray cluster running here? "
            "(`ray status`; stop it, or choose another port)"
        )


def head_command(bin_dir: Path, port: int, dashboard_port: int, extra: Sequence[str]) -> list[str]:
    """``ray start`` for a foreground head node; ``extra`` (``--num-gpus 1``...) comes last."""
    return [
        str(bin_dir / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        f"--dashboard-host={HOST}",  # the GCS listens on every interface; the token guards it
        f"--dashboard-port={dashboard_port}",
        "--disable-usage-stats",
        *extra,
    ]


def wait_for_dashboard(
    dashboard: str, token: str | None, head: subprocess.Popen[bytes], timeout_s: float
) -> None:
    """Until this head's dashboard answers with the token (the Serve and job CLIs use it)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise ClusterError(f"ray start exited with code {head.returncode}; see above")
        try:
            if httpx.get(f"{dashboard}/api/version", headers=headers, timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise ClusterError(f"the head node's dashboard did not answer in {timeout_s:.0f} s")


def stop(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM a process started in its own session, then SIGKILL whatever of it is left."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the raylet's workers, if any outlived it
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def foreground(
    command: Sequence[str], env: Mapping[str, str], head: subprocess.Popen[bytes]
) -> int:
    """Run ``command`` until it exits. Ctrl-C reaches it from the terminal (same process
    group); SIGTERM and SIGHUP sent to this process, or the head node dying, stop it too."""
    # A shell hands a job it starts in the background (`make serve &`, nohup, a service
    # manager's wrapper) SIGINT ignored, and exec keeps that. `serve run` shuts down on
    # KeyboardInterrupt only: it would ignore the SIGINT below and be killed after the grace
    # period, its application not deleted. A handler here is reset to the default in the child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    child = subprocess.Popen(list(command), env=dict(env))
    deadline: float | None = None

    def interrupt() -> None:
        nonlocal deadline
        if child.poll() is None and deadline is None:
            child.send_signal(signal.SIGINT)
        deadline = deadline or time.monotonic() + STOP_GRACE_S  # serve run shuts down

    def forward(signum: int, frame: FrameType | None) -> None:
        interrupt()

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            return child.wait(1.0)
        except KeyboardInterrupt:  # the terminal sent serve run its own SIGINT
            deadline = deadline or time.monotonic() + STOP_GRACE_S
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() > deadline:
                child.kill()
                return child.wait()
            if head.poll() is not None and deadline is None:
                print(f"cluster: the head node exited ({head.returncode})", file=sys.stderr)
                interrupt()


def hold(head: subprocess.Popen[bytes]) -> int:
    """Wait on the head node alone until it exits or Ctrl-C, SIGTERM or SIGHUP comes."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        return head.wait()
    except KeyboardInterrupt:
        return 0


def serve(
    config: str | None, *, port: int | None, dashboard_port: int, ray_args: Sequence[str]
) -> int:
    """Head node up, ``serve run config`` in the foreground, head node down: ``make serve``.
    Without a config, only the head node, for ``serve deploy`` from another shell."""
    bin_dir = venv_bin()
    env = ray_env(os.environ, bin_dir)
    token = ensure_token(env, bin_dir)
    check_free(dashboard_port, "the Ray dashboard")
    port = port or free_port()
    command = head_command(bin_dir, port, dashboard_port, [*ray_args, *agent_port_args(ray_args)])
    head = subprocess.Popen(command, env=env, start_new_session=True)  # no terminal SIGINT
    try:
        dashboard = f"http://{HOST}:{dashboard_port}"
        wait_for_dashboard(dashboard, token, head, START_TIMEOUT_S)
        if config is None:
            print(f"cluster: head node up, dashboard {dashboard}; Ctrl-C stops it", file=sys.stderr)
            return hold(head)
        client = {**env, "RAY_ADDRESS": f"{HOST}:{port}"}
        code = foreground([str(bin_dir / "serve"), "run", config], client, head)
        return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip this
        stop(head)


# --- replica counts ----------------------------------------------------------------------------


def replica_counts(details: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``{deployment: {replica state: count}}`` from the dashboard's Serve details."""
    counts: dict[str, dict[str, int]] = {}
    for app in (details.get("applications") or {}).values():
        for name, deployment in (app.get("deployments") or {}).items():
            states = Counter(r["state"] for r in deployment.get("replicas") or ())
            counts[name] = dict(sorted(states.items()))
    return counts


def serve_details(dashboard: str, token: str | None, timeout_s: float = 5.0) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(dashboard.rstrip("/") + SERVE_API, headers=headers, timeout=timeout_s)
    response.raise_for_status()
    details: dict[str, Any] = response.json()
    return details


def autoscaler_load(metrics: str) -> dict[str, float]:
    """``{deployment: requests the autoscaler saw}`` from a node's Prometheus text (Ray
    exports it every few seconds, so it lags the replica counts a little)."""
    try:
        text = httpx.get(metrics, timeout=5).text
    except httpx.HTTPError:
        return {}
    return {name: float(value) for name, value in AUTOSCALER_LOAD.findall(text)}


def watch_replicas(
    dashboard: str,
    token: str | None,
    interval_s: float = 1.0,
    duration_s: float | None = None,
    metrics: str | None = None,
) -> Iterator[dict[str, Any]]:
    """One ``{"t": seconds, "replicas": {deployment: {state: n}}}`` per ``interval_s``, with
    ``"load": {deployment: requests}`` when ``metrics`` names the head's metrics endpoint."""
    began = time.monotonic()
    while duration_s is None or time.monotonic() - began < duration_s:
        tick = time.monotonic()
        try:
            replicas: dict[str, Any] = replica_counts(serve_details(dashboard, token))
        except (httpx.HTTPError, ValueError) as exc:
            replicas = {"error": str(exc)}
        line: dict[str, Any] = {"t": round(tick - began, 1), "replicas": replicas}
        if metrics:
            line["load"] = autoscaler_load(metrics)
        yield line
        time.sleep(max(interval_s - (time.monotonic() - tick), 0.0))


# --- command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serve_app.cluster",
        description="The local Ray head node of `make serve`, and replica counts to watch.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("serve", help="head node + `serve run CONFIG` (other args: ray start)")
    up.add_argument("config", nargs="?", default="configs/local.yaml")
    head = sub.add_parser("head", help="the head node alone (other args: ray start)")
    for each in (up, head):
        each.add_argument("--port", type=int, help="GCS port (default: a free one)")
        each.add_argument("--dashboard-port", type=int, default=DASHBOARD_PORT)
    watch = sub.add_parser("replicas", help="replica counts per deployment, as JSON lines")
    watch.add_argument("--dashboard", default=f"http://{HOST}:{DASHBOARD_PORT}")
    watch.add_argument("--interval", type=float, default=1.0)
    watch.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    watch.add_argument(
        "--metrics", help="also the autoscaler's request counts from this /metrics URL"
    )
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command in ("serve", "head"):
            config = args.config if args.command == "serve" else None
            return serve(config, port=args.port, dashboard_port=args.dashboard_port, ray_args=rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        token = read_token(os.environ)
        lines = watch_replicas(args.dashboard, token, args.interval, args.duration, args.metrics)
        for line in lines:
            print(json.dumps(line), flush=True)
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
