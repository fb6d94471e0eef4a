"""A real server, as `bin/serve` runs it (gunicorn, uvicorn workers, the ASGI bridge): one
scrape reports the requests of every worker, and each request logs one JSON line."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.core.observability.conftest import Scrape
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

REQUESTS = 40


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def test_workers_are_scraped_together_and_log_json(tmp_path, monkeypatch):
    metrics_directory = tmp_path / "metrics"
    metrics_directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_directory))
    server = ServerProcess(
        tmp_path, workers=3, threads=2, settings={"log_format": "json"}, database_suffix="obs"
    )
    try:
        server.start()
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda i: get(f"{server.url}/", {"X-Request-Id": f"e2e-{i}"}),
                    range(REQUESTS),
                )
            )
        assert [status for status, _, _ in answers] == [200] * REQUESTS
        assert sorted(h["x-request-id"] for _, h, _ in answers) == sorted(
            f"e2e-{i}" for i in range(REQUESTS)
        )
        status, headers, body = get(f"{server.url}/__metrics__")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        scraped = Scrape(body.decode())
        served = scraped.value(
            "kinto_request_summary_total", endpoint="root", method="get", status="200"
        )
        # Whichever workers served them, all of them count (the health checks of the start
        # hit /__heartbeat__, another endpoint).
        assert served == REQUESTS
    finally:
        server.stop()
    lines = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{") and '"kinto.request.summary"' in line
    ]
    ours = [entry for entry in lines if entry.get("request_id", "").startswith("e2e-")]
    assert len(ours) == REQUESTS
    assert {(e["route"], e["status"], e["method"]) for e in ours} == {("root", 200, "GET")}
    assert all(e["duration_ms"] > 0 and e["level"] == "INFO" for e in ours)
