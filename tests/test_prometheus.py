"""Prometheus backend against a real private Prometheus scraping a test exporter."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cockpit.backends.base import DetailProvider, Explainable, Source
from cockpit.backends.prometheus import (
    MetricSeries,
    PrometheusSource,
    format_value,
    matrix_series,
    sparkline,
    threshold_alarm,
    utc_from_rfc3339,
)
from cockpit.config import load_text
from cockpit.errors import BackendError, ConfigError, CredentialsError
from cockpit.model import PaneKind, ServiceStatus, Severity
from cockpit.profile import PrometheusConfig, SecretRef, Thresholds
from cockpit.sources import build_sources
from tests.fixtures.prometheus import DEAD_TARGET

METRICS = {
    "error_rate": 'sum by (service) (rate(http_requests_total{code=~"5.."}[5s]))'
    " / sum by (service) (rate(http_requests_total[5s]))",
    "p95_ms": "histogram_quantile(0.95, sum by (le, service) "
    "(rate(http_request_duration_seconds_bucket[5s]))) * 1000",
}


EMPTY_TARGETS = b'{"status":"success","data":{"activeTargets":[]}}'


class TargetsStub(BaseHTTPRequestHandler):
    """A stand-in for /api/v1/targets with none; subclasses look at each request first."""

    def do_GET(self) -> None:  # noqa: N802
        status, body = self.answer()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self) -> tuple[int, bytes]:
        return 200, EMPTY_TARGETS

    def log_message(self, *a: object) -> None:
        pass


def _source(url: str, metrics: dict[str, str] | None = None, **kw) -> PrometheusSource:  # type: ignore[no-untyped-def]
    cfg = PrometheusConfig(name="main", url=SecretRef(url), metrics=metrics or {})
    kw.setdefault("timeout", 5.0)
    kw.setdefault("step_s", 5)
    # hold 0: alarms as measured, on the first refresh (damping: tests/test_damping.py)
    return PrometheusSource(cfg, kw.pop("thresholds", Thresholds(hold=0)), window_s=60, **kw)


async def test_promql_metrics_raise_threshold_alarms_and_keep_series(prometheus_server) -> None:
    src = _source(prometheus_server.url, METRICS, step_s=1)
    deadline = time.monotonic() + 20
    try:
        # Prometheus has scraped for only a few seconds: refresh until the window has a trend.
        while True:
            alarms = await src.fetch()
            points = [len(s.points) for s in src.series_for("api")]
            if (points and min(points) >= 3) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await src.close()
    by_name = {a.name: a for a in alarms}
    # api runs at 5 % errors, above the 0.5 % default threshold; worker has none.
    api = by_name['error_rate{service="api"}']
    assert api.severity is Severity.CRITICAL
    assert api.resource == "api"
    assert api.reason == "error_rate is 5.00 %, above 0.50 %"
    assert api.threshold == "error_rate > 0.50 %"
    assert api.since is not None and api.since <= datetime.now(UTC)
    assert not any("worker" in a.name for a in alarms)
    # p95 is ~450 ms, under the 2000 ms default: no alarm, but the series is there.
    assert not any(a.name.startswith("p95_ms") for a in alarms)
    api_series = {s.metric: s for s in src.series_for("api")}
    assert api_series["error_rate"].latest == pytest.approx(0.05, rel=0.01)
    assert 250 < api_series["p95_ms"].latest < 500
    assert len(api_series["error_rate"].points) >= 3  # a range, for a sparkline
    assert [s.latest for s in src.series_for("worker")] == [0.0]
    # In the shape of ServiceStatus.metrics, in display units (5 % errors -> 5.0).
    metrics = dict(src.service_metrics("api"))
    assert set(metrics) == {"error_rate", "p95_ms"}
    assert metrics["error_rate"][-1] == pytest.approx(5.0, rel=0.01)
    assert src.service_metrics("nobody") == ()


async def test_thresholds_from_profile_decide(prometheus_server) -> None:
    strict = Thresholds(error_rate=10, p95_ms=300, hold=0)  # 5 % is fine now; 450 ms is not
    src = _source(prometheus_server.url, METRICS, thresholds=strict)
    try:
        alarms = [a for a in await src.fetch() if not a.name.startswith("target down")]
    finally:
        await src.close()
    assert [a.name for a in alarms] == ['p95_ms{service="api"}']
    assert alarms[0].threshold == "p95_ms > 300 ms"


async def test_down_target_is_an_alarm(prometheus_server) -> None:
    src = _source(prometheus_server.url)
    try:
        alarms = await src.fetch()
    finally:
        await src.close()
    assert [a.name for a in alarms] == [f"target down: dead {DEAD_TARGET}"]
    down = alarms[0]
    assert down.severity is Severity.CRITICAL and down.state == "down"
    assert "connection refused" in down.reason
    assert down.resource == "dead" and down.threshold == "up == 0"


async def test_detail_shows_series_with_sparkline(prometheus_server) -> None:
    src = _source(prometheus_server.url, METRICS)
    try:
        alarms = await src.fetch()
        assert isinstance(src, DetailProvider) and isinstance(src, Explainable)
        assert isinstance(src, Source) and src.pane is PaneKind.ALARMS
        api = next(a for a in alarms if a.resource == "api")
        (section,) = await src.detail(api)
        service = ServiceStatus("api", "ecs", "aws:ecs", Severity.OK, "healthy", 2, 2)
        (for_service,) = await src.detail(service)
    finally:
        await src.close()
    assert section.columns == ("series", "now", "min", "max", "trend")
    rows = {r[0]: r for r in section.rows}
    assert rows['error_rate{service="api"}'][1] == "5.00 %"
    assert rows['p95_ms{service="api"}'][1].endswith(" ms")
    assert all(r[4] for r in section.rows)  # a trend drawn for every series
    assert for_service.rows == section.rows  # same series, found by the service's name


async def test_bad_promql_names_the_metric(prometheus_server) -> None:
    src = _source(prometheus_server.url, {"error_rate": "sum(rate(http_requests_total[5s]"})
    try:
        with pytest.raises(BackendError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert e.value.message.startswith("PromQL metric error_rate: Prometheus main answered HTTP 400")
    assert "metrics.error_rate" in e.value.hint


async def test_hung_prometheus_fails_within_its_timeout(hung_endpoint) -> None:
    src = _source(hung_endpoint, METRICS, timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(BackendError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert time.monotonic() - started < 3
    assert "did not answer within 1 s" in e.value.message
    assert "firewall" in e.value.hint


async def test_unreachable_prometheus_says_so() -> None:
    src = _source("http://127.0.0.1:1")
    try:
        with pytest.raises(BackendError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert e.value.message.startswith("scrape targets: cannot connect to Prometheus main")
    assert "running" in e.value.hint


async def test_env_url_missing_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("COCKPIT_TEST_PROM_URL", raising=False)
    src = _source("env:COCKPIT_TEST_PROM_URL")
    with pytest.raises(ConfigError) as e:
        await src.fetch()
    assert e.value.message == "environment variable COCKPIT_TEST_PROM_URL is not set"
    assert src.explain_command()[-1] == "env:COCKPIT_TEST_PROM_URL/api/v1/targets?state=active"


async def test_bearer_token_from_file_is_sent_and_refusal_is_credentials(
    tmp_path: Path, hung_endpoint
) -> None:
    import threading
    seen: list[str | None] = []

    class Guard(TargetsStub):
        def answer(self) -> tuple[int, bytes]:
            seen.append(self.headers.get("Authorization"))
            ok = self.headers.get("Authorization") == "Bearer s3cret"
            return (200, EMPTY_TARGETS) if ok else (401, b"no")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Guard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    try:
        good = PrometheusSource(
            PrometheusConfig("main", SecretRef(url), token=SecretRef(f"file:{token}")), timeout=3
        )
        bad = PrometheusSource(
            PrometheusConfig("main", SecretRef(url), token=SecretRef("env:NO_SUCH_TOKEN_X")),
            timeout=3,
        )
        assert await good.fetch() == []
        with pytest.raises(ConfigError):
            await bad.fetch()
        wrong = PrometheusSource(
            PrometheusConfig(
                "main", SecretRef(url), username="u", password=SecretRef("file:" + str(token))
            ),
            timeout=3,
        )
        with pytest.raises(CredentialsError) as e:
            await wrong.fetch()
        assert "HTTP 401" in e.value.message and "token" in e.value.hint
        for s in (good, bad, wrong):
            await s.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] == "Bearer s3cret"
    assert seen[1].startswith("Basic ")


async def test_refreshes_reuse_one_connection_and_survive_the_server_closing_it() -> None:
    """A connection per query was a TCP (and, over https, a TLS) handshake every 10-15 s all
    shift: refreshes share one. When the server closes it while idle, the next refresh just
    opens another."""
    import socket
    import threading
    peers: list[int] = []
    conns: list[socket.socket] = []

    class KeepAlive(TargetsStub):
        protocol_version = "HTTP/1.1"

        def answer(self) -> tuple[int, bytes]:
            peers.append(self.client_address[1])
            conns.append(self.connection)
            return 200, EMPTY_TARGETS

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    src = _source(f"http://127.0.0.1:{server.server_address[1]}")
    try:
        assert await src.fetch() == []
        assert await src.fetch() == []
        conns[-1].shutdown(socket.SHUT_RDWR)  # the server's idle timeout
        assert await src.fetch() == []
    finally:
        await src.close()
        server.shutdown()
        server.server_close()
    assert len(peers) == 3
    assert peers[0] == peers[1] != peers[2]


def test_profile_builds_prometheus_and_alertmanager_sources(tmp_path: Path) -> None:
    text = """
