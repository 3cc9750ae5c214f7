"""Prometheus alarms say since when their condition holds: a threshold breach since its first
point above (traced back past the sparkline window), a down target since its first failing
scrape; both kept across refreshes.

A stand-in server answers as Prometheus does (the same JSON) from a scripted history, so the
history can be hours long; the real Prometheus test is in tests/test_prometheus.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from cockpit.backends.prometheus import PrometheusSource
from cockpit.profile import PrometheusConfig, SecretRef, Thresholds
from tests.fixtures.prometheus import DEAD_TARGET

NOW = datetime(2026, 12, 7, 1, 37, tzinfo=UTC)
ERRORS_SINCE = NOW - timedelta(minutes=47)  # above 0.5 % from 00:50 on
DOWN_SINCE = NOW - timedelta(hours=2, minutes=10)


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> datetime:
        return self.t


class History(BaseHTTPRequestHandler):
    """error_rate 2 % from ERRORS_SINCE, 0.1 % before; target dead:1 down from DOWN_SINCE."""

    now = NOW

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/v1/targets":
            target = {
                "labels": {"job": "dead", "instance": "127.0.0.1:1"},
                "health": "down",
                "lastError": "connection refused",
                "lastScrape": History.now.isoformat(),  # every scrape fails anew
            }
            data: object = {"activeTargets": [target]}
        else:
            start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            if q["query"] == "1 - up":
                labels = {"job": "dead", "instance": "127.0.0.1:1"}
                values = [[t, "1" if t >= DOWN_SINCE.timestamp() else "0"] for t in times]
            else:
                labels = {"service": "api"}
                values = [[t, "0.02" if t >= ERRORS_SINCE.timestamp() else "0.001"] for t in times]
            data = {"resultType": "matrix", "result": [{"metric": labels, "values": values}]}
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def history() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), History)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_since_is_when_it_began_and_stays_put(history: str) -> None:
    clock = Clock()
    cfg = PrometheusConfig("main", SecretRef(history), metrics={"error_rate": "sum(rate(x[1m]))"})
    src = PrometheusSource(cfg, Thresholds(), timeout=5, clock=clock)
    seen = []
    try:
        for minutes in (0, 1, 22):  # refreshes at 01:37, 01:38 and 01:59
            clock.t = History.now = NOW + timedelta(minutes=minutes)
            seen.append({a.name: a.since for a in await src.fetch()})
    finally:
        await src.close()
    first = seen[0]
    # 01:37: the breach began at 00:50 (not 01:22, the start of the 15-minute window), the
    # target went down at 23:27 (not at its last failed scrape), within the 5-minute trace.
    errors = first['error_rate{service="api"}']
    down = first["target down: dead 127.0.0.1:1"]
    assert errors is not None and ERRORS_SINCE <= errors < ERRORS_SINCE + timedelta(minutes=5)
    assert down is not None and DOWN_SINCE <= down < DOWN_SINCE + timedelta(minutes=5)
    assert seen[1] == first and seen[2] == first  # kept while the conditions hold


def _last_scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=5) as resp:
        active = json.load(resp)["data"]["activeTargets"]
    return next(t["lastScrape"] for t in active if t["health"] == "down")


async def _next_scrape(url: str, after: str) -> str:
    """The dead target's next failed scrape (Prometheus scrapes it every second)."""
    deadline = time.monotonic() + 15
    while (scraped := await asyncio.to_thread(_last_scrape, url)) == after:
        assert time.monotonic() < deadline, "Prometheus did not scrape again"
        await asyncio.sleep(0.2)
    return scraped


async def test_a_real_down_target_keeps_its_since_across_failed_scrapes(prometheus_server) -> None:
    url = prometheus_server.url
    cfg = PrometheusConfig("main", SecretRef(url))
    src = PrometheusSource(cfg, Thresholds(), timeout=5, window_s=60, step_s=1)
    try:
        early = await asyncio.to_thread(_last_scrape, url)
        await _next_scrape(url, await _next_scrape(url, early))  # two failures later
        (first,) = await src.fetch()
        await _next_scrape(url, await asyncio.to_thread(_last_scrape, url))
        (second,) = await src.fetch()
    finally:
        await src.close()
    assert first.name == f"target down: dead {DEAD_TARGET}"
    assert first.since is not None and second.since == first.since
    # Its first failure (on the 1 s query grid), not its latest.
    assert first.since <= datetime.fromisoformat(early) + timedelta(seconds=1)
