"""The load generator without Ray: report arithmetic, the loopback-only rule, closed- and
open-loop scheduling against in-test servers, and the bare graph built but never started."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from serve_app.bench import LoadError
from serve_app.bench.loadgen import (
    BARE_MODERATE,
    MODERATE,
    LoadConfig,
    Outcome,
    Rate,
    Tally,
    closed_loop,
    format_table,
    loopback_url,
    open_loop,
    parse_rates,
    percentile,
    request_bodies,
    run_load,
    summarize,
)
from serve_app.cli import main

REPO = Path(__file__).resolve().parents[3]
LOCAL = REPO / "configs" / "local.yaml"
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def bodies() -> Iterator[dict[str, Any]]:
    return request_bodies(["hello there", "you are an idiot"], "test")


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://127.0.0.1:8000",
                             transport=httpx.MockTransport(handler))


def ok(decision: str = "allow", degraded: bool = False) -> httpx.Response:
    return httpx.Response(200, json={"decision": decision, "degraded": degraded})


# --- report arithmetic --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"), [(50, 50.0), (95, 95.0), (99, 99.0), (100, 100.0), (0.1, 1.0)]
)
def test_percentile_is_nearest_rank(q: float, expected: float) -> None:
    assert percentile([float(v) for v in range(1, 101)], q) == expected


def test_percentile_of_few_and_none() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # an observed value, not 2.5


def test_summary_counts_shares_lost_and_missing_retry_after() -> None:
    outcomes = [
        Outcome(0.010, 200, degraded=False, decision="allow"),
        Outcome(0.020, 200, degraded=False, decision="allow"),
        Outcome(0.030, 200, degraded=True, decision="block"),
        Outcome(0.040, 200, degraded=False, decision="review"),
        Outcome(0.001, 503, retry_after=True),
        Outcome(0.002, 503, retry_after=False),
        Outcome(0.003, 429, retry_after=True),
        Outcome(0.004, 408),  # the proxy's timeout: an answer, not lost, needs no Retry-After
        Outcome(45.0, error="ReadTimeout"),
        Outcome(0.005, error="ConnectError"),
    ]
    tally = Tally(outcomes=outcomes, scheduled=12, skipped=2, lags_s=[0.0, 0.002],
                  elapsed_s=2.0, client_cpu_s=0.5)
    r = summarize("open 2x", tally, offered_rps=6.0)
    assert (r.mode, r.scheduled, r.sent, r.skipped_in_flight_cap, r.answers) == (
        "open", 12, 10, 2, 8)
    assert r.statuses == {"200": 4, "408": 1, "429": 1, "503": 2}
    assert r.achieved_rps == 4.0 and r.ok_rps == 2.0
    assert r.decisions == {"allow": 2, "block": 1, "review": 1}
    assert r.degraded_share == 0.25  # of the 200s
    assert r.shed_share == 0.2  # 503s of the 10 sent
    assert r.lost == 2 and r.lost_by_error == {"ConnectError": 1, "ReadTimeout": 1}
    assert r.retry_after_missing == 1
    assert r.latency_200_ms.p50 == 20.0 and r.latency_200_ms.max == 40.0
    assert r.latency_ms.p99 == 40.0  # lost requests have no latency of an answer
    assert r.send_lag_p99_ms == 2.0 and r.client_cpu_share == 0.25


def test_summary_of_nothing_answered() -> None:
    r = summarize("probe", Tally(outcomes=[Outcome(1.0, error="ConnectError")], elapsed_s=1.0),
                  concurrency=1)
    assert r.mode == "closed" and r.answers == 0 and r.lost == 1
    assert r.latency_ms.p50 is None and r.degraded_share is None and r.ok_rps == 0.0


# --- refusals and bounds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "http://127.0.0.1:8000"),
        ("http://LOCALHOST:9", "http://127.0.0.1:9"),
        ("http://127.0.0.2:8000", "http://127.0.0.2:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_loopback_urls_are_accepted(url: str, base: str) -> None:
    assert loopback_url(url) == base


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:8000",
        "http://10.0.0.5:8000",
        "http://0.0.0.0:8000",
        "http://localhost.example.com",
        "http://127.0.0.1@example.com/",  # userinfo that looks like loopback
        "ftp://127.0.0.1/",
        "127.0.0.1:8000",
        "http://127.0.0.1:99999",
    ],
)
def test_other_hosts_are_refused(url: str) -> None:
    with pytest.raises(LoadError):
        loopback_url(url)


def test_cli_refuses_a_remote_url_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--url", "http://192.168.1.10:8000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modserve: url: ") and "refused" in err and err.count("\n") == 1


def test_cli_refuses_a_timeout_the_proxy_would_outlast(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--timeout", "30"]) == 2  # local.yaml: request_timeout_s 30
    assert "request_timeout_s" in capsys.readouterr().err


def test_config_bounds_requests_and_parses_rates() -> None:
    assert parse_rates("1x, 2x,50") == [Rate(1, True), Rate(2, True), Rate(50)]
    assert parse_rates("") == []
    with pytest.raises(ValueError, match="max-requests"):
        LoadConfig(rates=parse_rates("1000"), duration=100, max_requests=1000)
    with pytest.raises(LoadError, match="rate"):
        parse_rates("fast")
    with pytest.raises(LoadError, match="positive"):
        parse_rates("0x")
    with pytest.raises(ValueError):
        LoadConfig(concurrency=100_000)


def test_bodies_have_their_own_author_and_content_id() -> None:
    sent = list(itertools.islice(bodies(), 5))
    assert len({b["author_id"] for b in sent}) == len({b["content_id"] for b in sent}) == 5
    assert sent[0]["text"] == sent[2]["text"] != sent[1]["text"]


# --- scheduling ---------------------------------------------------------------------------


class Server:
    """A MockTransport handler that answers after ``delay`` and records when requests came."""

    def __init__(
        self, delay: float = 0.0, answer: Callable[[int], httpx.Response] = lambda i: ok()
    ) -> None:
        self.delay = delay
        self.answer = answer
        self.arrivals: list[float] = []
        self.paths: list[str] = []
        self.open = 0
        self.most_open = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        index = len(self.arrivals)
        self.arrivals.append(time.perf_counter())
        self.paths.append(request.url.path)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await asyncio.sleep(self.delay)
            return self.answer(index)
        finally:
            self.open -= 1


def test_closed_loop_keeps_n_in_flight_and_stops_at_the_bound() -> None:
    server = Server(delay=0.01)

    async def go() -> Tally:
        async with client(server) as c:
            return await closed_loop(c, MODERATE, bodies(), 4, seconds=10, max_requests=40)

    tally = asyncio.run(go())
    assert len(tally.outcomes) == 40 and server.most_open == 4


def test_open_loop_sends_on_schedule_whatever_the_answers() -> None:
    def answer(i: int) -> httpx.Response:
        if i % 4 == 3:
            return httpx.Response(503, headers={"Retry-After": "1"}, json={"error": {}})
        return ok("block" if i % 2 else "allow")

    server = Server(delay=0.25, answer=answer)  # slower than the schedule: answers pile up

    async def go() -> Tally:
        async with client(server) as c:
            return await open_loop(c, MODERATE, bodies(), rate=100, seconds=0.4,
                                   max_in_flight=1024)

    tally = asyncio.run(go())
    r = summarize("open", tally, offered_rps=100)
    assert r.scheduled == r.sent == 40 and r.lost == 0 and r.skipped_in_flight_cap == 0
    spread = server.arrivals[-1] - server.arrivals[0]
    assert 0.3 < spread < 1.0  # over the schedule; waiting for answers would take 10 s
    assert server.most_open >= 20  # sent while earlier ones were unanswered
    sent = sorted(o.sent_at for o in tally.outcomes)  # each outcome says when it went out
    assert sent == pytest.approx(sorted(server.arrivals), abs=0.05)
    assert r.statuses == {"200": 30, "503": 10} and r.retry_after_missing == 0
    assert r.shed_share == 0.25


def test_open_loop_skips_and_counts_past_the_in_flight_cap() -> None:
    server = Server(delay=0.5)

    async def go() -> Tally:
        async with client(server) as c:
            return await open_loop(c, MODERATE, bodies(), rate=200, seconds=0.1, max_in_flight=5)

    tally = asyncio.run(go())
    assert (tally.scheduled, len(tally.outcomes), tally.skipped) == (20, 5, 15)
    assert server.most_open == 5


def test_lost_requests_are_counted_by_error() -> None:
    async def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def go() -> Tally:
        async with client(refused) as c:
            return await open_loop(c, MODERATE, bodies(), rate=100, seconds=0.05,
                                   max_in_flight=10)

    r = summarize("open", asyncio.run(go()), offered_rps=100)
    assert r.lost == r.sent == 5 and r.lost_by_error == {"ConnectError": 5} and r.answers == 0


# --- a real socket: answers, 503s and connections dropped without an answer -----------------


async def tiny_http_server(counter: Iterator[int]) -> asyncio.Server:
    """HTTP/1.1 on loopback: every 3rd request 503 + Retry-After, every 5th dropped unanswered."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            await reader.readexactly(length)
            n = next(counter)
            if n % 5 == 4:
                writer.close()
                return
            status, extra, body = (
                ("503 Service Unavailable", "Retry-After: 1\r\n", b"{}") if n % 3 == 2
                else ("200 OK", "", b'{"decision": "allow", "degraded": true}'))
            writer.write(f"HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(guarded, "127.0.0.1", 0)


def test_open_loop_over_a_loopback_socket() -> None:
    async def go() -> Tally:
        server = await tiny_http_server(itertools.count())
        port = server.sockets[0].getsockname()[1]
        async with server, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                             timeout=5, trust_env=False) as c:
            return await open_loop(c, MODERATE, bodies(), rate=150, seconds=0.2,
                                   max_in_flight=64)

    r = summarize("open", asyncio.run(go()), offered_rps=150)
    assert r.sent == 30 and r.answers + r.lost == 30
    assert r.lost == 6 and r.statuses.get("503", 0) > 0  # every 5th of 30 dropped
    assert r.degraded_share == 1.0 and r.retry_after_missing == 0


