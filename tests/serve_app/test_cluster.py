"""The head node ``make serve`` starts: its ``ray start`` command line, and how the foreground
``serve run`` is stopped (no Ray is started)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_app import cluster


@pytest.fixture
def agent_port_taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Ray's default agent port held, as a second local Ray instance holds it."""
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen()
        port = s.getsockname()[1]
        monkeypatch.setattr(cluster, "AGENT_PORT", port)
        yield port


def test_a_taken_agent_port_is_replaced_by_a_free_one(agent_port_taken: int) -> None:
    (arg,) = cluster.agent_port_args([])
    flag, port = arg.split("=")
    assert flag == "--dashboard-agent-listen-port"
    assert int(port) != agent_port_taken and cluster.is_free(int(port))


def test_a_free_agent_port_and_a_chosen_one_are_left_alone(
    agent_port_taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cluster.agent_port_args(["--dashboard-agent-listen-port=1234"]) == []
    assert cluster.agent_port_args(["--dashboard-agent-listen-port", "1234"]) == []
    monkeypatch.setattr(cluster, "AGENT_PORT", cluster.free_port())
    assert cluster.agent_port_args(["--num-gpus", "1"]) == []


def test_head_command_keeps_the_dashboard_on_loopback_and_extra_args_last() -> None:
    command = cluster.head_command(Path("/v/bin"), 4000, 8265, ["--num-gpus", "1"])
    assert command[:4] == ["/v/bin/ray", "start", "--head", "--block"]
    assert "--dashboard-host=127.0.0.1" in command and "--port=4000" in command
    assert command[-2:] == ["--num-gpus", "1"]


def test_ray_env_puts_the_venv_first_and_keeps_an_explicit_auth_mode() -> None:
    env = cluster.ray_env({"PATH": "/usr/bin:/v/bin", "RAY_AUTH_MODE": "disabled"}, Path("/v/bin"))
    assert env["PATH"] == "/v/bin:/usr/bin" and env["VIRTUAL_ENV"] == "/v"
    assert env["RAY_AUTH_MODE"] == "disabled"
    assert cluster.ray_env({"PATH": "/usr/bin"}, Path("/v/bin"))["RAY_AUTH_MODE"] == "token"


def test_serve_run_hears_the_sigint_it_stops_on_when_started_in_the_background() -> None:
    # A background job gets SIGINT ignored; the child must not inherit that.
    ignores = "import signal, sys; sys.exit(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    head = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # foreground() sets all three
    before = {signum: signal.getsignal(signum) for signum in handled}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = cluster.foreground([sys.executable, "-c", ignores], {}, head)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        head.kill()
        head.wait()
    assert code == 0
