"""``modserve load``: drive a local modserve past its capacity and report what clients saw.

``modserve bench`` measures speed below saturation; this measures overload. A closed-loop
probe (N clients, each sending its next request when the last is answered) finds the capacity
C in 200 answers per second. Open-loop runs then offer fixed rates (by default 1x and 2x C) on
a schedule that ignores the answers, which is what overload is for a real service. Every
request is either answered, with any HTTP status, or LOST: no HTTP response at all. The client
waits longer than the proxy's ``request_timeout_s``, so a lost request is the server's doing,
and the report names every one; every 503 and 429 should carry ``Retry-After``.

Bounded on purpose: loopback URLs only, each run bounded in seconds and in requests, a hard cap
on requests in flight, no redirects followed, no proxy from the environment. ``--compare-bare``
also measures a bare Ray Serve graph of the same three hops (``serve_app.bench.bare``) the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from serve_app.bench import LoadError

if TYPE_CHECKING:
    from serve_app.bench.bare import BarePlan

DEFAULT_URL = "http://127.0.0.1:8000"
SERVE_CONFIG = Path("configs") / "local.yaml"
MODERATE = "/v1/moderate"
BARE_MODERATE = "/bare/v1/moderate"
TIMEOUT_MARGIN_S = 15.0  # the client outwaits the proxy's request_timeout_s by this much
PUSHBACK = (429, 503)  # answers that must say when to come back
LOOPBACK_NAMES = {"localhost": "127.0.0.1"}  # resolved here: no DNS, no IPv6-first surprise
MAX_CONCURRENCY = 256  # closed-loop clients (modserve load and modserve bench)


def loopback_url(url: str) -> str:
    """``url`` as a base URL if its host is a loopback address; anything else is refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LoadError(f"{url}: not a URL ({exc})") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise LoadError(f"{url}: not an http(s) URL")
    host = LOOPBACK_NAMES.get(host, host)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoadError(f"{url}: refused, load runs only against 127.0.0.1 or localhost")
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class Rate:
    """An offered rate: ``value`` req/s, or ``value`` times the measured capacity."""

    value: float
    relative: bool = False

    def resolve(self, capacity: float) -> float:
        return self.value * capacity if self.relative else self.value

    @property
    def label(self) -> str:
        return f"{self.value:g}x" if self.relative else f"{self.value:g}/s"


def parse_rates(text: str) -> list[Rate]:
    """``"1x,2x"`` (multiples of the capacity) or ``"50,100"`` (req/s), or a mix."""
    rates = []
    for item in (i.strip().lower() for i in text.split(",") if i.strip()):
        relative = item.endswith("x")
        try:
            value = float(item.removesuffix("x").removesuffix("/s"))
        except ValueError:
            raise LoadError(f"rate {item!r}: want a number (req/s) or a multiple like 2x") from None
        if not 0 < value < float("inf"):
            raise LoadError(f"rate {item!r}: must be positive")
        rates.append(Rate(value, relative))
    return rates