# --- the whole run, with a stand-in for the bare deployment --------------------------------


def test_run_load_probes_compares_interleaved_then_offers_multiples() -> None:
    from serve_app.bench.bare import BarePlan, plan_bare

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/ready":
            return httpx.Response(200, json={"ready": True})
        await asyncio.sleep(0.001 if request.url.path == BARE_MODERATE else 0.01)
        return ok()

    paths: list[str] = []

    async def recording(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return await answer(request)

    @contextmanager
    def fake_bare() -> Iterator[BarePlan]:
        yield plan_bare(LOCAL, free_cpus=0.3)

    cfg = LoadConfig(concurrency=4, probe_seconds=0.15, rates=parse_rates("1x,2x"), duration=0.15,
                     compare_bare=True, rounds=2)
    report = run_load(cfg, ["hi"], bare=fake_bare, transport=httpx.MockTransport(recording))
    # ready; warm-up + probe; bare warm-up + bare; real; bare; real + the open-loop runs
    assert [k for k, _ in itertools.groupby(paths)] == [
        "/v1/ready", MODERATE, BARE_MODERATE, MODERATE, BARE_MODERATE, MODERATE]
    assert report.capacity_rps > 0 and report.ok and report.lost == 0
    assert [r.name for r in report.runs] == ["open 1x", "open 2x"]
    assert report.runs[1].offered_rps == pytest.approx(2 * report.capacity_rps, abs=0.1)
    comparison = report.comparison
    assert comparison is not None and comparison.bare_cpu_scale < 1
    assert comparison.ratio_ok_rps is not None and comparison.ratio_ok_rps < 1
    table = format_table(report)
    assert "LOST: 0" in table and "real/bare" in table and "open 2x" in table
    assert "not sent" not in table
    report.runs[0].skipped_in_flight_cap = 3
    assert "3 requests due were not sent" in format_table(report)


def test_run_load_refuses_an_unready_server() -> None:
    async def not_ready(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"ready": False})

    with pytest.raises(LoadError, match="not ready"):
        run_load(LoadConfig(), ["hi"], transport=httpx.MockTransport(not_ready))


