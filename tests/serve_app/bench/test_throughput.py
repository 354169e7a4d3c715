"""``modserve bench``'s HTTP part: the load generator's closed loop, bounded in requests."""

from __future__ import annotations

import httpx
import pytest

from serve_app.bench.throughput import http_bench, run_bench
from serve_app.cli import main
from serve_app.settings import load_settings


def moderating(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/ready":
        return httpx.Response(200, json={"ready": True})
    if request.url.path == "/v1/moderate" and request.method == "POST":
        return httpx.Response(200, json={"decision": "allow", "degraded": False})
    return httpx.Response(404)


def test_each_level_sends_exactly_its_requests_and_reports_latency() -> None:
    report = http_bench("http://127.0.0.1:8000", ["hello", "you idiot"], 20, [1, 4],
                        transport=httpx.MockTransport(moderating))
    levels = report["levels"]
    assert [level["concurrency"] for level in levels] == [1, 4]
    for level in levels:
        assert level["sent"] == 20 and level["statuses"] == {"200": 20} and level["lost"] == 0
        assert level["ok_rps"] > 0 and level["latency_200_ms"]["p50"] is not None


def test_no_server_or_a_remote_url_is_skipped_with_the_reason() -> None:
    down = http_bench("http://127.0.0.1:9", ["hi"], 5, [1])
    assert "no modserve at http://127.0.0.1:9" in down["skipped"]
    remote = http_bench("http://example.com", ["hi"], 5, [1])
    assert "refused" in remote["skipped"]


@pytest.mark.parametrize("levels", ["8,x", "0", "300"])
def test_cli_refuses_bad_levels(levels: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--concurrency", levels]) == 2
    assert "--concurrency" in capsys.readouterr().err


def test_the_batch_part_is_skipped_for_the_http_part_s_reason() -> None:
    report = run_bench(url="http://127.0.0.1:9", texts=8, images=1, requests=2,
                       concurrencies=[1], data_dir=load_settings(environ={}).training_data_dir,
                       batch_texts=4)
    assert report["raw_text"]["texts_per_s"] > 0
    assert "no modserve at http://127.0.0.1:9" in report["http_moderate_text"]["skipped"]
    assert report["batch_vs_raw_text"] == report["http_moderate_text"]