class LoadConfig(BaseModel):
    """What ``modserve load`` was asked to do, checked before anything is sent."""

    url: str = DEFAULT_URL
    concurrency: int = Field(default=32, ge=1, le=MAX_CONCURRENCY)
    probe_seconds: float = Field(default=10.0, gt=0, le=120)
    rates: list[Rate] = Field(default_factory=lambda: parse_rates("1x,2x"), max_length=8)
    duration: float = Field(default=10.0, gt=0, le=120)
    max_in_flight: int = Field(default=1024, ge=1, le=4096)
    max_requests: int = Field(default=50_000, ge=1, le=500_000)
    timeout_s: float = Field(default=45.0, gt=0, le=600)
    proxy_timeout_s: float | None = 30.0
    serve_config: str = str(SERVE_CONFIG)  # the running graph's: the bare graph copies it
    compare_bare: bool = False
    rounds: int = Field(default=2, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _loopback(cls, value: str) -> str:
        return loopback_url(value)

    @model_validator(mode="after")
    def _bounded(self) -> LoadConfig:
        if self.proxy_timeout_s is not None and self.timeout_s <= self.proxy_timeout_s:
            raise LoadError(
                f"timeout {self.timeout_s:g} s must exceed the proxy's request_timeout_s "
                f"({self.proxy_timeout_s:g} s), or slow answers would count as lost"
            )
        for rate in self.rates:
            if not rate.relative:
                check_schedule(rate.value, self.duration, self.max_requests)
        return self


def check_schedule(rate: float, duration: float, max_requests: int) -> int:
    """Requests an open-loop run at ``rate`` for ``duration`` sends; refused past the bound."""
    planned = round(rate * duration)
    if planned < 1:
        raise LoadError(f"{rate:g} req/s for {duration:g} s is not one request")
    if planned > max_requests:
        raise LoadError(
            f"{rate:.1f} req/s for {duration:g} s is {planned} requests, "
            f"over --max-requests {max_requests}"
        )
    return planned


# --- sending ------------------------------------------------------------------------------


def request_bodies(texts: Sequence[str], run_id: str) -> Iterator[dict[str, Any]]:
    """Endless bodies: each its own content_id and author_id, so no per-author limit fires."""
    if not texts:
        raise LoadError("no texts to send")
    for i in itertools.count():
        key = f"load-{run_id}-{i}"
        yield {"content_id": key, "author_id": key, "platform": "custom",
               "text": texts[i % len(texts)]}


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; ``status`` None means no HTTP response (LOST)."""

    latency_s: float
    status: int | None = None
    error: str | None = None
    degraded: bool | None = None
    decision: str | None = None
    retry_after: bool = False
    sent_at: float = 0.0  # time.perf_counter() when it was sent


def read_answer(response: httpx.Response, latency_s: float, sent_at: float) -> Outcome:
    degraded = decision = None
    if response.status_code == 200:
        try:
            body = response.json()
            degraded, decision = bool(body.get("degraded")), str(body.get("decision"))
        except (ValueError, AttributeError):  # a 200 that is not our JSON: counted, not parsed
            pass
    return Outcome(latency_s, response.status_code, degraded=degraded, decision=decision,
                   retry_after="retry-after" in response.headers, sent_at=sent_at)


async def send(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Outcome:
    started = time.perf_counter()
    try:
        response = await client.post(path, json=body)
    except (httpx.HTTPError, OSError) as exc:  # no HTTP response at all: LOST
        return Outcome(time.perf_counter() - started, error=type(exc).__name__, sent_at=started)
    return read_answer(response, time.perf_counter() - started, started)


@dataclass
class Tally:
    """Everything one run recorded, before any arithmetic."""

    outcomes: list[Outcome] = field(default_factory=list)
    scheduled: int = 0
    skipped: int = 0  # scheduled but not sent: the in-flight cap was reached
    lags_s: list[float] = field(default_factory=list)  # open loop: sent this late
    elapsed_s: float = 0.0  # first send to last answer
    client_cpu_s: float = 0.0


@contextmanager
def timed(tally: Tally) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    tally.elapsed_s = time.perf_counter() - wall
    tally.client_cpu_s = time.process_time() - cpu


async def closed_loop(
    client: httpx.AsyncClient,
    path: str,
    bodies: Iterator[dict[str, Any]],
    concurrency: int,
    seconds: float,
    max_requests: int,
) -> Tally:
    """``concurrency`` clients, each sending its next request when its last is answered."""
    tally = Tally()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def one_client() -> None:
        while loop.time() < deadline and tally.scheduled < max_requests:
            tally.scheduled += 1
            tally.outcomes.append(await send(client, path, next(bodies)))

    with timed(tally):
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return tally


async def open_loop(
    client: httpx.AsyncClient,
    path: str,
    bodies: Iterator[dict[str, Any]],
    rate: float,
    seconds: float,
    max_in_flight: int,
) -> Tally:
    """Request i goes out at ``i / rate`` s whatever became of the others, unless
    ``max_in_flight`` are unanswered: then it is skipped and counted, never queued here."""
    tally = Tally(scheduled=round(rate * seconds))
    in_flight: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def one(body: dict[str, Any]) -> None:
        tally.outcomes.append(await send(client, path, body))

    with timed(tally):
        start = loop.time()
        for i in range(tally.scheduled):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))  # yields even when late
            if len(in_flight) >= max_in_flight:
                tally.skipped += 1
                continue
            tally.lags_s.append(max(0.0, loop.time() - due))
            task = asyncio.create_task(one(next(bodies)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
    return tally


# --- report arithmetic --------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence: a value that was observed."""
    if not ordered:
        return None
    rank = max(1, -(-q * len(ordered) // 100))  # ceil(q/100 * n), at least the first
    return ordered[min(int(rank), len(ordered)) - 1]


class Latency(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


def latency_ms(seconds: Iterable[float]) -> Latency:
    ms = sorted(s * 1000 for s in seconds)
    p50, p95, p99 = (_round(percentile(ms, q)) for q in (50, 95, 99))
    return Latency(p50=p50, p95=p95, p99=p99, max=_round(ms[-1] if ms else None))


def share(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _counts(keys: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


class RunReport(BaseModel):
    """One run as a client saw it. Shares are of sent requests, except ``degraded_share``
    (of 200 answers); latencies are of answered requests, in ms."""

    name: str
    mode: Literal["closed", "open"]
    concurrency: int | None = None
    offered_rps: float | None = None
    scheduled: int
    sent: int
    skipped_in_flight_cap: int
    answers: int
    elapsed_s: float
    achieved_rps: float  # answers of any status per second
    ok_rps: float  # 200 answers per second
    latency_ms: Latency
    latency_200_ms: Latency
    statuses: dict[str, int]
    decisions: dict[str, int]
    degraded_share: float | None
    shed_share: float | None  # 503
    lost: int
    lost_by_error: dict[str, int]
    retry_after_missing: int  # 429/503 answers without Retry-After
    send_lag_p99_ms: float | None  # open loop: how late the client itself sent
    client_cpu_share: float | None  # of one core, taken by this load generator


def summarize(name: str, tally: Tally, *, concurrency: int | None = None,
              offered_rps: float | None = None) -> RunReport:
    answered = [o for o in tally.outcomes if o.status is not None]
    ok = [o for o in answered if o.status == 200]
    lost = [o for o in tally.outcomes if o.status is None]
    elapsed = tally.elapsed_s
    return RunReport(
        name=name, mode="closed" if offered_rps is None else "open",
        concurrency=concurrency, offered_rps=_round(offered_rps),
        scheduled=tally.scheduled, sent=len(tally.outcomes),
        skipped_in_flight_cap=tally.skipped, answers=len(answered),
        elapsed_s=round(elapsed, 2),
        achieved_rps=round(len(answered) / elapsed, 1) if elapsed else 0.0,
        ok_rps=round(len(ok) / elapsed, 1) if elapsed else 0.0,
        latency_ms=latency_ms(o.latency_s for o in answered),
        latency_200_ms=latency_ms(o.latency_s for o in ok),
        statuses=_counts(str(o.status) for o in answered),
        decisions=_counts(o.decision for o in ok if o.decision),
        degraded_share=share(sum(1 for o in ok if o.degraded), len(ok)),
        shed_share=share(sum(1 for o in answered if o.status == 503), len(tally.outcomes)),
        lost=len(lost), lost_by_error=_counts(o.error or "unknown" for o in lost),
        retry_after_missing=sum(1 for o in answered if o.status in PUSHBACK
                                and not o.retry_after),
        send_lag_p99_ms=_round(percentile(sorted(s * 1000 for s in tally.lags_s), 99)),
        client_cpu_share=share(tally.client_cpu_s, elapsed),
    )


class Side(BaseModel):
    """One graph in the bare comparison: all its rounds pooled."""

    ok_rps: float
    p50_ms: float | None
    rounds_ok_rps: list[float]
    statuses: dict[str, int]
    lost: int


class Comparison(BaseModel):
    concurrency: int
    seconds_each: float
    rounds: int
    order: str = "bare, real, bare, real, ... (interleaved: machine noise hits both alike)"
    bare: Side
    real: Side
    ratio_ok_rps: float | None  # real / bare
    ratio_p50: float | None  # real / bare
    bare_config: str
    bare_cpu_scale: float  # < 1: the bare graph's num_cpus were scaled to fit the free CPUs


def pooled(tallies: Sequence[Tally], concurrency: int) -> Side:
    runs = [summarize("round", t, concurrency=concurrency) for t in tallies]
    outcomes = [o for t in tallies for o in t.outcomes]
    elapsed = sum(t.elapsed_s for t in tallies)
    ok = [o.latency_s for o in outcomes if o.status == 200]
    return Side(
        ok_rps=round(len(ok) / elapsed, 1) if elapsed else 0.0,
        p50_ms=latency_ms(ok).p50,
        rounds_ok_rps=[r.ok_rps for r in runs],
        statuses=_counts(str(o.status) for o in outcomes if o.status is not None),
        lost=sum(r.lost for r in runs),
    )


def _ratio(real: float | None, bare: float | None) -> float | None:
    return round(real / bare, 3) if real is not None and bare else None


# --- the whole run ------------------------------------------------------------------------


class LoadReport(BaseModel):
    url: str
    started_at: str
    config: dict[str, Any]
    load_average_1m: float
    capacity_rps: float  # 200 answers/s of the closed-loop probe: what "1x" means
    probe: RunReport
    comparison: Comparison | None
    runs: list[RunReport]
    lost: int
    retry_after_missing: int
    ok: bool  # nothing lost and every 429/503 said Retry-After


BareDeployer = Callable[[], AbstractContextManager["BarePlan"]]


def _deployed_bare(serve_config: str) -> BareDeployer:
    from serve_app.bench.bare import deployed_bare  # imports Ray: only when the comparison runs

    return lambda: deployed_bare(Path(serve_config))


def http_client(
    cfg: LoadConfig, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    pool = max(cfg.max_in_flight, cfg.concurrency)  # never wait for a pooled connection
    return httpx.AsyncClient(
        base_url=cfg.url,
        timeout=httpx.Timeout(cfg.timeout_s),
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        trust_env=False,  # no HTTP(S)_PROXY: the requests stay on loopback
        follow_redirects=False,
        transport=transport,
    )


async def ensure_ready(client: httpx.AsyncClient) -> None:
    try:
        response = await client.get("/v1/ready")
    except httpx.HTTPError as exc:
        raise LoadError(
            f"no modserve at {client.base_url} ({type(exc).__name__}); start it with make serve"
        ) from None
    if response.status_code != 200:
        raise LoadError(f"modserve at {client.base_url} is not ready ({response.status_code})")


async def _warm(client: httpx.AsyncClient, path: str, bodies: Iterator[dict[str, Any]],
                cfg: LoadConfig) -> None:
    await closed_loop(client, path, bodies, cfg.concurrency, cfg.probe_seconds,
                      2 * cfg.concurrency)


async def _probe(cfg: LoadConfig, bodies: Iterator[dict[str, Any]],
                 transport: httpx.AsyncBaseTransport | None) -> RunReport:
    async with http_client(cfg, transport) as client:
        await ensure_ready(client)
        await _warm(client, MODERATE, bodies, cfg)
        tally = await closed_loop(client, MODERATE, bodies, cfg.concurrency,
                                  cfg.probe_seconds, cfg.max_requests)
    return summarize(f"probe c={cfg.concurrency}", tally, concurrency=cfg.concurrency)


async def _compare(cfg: LoadConfig, bodies: Iterator[dict[str, Any]], plan: BarePlan,
                   transport: httpx.AsyncBaseTransport | None) -> Comparison:
    bare: list[Tally] = []
    real: list[Tally] = []
    async with http_client(cfg, transport) as client:
        await _warm(client, BARE_MODERATE, bodies, cfg)
        for _ in range(cfg.rounds):
            for path, tallies in ((BARE_MODERATE, bare), (MODERATE, real)):
                tallies.append(await closed_loop(client, path, bodies, cfg.concurrency,
                                                 cfg.probe_seconds, cfg.max_requests))
    b, r = pooled(bare, cfg.concurrency), pooled(real, cfg.concurrency)
    return Comparison(
        concurrency=cfg.concurrency, seconds_each=cfg.probe_seconds, rounds=cfg.rounds,
        bare=b, real=r, ratio_ok_rps=_ratio(r.ok_rps, b.ok_rps),
        ratio_p50=_ratio(r.p50_ms, b.p50_ms), bare_config=plan.config,
        bare_cpu_scale=plan.cpu_scale,
    )


async def _open(cfg: LoadConfig, bodies: Iterator[dict[str, Any]], rates: list[tuple[str, float]],
                transport: httpx.AsyncBaseTransport | None) -> list[RunReport]:
    reports = []
    async with http_client(cfg, transport) as client:
        for label, rate in rates:
            tally = await open_loop(client, MODERATE, bodies, rate, cfg.duration,
                                    cfg.max_in_flight)
            reports.append(summarize(f"open {label}", tally, offered_rps=rate))
    return reports


def run_load(
    cfg: LoadConfig,
    texts: Sequence[str],
    *,
    bare: BareDeployer | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadReport:
    """Probe, then the interleaved bare comparison if asked, then the open-loop runs.

    ``bare`` replaces the real deployment of the bare graph (a test passes its own)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    bodies = request_bodies(texts, uuid.uuid4().hex[:8])
    probe = asyncio.run(_probe(cfg, bodies, transport))
    if probe.ok_rps <= 0:
        raise LoadError(f"no 200 answers in the probe ({probe.statuses}): capacity unknown")
    rates = [(r.label, r.resolve(probe.ok_rps)) for r in cfg.rates]
    for _, rate in rates:  # every run checked before the first one starts
        check_schedule(rate, cfg.duration, cfg.max_requests)
    comparison = None
    if cfg.compare_bare:
        with (bare or _deployed_bare(cfg.serve_config))() as plan:
            comparison = asyncio.run(_compare(cfg, bodies, plan, transport))
    runs = asyncio.run(_open(cfg, bodies, rates, transport)) if rates else []
    everything = [probe, *runs]
    lost = sum(r.lost for r in everything)
    missing = sum(r.retry_after_missing for r in everything)
    return LoadReport(
        url=cfg.url, started_at=started_at, config=cfg.model_dump(mode="json"),
        load_average_1m=round(os.getloadavg()[0], 2), capacity_rps=probe.ok_rps, probe=probe,
        comparison=comparison, runs=runs, lost=lost, retry_after_missing=missing,
        ok=lost == 0 and missing == 0,
    )


# --- the readable table -------------------------------------------------------------------

COLUMNS = ("run", "offered/s", "sent", "ans/s", "200/s", "p50", "p95", "p99", "p99 200",
           "statuses", "degr", "shed", "lost", "no RA")


def _cell(value: float | None, pattern: str = "{:.1f}") -> str:
    return "-" if value is None else pattern.format(value)


def table_row(r: RunReport) -> list[str]:
    pct = "{:.0%}"
    return [r.name, _cell(r.offered_rps), str(r.sent), _cell(r.achieved_rps), _cell(r.ok_rps),
            _cell(r.latency_ms.p50), _cell(r.latency_ms.p95), _cell(r.latency_ms.p99),
            _cell(r.latency_200_ms.p99),
            " ".join(f"{k}:{v}" for k, v in r.statuses.items()) or "-",
            _cell(r.degraded_share, pct), _cell(r.shed_share, pct), str(r.lost),
            str(r.retry_after_missing)]


def format_table(report: LoadReport) -> str:
    rows = [list(COLUMNS), *(table_row(r) for r in [report.probe, *report.runs])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, f"(latencies in ms; capacity C = {report.capacity_rps:g} 200s/s)")
    if report.comparison:
        lines.append(comparison_line(report.comparison))
    lines.append(verdict_line(report))
    return "\n".join(lines)


def comparison_line(c: Comparison) -> str:
    scaled = f"; bare num_cpus x{c.bare_cpu_scale:g} to fit" if c.bare_cpu_scale < 1 else ""
    return (f"bare vs real, c={c.concurrency}, {c.rounds} rounds of {c.seconds_each:g} s: "
            f"bare {c.bare.ok_rps:g}/s p50 {_cell(c.bare.p50_ms)} ms; "
            f"real {c.real.ok_rps:g}/s p50 {_cell(c.real.p50_ms)} ms; "
            f"real/bare {_cell(c.ratio_ok_rps, '{:.3f}')} req/s, "
            f"{_cell(c.ratio_p50, '{:.2f}')} p50{scaled}")


def verdict_line(report: LoadReport) -> str:
    runs = [report.probe, *report.runs]
    if report.lost:
        errors = Counter[str]()
        for r in runs:
            errors.update(r.lost_by_error)
        lost = f"LOST: {report.lost} requests got no HTTP answer ({dict(errors)})"
    else:
        lost = "LOST: 0 (every request sent got an HTTP answer)"
    pushback = sum(r.statuses.get(str(s), 0) for r in runs for s in PUSHBACK)
    line = f"{lost}; Retry-After missing on {report.retry_after_missing} of {pushback} 429/503"
    skipped = sum(r.skipped_in_flight_cap for r in runs)
    if skipped:  # never sent, so not lost: but the offered rate was not what was asked
        line += f"; {skipped} requests due were not sent: --max-in-flight was reached"
    return line


def print_report(report: LoadReport, out: Path | None) -> None:
    text = report.model_dump_json(indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")
    print(format_table(report), file=sys.stderr)
    if out is not None:
        print(f"report written to {out}", file=sys.stderr)


# --- the command line ---------------------------------------------------------------------


def proxy_timeout_s(config: Path) -> float | None:
    """``http_options.request_timeout_s`` of a Serve config (None: the proxy never times out)."""
    try:
        raw = yaml.safe_load(config.read_text()) or {}
        value = (raw.get("http_options") or {}).get("request_timeout_s")
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise LoadError(f"{config}: cannot read the Serve config ({exc})") from None
    return None if value is None else float(value)


DESCRIPTION = """\
Drive a running modserve (make serve) past its capacity, on loopback only.

1. closed-loop probe: --concurrency clients on POST /v1/moderate for --probe-seconds;
   its 200 answers per second are the capacity C
2. with --compare-bare: a bare Ray Serve graph of the same three hops is deployed at /bare
   on the same cluster, both are probed in turn (bare, real, bare, real) and compared
3. open-loop runs at each of --rates (default 1x and 2x C) for --duration seconds: requests
   leave on schedule whatever the answers, at most --max-in-flight unanswered

JSON report on stdout (or --out), a table on stderr. Exit 1 when a request got no HTTP
answer (LOST) or a 429/503 came without Retry-After. Each body has its own author_id and
content_id; the decisions land in the audit log and review queue of the instance under load.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    arg = parser.add_argument
    arg("--url", default=DEFAULT_URL,
        help=f"a running modserve on loopback (default {DEFAULT_URL})")
    arg("--concurrency", type=int, default=32,
        help="closed-loop clients for the probe and the bare comparison (default 32: one full "
             "TextEnsemble batch)")
    arg("--probe-seconds", type=float, default=10.0,
        help="seconds per closed-loop probe (default 10)")
    arg("--rates", default="1x,2x",
        help="open-loop offered rates, multiples of C (2x) or req/s (50); '' for none "
             "(default 1x,2x)")
    arg("--duration", type=float, default=10.0,
        help="seconds per open-loop run (default 10, at most 120)")
    arg("--max-in-flight", type=int, default=1024,
        help="hard cap on unanswered requests; requests due past it are skipped and counted "
             "(default 1024)")
    arg("--max-requests", type=int, default=50_000,
        help="refuse a run that would send more (default 50000)")
    arg("--timeout", type=float,
        help="client timeout in seconds; must exceed the proxy's request_timeout_s "
             f"(default: it + {TIMEOUT_MARGIN_S:g})")
    arg("--config", default=str(SERVE_CONFIG),
        help="Serve config of the running graph: its proxy timeout, and the replica options "
             "the bare graph copies (default configs/local.yaml)")
    arg("--compare-bare", action="store_true",
        help="also compare with a bare 3-hop Ray Serve graph (connects to the running Ray)")
    arg("--rounds", type=int, default=2,
        help="bare/real probe pairs for --compare-bare (default 2)")
    arg("--texts", type=int, default=1024,
        help="validation texts the bodies cycle through (default 1024)")
    arg("--data", help="labelled data folder for the texts (default ../shared/data)")
    arg("--out", help="write the JSON report to this file instead of stdout")


def config_from_args(args: argparse.Namespace) -> LoadConfig:
    proxy = proxy_timeout_s(Path(args.config))
    timeout = args.timeout or (proxy + TIMEOUT_MARGIN_S if proxy else 60.0)
    try:
        return LoadConfig(
            url=args.url, concurrency=args.concurrency, probe_seconds=args.probe_seconds,
            rates=parse_rates(args.rates), duration=args.duration, max_in_flight=args.max_in_flight,
            max_requests=args.max_requests, timeout_s=timeout, proxy_timeout_s=proxy,
            serve_config=args.config, compare_bare=args.compare_bare, rounds=args.rounds,
        )
    except ValidationError as exc:
        raise LoadError("; ".join(_problem(e) for e in exc.errors())) from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