profiles:
  prod:
    timeout: 5
    prometheus:
      - name: main
        url: http://prometheus.monitoring:9090
        token: env:PROM_TOKEN
        ca_file: /etc/ssl/ca.pem
        metrics:
          error_rate: 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
    alertmanager:
      - {name: main, url: "env:ALERTMANAGER_URL", username: ops, password: "file:/etc/am-pass"}
"""
    profile = load_text(text, tmp_path / "profiles.yaml").get("prod")
    (prom,) = profile.prometheus
    assert prom.metrics["error_rate"].startswith("sum(rate(")
    assert str(prom.token) == "env:PROM_TOKEN" and prom.verify is True
    ids = [s.id for s in build_sources(profile).sources]
    assert ids == ["prometheus:main", "alertmanager:main"]
    src = build_sources(profile).sources[0]
    assert isinstance(src, PrometheusSource) and src.api.timeout == 4.0


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("token: abc123", "a literal token is not allowed: use env:NAME or file:PATH"),
        ("{username: ops}", None),
        ("password: hunter2", "a literal password is not allowed: use env:NAME or file:PATH"),
        (
            "metrics: {error-rate: 'up'}",
            "expected a name of letters, digits and _, got 'error-rate'",
        ),
    ],
)
def test_bad_prometheus_config_is_refused(
    tmp_path: Path, snippet: str, message: str | None
) -> None:
    if snippet.startswith("{"):
        item = "      - {name: main, url: 'http://p:9090', username: ops}"
        message = "basic auth needs both username and password"
    else:
        item = f"      - name: main\n        url: http://p:9090\n        {snippet}"
    text = f"profiles:\n  prod:\n    prometheus:\n{item}\n"
    with pytest.raises(ConfigError) as e:
        load_text(text, tmp_path / "p.yaml")
    assert message in e.value.message


# --- pure helpers -----------------------------------------------------------------------


def test_matrix_drops_nan_and_threshold_since_counts_back() -> None:
    (s,) = matrix_series(
        "error_rate",
        [
            {
                "metric": {"service": "api"},
                "values": [[100, "0.001"], [130, "NaN"], [160, "0.02"], [190, "0.03"]],
            }
        ],
    )
    assert [v for _, v in s.points] == [0.001, 0.02, 0.03]
    alarm = threshold_alarm(s, 0.005, "prometheus:main")
    assert alarm is not None and alarm.since == datetime.fromtimestamp(160, UTC)
    assert threshold_alarm(MetricSeries("error_rate", (), ()), 0.005, "x") is None


def test_formatting_and_sparkline() -> None:
    assert format_value("error_rate", 0.0123) == "1.23 %"
    assert format_value("p95_ms", 1234.4) == "1234 ms"
    assert format_value("queue", float("nan")) == "n/a"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([]) == ""
    assert utc_from_rfc3339("2026-11-25T12:51:37.859123463Z") == datetime(
        2026, 11, 25, 12, 51, 37, 859123, tzinfo=UTC
    )
    assert utc_from_rfc3339("0001-01-01T00:00:00Z") is None


async def test_lab_rules_fire_through_alertmanager(prometheus_server, session_alertmanager) -> None:
    """Prometheus evaluates the lab's rules on the exporter (5 % errors for api) and the
    alert reaches the cockpit through Alertmanager, annotated by the rule's template."""
    from cockpit.backends.alertmanager import AlertmanagerSource
    from cockpit.profile import AlertmanagerConfig

    src = AlertmanagerSource(AlertmanagerConfig("lab", SecretRef(session_alertmanager.url)))
    deadline = time.monotonic() + 30  # rule evaluation, then the notifier's discovery (~5 s)
    try:
        while True:
            rows = {a.name: a for a in await src.fetch()}
            if "HighErrorRate" in rows or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    finally:
        await src.close()
    alarm = rows["HighErrorRate"]
    assert (alarm.severity, alarm.state, alarm.resource) == (Severity.CRITICAL, "firing", "api")
    assert alarm.reason == "api 5xx rate is 5%"
    assert "HighLatencyP95" not in rows  # p95 ~450 ms is under 2 s


@pytest.fixture
def https_prometheus(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An HTTPS stand-in for /api/v1/targets with a fresh self-signed certificate for 127.0.0.1;
    yields (url, path of the certificate, which is its own CA)."""
    import shutil
    import ssl
    import subprocess
    import threading

    from tests.conftest import skip_or_fail

    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip

    server = ThreadingHTTPServer(("127.0.0.1", 0), TargetsStub)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_is_verified_by_default_and_a_ca_file_is_trusted(https_prometheus) -> None:
    url, cert = https_prometheus

    async def fetch(**kw: object) -> list:
        src = PrometheusSource(PrometheusConfig("main", SecretRef(url), **kw), timeout=3)  # type: ignore[arg-type]
        try:
            return await src.fetch()
        finally:
            await src.close()

    with pytest.raises(BackendError) as e:
        await fetch()
    assert "CERTIFICATE_VERIFY_FAILED" in e.value.message
    assert "ca_file" in e.value.hint
    assert await fetch(ca_file=str(cert)) == []
    assert await fetch(verify=False) == []
    with pytest.raises(BackendError) as e:
        await fetch(ca_file=str(cert.with_name("missing.pem")))
    assert e.value.message.startswith("cannot load CA file")
