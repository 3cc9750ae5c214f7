"""Health checks against a private local HTTP server: fine, slow, 500, hung, and closed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cockpit.backends.health import HealthSource, build_health_sources
from cockpit.model import Severity
from cockpit.profile import HealthCheck, Profile, Thresholds


class _State:
    lock = threading.Lock()
    in_flight = 0
    most = 0
    release = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        with _State.lock:
            _State.in_flight += 1
            _State.most = max(_State.most, _State.in_flight)
        try:
            if self.path == "/slow":
                time.sleep(0.6)  # the behaviour under test, not synchronisation
                self._send(200, b'{"status": "ok", "db": "slow"}')
            elif self.path == "/error":
                self._send(500, b'{"status": "error", "db": "connection refused"}')
            elif self.path == "/hang":
                _State.release.wait(10)  # never answers within the check's timeout
            else:
                self._send(200, b'{"status": "ok"}')
        finally:
            with _State.lock:
                _State.in_flight -= 1

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _State.release.clear()
    _State.most = 0
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _State.release.set()
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_checks_run_concurrently_each_with_its_own_timeout(http_server: str) -> None:
    profile = Profile(
        name="t",
        health=(
            HealthCheck("api", f"{http_server}/health"),
            HealthCheck("deep", f"{http_server}/slow", timeout=3),
            HealthCheck("db", f"{http_server}/error"),
            HealthCheck("hung", f"{http_server}/hang", timeout=0.5),
            HealthCheck("gone", f"http://127.0.0.1:{closed_port()}/health", timeout=1),
        ),
        thresholds=Thresholds(p95_ms=300, hold=0),
    )
    (src,) = build_health_sources(profile)

    rows = {a.name: a for a in await src.fetch()}

    assert {n: (a.severity, a.state) for n, a in rows.items()} == {
        "health api": (Severity.OK, "OK"),
        "health deep": (Severity.WARNING, "SLOW"),
        "health db": (Severity.CRITICAL, "HTTP 500"),
        "health hung": (Severity.CRITICAL, "TIMEOUT"),
        "health gone": (Severity.CRITICAL, "DOWN"),
    }
    assert rows["health api"].reason.endswith(': {"status": "ok"}')
    assert "(expected 200)" in rows["health db"].reason
    assert "connection refused" in rows["health db"].reason  # the body excerpt
    assert rows["health hung"].reason.endswith("in 0.5 s")
    assert "slower than 300 ms" in rows["health deep"].reason
    assert rows["health api"].resource == f"{http_server}/health"
    # The slow and the hung request were in flight at the same time: concurrent checks.
    assert _State.most >= 2
    await src.close()


async def test_no_health_entries_no_source_and_explain_is_curl(http_server: str) -> None:
    assert build_health_sources(Profile(name="t")) == []
    src = HealthSource([HealthCheck("api", f"{http_server}/health", timeout=2)], 2000)
    assert src.explain_command()[0] == "curl" and src.explain_command()[-1].endswith("/health")
    ((row),) = await src.fetch()
    assert row.severity is Severity.OK
    await src.close()
    await src.close()  # idempotent