# --- the bare graph, built but not started -------------------------------------------------


def test_bare_graph_copies_the_config_and_builds_without_ray() -> None:
    import ray
    from ray.serve import Application

    from serve_app.bench.bare import app, build_bare, plan_bare

    deployments = {d["name"]: d for d in
                   yaml.safe_load(LOCAL.read_text())["applications"][0]["deployments"]}
    ray_before = ray.is_initialized()  # True when the integration instance ran first
    plan = plan_bare(LOCAL)
    assert plan.cpu_scale == 1.0
    assert plan.options["BareText"]["ray_actor_options"] == (
        deployments["TextEnsemble"]["ray_actor_options"])
    assert plan.options["BareIngress"]["max_queued_requests"] == (
        deployments["Ingress"]["max_queued_requests"])
    assert isinstance(build_bare(plan), Application)
    assert ray.is_initialized() == ray_before  # planning and building never start Ray
    assert list(app.openapi()["paths"]["/v1/moderate"]) == ["post"]


def test_bare_graph_fits_beside_modserve_and_leaves_it_room_to_scale_up() -> None:
    from serve_app.bench.bare import plan_bare, reserved_cpus, serve_deployments, upscale_cpus

    deployments = serve_deployments(LOCAL)
    room = upscale_cpus(deployments)  # local.yaml: a second TextEnsemble
    text = deployments["TextEnsemble"]
    assert room == pytest.approx(text["ray_actor_options"]["num_cpus"] * (
        text["autoscaling_config"]["max_replicas"] - text["autoscaling_config"]["min_replicas"]))
    plan = plan_bare(LOCAL, free_cpus=room + 0.1)
    assert plan.cpu_scale < 1
    assert reserved_cpus(plan.options) + room <= room + 0.1
    assert plan.options["BareText"]["max_queued_requests"] == text["max_queued_requests"]
    assert reserved_cpus(plan_bare(LOCAL, free_cpus=0.3).options) <= 0.3


def test_bare_graph_refuses_a_config_without_the_three_deployments(tmp_path: Path) -> None:
    from serve_app.bench.bare import BareError, plan_bare

    config = tmp_path / "serve.yaml"
    config.write_text("applications:\n  - name: x\n    deployments:\n      - name: Ingress\n")
    with pytest.raises(BareError, match="TextEnsemble"):
        plan_bare(config)
    with pytest.raises(BareError, match="no CPU free"):
        plan_bare(LOCAL, free_cpus=0.0)
