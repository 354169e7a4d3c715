"""The Ray tools work from the checkout against the cluster ``make serve`` starts.

Ray 2.60 turns token authentication on for local clusters; its CLIs send the token only when
``RAY_AUTH_MODE=token`` is set in their shell, and a job's ``python`` is whatever the head node's
PATH finds. This runs ``make serve`` itself (a foreground process, its own process group, as a
terminal would), then from "another shell" set up as the docs say - the venv first on PATH,
``RAY_AUTH_MODE=token``, nothing else - runs ``serve status``, ``serve deploy
configs/local.yaml`` and ``ray job submit --working-dir . -- python -m serve_app.bulk``, and
stops it all with Ctrl-C. It uses Ray's default ports (dashboard 8265, HTTP 8000) because the
commands under test must work without ``--address``; it skips if either is taken.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.path.abspath(sys.executable)).parent  # the venv the tests run in
SERVE_URL = "http://127.0.0.1:8000"
DASHBOARD_PORT = 8265
READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 90
TEXTS = [
    "hello there, friend",
    "you are an idiot",
    "I am a gay man",
    "lovely weather today",
    "go kill yourself",
]
# What a parent shell may have set that the commands under test must not lean on (the
# conftest's in-process ray.init() sets RAY_AUTH_MODE=token in this very process).
RAY_CLIENT_VARS = ("RAY_AUTH_MODE", "RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN")


def in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RAY_CLIENT_VARS}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != str(BIN))
    env.pop("VIRTUAL_ENV", None)
    return env


def other_shell() -> dict[str, str]:
    """A shell set up as the docs say: `source .venv/bin/activate; export RAY_AUTH_MODE=token`."""
    env = clean_env()
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(BIN.parent)
    env["RAY_AUTH_MODE"] = "token"
    return env


def sh(command: str, env: Mapping[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``command`` as a user types it, in the checkout, through the shell's PATH."""
    return subprocess.run(
        command, shell=True, cwd=REPO, env=dict(env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


Proc = tuple[int, int]  # pid and start time: a pid reused by another process is not ours


def processes() -> dict[Proc, int]:
    """Every process (Linux /proc) and its parent's pid."""
    found: dict[Proc, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[(int(stat.parent.name), int(fields[19]))] = int(fields[1])
    return found


def descendants(pid: int) -> set[Proc]:
    """Every process below ``pid``: the head node and its workers sit in their own sessions."""
    table = processes()
    found: set[Proc] = set()
    frontier = {pid}
    while frontier:
        children = {proc for proc, parent in table.items() if parent in frontier}
        found |= children
        frontier = {p for p, _ in children}
    return found


def alive(procs: set[Proc]) -> set[Proc]:
    return procs & processes().keys()


def ctrl_c(make: subprocess.Popen[str], timeout: float) -> int | None:
    """What a terminal does on Ctrl-C: SIGINT to the foreground process group."""
    try:
        os.killpg(make.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        return make.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def serve_status(env: Mapping[str, str]) -> dict[str, Any]:
    done = sh("serve status", env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    status: dict[str, Any] = yaml.safe_load(done.stdout)
    return status


@pytest.fixture(scope="module")
def make_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[str]]:
    """``make serve`` until ready; afterwards nothing it started may be left running."""
    busy = [port for port in (DASHBOARD_PORT, 8000) if in_use(port)]
    if busy:
        pytest.skip(f"ports {busy} are taken (a `make serve` already running?)")
    log = tmp_path_factory.mktemp("make-serve") / "make-serve.log"
    with log.open("w") as out:
        make = subprocess.Popen(
            # -o: an install stamp older than pyproject.toml must not reinstall in a test
            ["make", "-o", ".venv/.installed-stamp", "serve", f"BIN={BIN}"],
            cwd=REPO, env=clean_env(), stdout=out, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group, like a terminal's foreground job
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
        )  # fmt: skip
    below: set[Proc] = set()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert make.poll() is None, log.read_text()[-5000:]
            below |= descendants(make.pid)
            try:
                if httpx.get(f"{SERVE_URL}/v1/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        else:
            pytest.fail(f"not ready in {READY_TIMEOUT_S} s:\n{log.read_text()[-5000:]}")
        yield make
        below |= descendants(make.pid)  # with the workers the tests' requests and job started
    finally:
        below |= descendants(make.pid)
        if make.poll() is None and ctrl_c(make, STOP_TIMEOUT_S) is None:
            make.terminate()  # make passes SIGTERM on; the helper stops the head node
            try:
                make.wait(60)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 30  # workers exit once their raylet is gone
        while alive(below) and time.monotonic() < deadline:
            time.sleep(1)
        left = alive(below)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not left, f"still running after make serve stopped: {sorted(left)}"


def test_tools_need_the_token_the_cluster_was_started_with(
    make_serve: subprocess.Popen[str],
) -> None:
    """The cluster is not open: a shell without RAY_AUTH_MODE=token is turned away."""
    env = other_shell()
    env.pop("RAY_AUTH_MODE")
    done = sh("serve status", env, timeout=120)
    assert done.returncode != 0 and "AuthenticationError" in done.stderr


def test_serve_status_and_deploy(make_serve: subprocess.Popen[str]) -> None:
    env = other_shell()
    status = serve_status(env)
    assert status["applications"]["modserve"]["status"] == "RUNNING"
    done = sh("serve deploy configs/local.yaml", env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    deadline = time.monotonic() + 120
    while serve_status(env)["applications"]["modserve"]["status"] != "RUNNING":
        assert time.monotonic() < deadline, "not RUNNING again after serve deploy"
        time.sleep(2)
    assert httpx.get(f"{SERVE_URL}/v1/ready", timeout=10).status_code == 200


def test_ray_job_submit_runs_the_bulk_job_with_the_venv(
    make_serve: subprocess.Popen[str], tmp_path: Path
) -> None:
    rows = [{"id": f"post-{i}", "text": TEXTS[i % len(TEXTS)]} for i in range(20)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    # Absolute paths: the job runs in a copy of the checkout Ray unpacks under /tmp/ray.
    command = f"ray job submit --working-dir . -- python -m serve_app.bulk {source} {out}/"
    for _ in range(12):  # the head's job agent can come up after Serve does (a busy machine)
        done = sh(f"{command} --no-progress", other_shell(), timeout=480)
        if "No available agent to submit job" not in done.stdout + done.stderr:
            break
        time.sleep(5)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    table = pq.read_table(sorted(out.glob("part-*.parquet")))
    assert sorted(table["id"].to_pylist()) == sorted(row["id"] for row in rows)
    assert set(table["decision"].to_pylist()) <= {"allow", "review", "block"}
    assert not any(table["error"].to_pylist())


def test_ctrl_c_stops_serve_and_the_head_node(make_serve: subprocess.Popen[str]) -> None:
    began = time.monotonic()
    code = ctrl_c(make_serve, STOP_TIMEOUT_S)
    assert code is not None, f"make serve still running {STOP_TIMEOUT_S} s after Ctrl-C"
    print(f"make serve stopped {time.monotonic() - began:.1f} s after Ctrl-C (exit {code})")
    assert not in_use(DASHBOARD_PORT) and not in_use(8000)
