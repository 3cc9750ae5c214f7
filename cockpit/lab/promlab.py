"""The lab's monitoring: a metrics endpoint for ``api``, Prometheus scraping it, Alertmanager.

Runs inside the lab's child process (``cockpit.lab.server``). ``start_monitoring`` serves
``http_requests_total{service="api",code}`` and
``http_request_duration_seconds_bucket{service="api",le}`` from a loopback thread, then starts
private Alertmanager and Prometheus (``cockpit.lab.promservers``; rules ``LAB_RULES``,
scraping every second) under ``workdir``. Prometheus is not waited for beyond ``/-/ready``:
its first scrape comes a second later.

The servers are separate processes in their own sessions and the child leaves by
``os._exit``, so nothing stops them for us: ``stop_monitoring()`` must run on every way out
of the child (``server.main`` calls it before exiting), and the parent kills the pids from
``ready.json`` as a fallback when the child itself was killed.

The error rate moves in a ten-minute wave between 0 and ~0.9 % (the alert threshold is
0.5 %), starting at its top so ``HighErrorRate`` fires within seconds of the lab starting.
While the ``api`` service's current ECS deployment has failed tasks (the ``bad-deploy``
drill) it is ``BAD_DEPLOY_BOOST`` times that, until a rollback or redeploy replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("cockpit.lab")

SERVICE = "api"
REQUESTS_PER_S = 200.0  # enough that a 1 s scrape already sees a few 5xx
ERROR_BASE, ERROR_SWING, ERROR_PERIOD_S = 0.004, 0.005, 600.0
LATENCY_MEDIAN_S, LATENCY_SIGMA, LATENCY_PERIOD_S = 0.15, 0.6, 420.0
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
BAD_DEPLOY_BOOST = 8.0  # a failing deployment: 3-7 % errors
DEPLOY_POLL_S = 2.0
INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager"


class ApiTraffic:
    """Counters that advance with wall time whenever they are read (no ticking thread).

    Counts accumulate as floats (a steady share of errors and of each latency bucket, so
    rates are smooth) and are exposed rounded down, which keeps them monotonic.
    """

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._t0 = self._last = time.monotonic() if start is None else start
        self.error_boost = 1.0
        self._ok = 0.0
        self._errors = 0.0
        self._buckets = [0.0] * len(BUCKETS)  # cumulative, as Prometheus wants them
        self._count = 0.0
        self._sum = 0.0

    def error_ratio(self, t: float) -> float:
        wave = ERROR_BASE + ERROR_SWING * math.cos(2 * math.pi * t / ERROR_PERIOD_S)
        return min(1.0, max(0.0, wave) * self.error_boost)

    def median_s(self, t: float) -> float:
        return LATENCY_MEDIAN_S * (1 + 0.5 * math.sin(2 * math.pi * t / LATENCY_PERIOD_S))

    def advance(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            dt = now - self._last
            if dt <= 0:
                return
            self._last = now
            t = now - self._t0
            n = REQUESTS_PER_S * dt
            errors = n * self.error_ratio(t)
            self._errors += errors
            self._ok += n - errors
            median = self.median_s(t)
            for i, le in enumerate(BUCKETS):  # lognormal CDF at each bound
                z = (math.log(le) - math.log(median)) / LATENCY_SIGMA
                self._buckets[i] += n * 0.5 * (1 + math.erf(z / math.sqrt(2)))
            self._count += n
            self._sum += n * median * math.exp(LATENCY_SIGMA**2 / 2)  # the lognormal mean

    def exposition(self) -> str:
        """The Prometheus text format of the current counters."""
        self.advance()
        with self._lock:
            s = f'service="{SERVICE}"'
            lines = [
                "# HELP http_requests_total Requests served, by status code.",
                "# TYPE http_requests_total counter",
                f'http_requests_total{{{s},code="200"}} {int(self._ok)}',
                f'http_requests_total{{{s},code="500"}} {int(self._errors)}',
                "# HELP http_request_duration_seconds Request latency.",
                "# TYPE http_request_duration_seconds histogram",
            ]
            lines += [
                f'http_request_duration_seconds_bucket{{{s},le="{le:g}"}} {int(c)}'
                for le, c in zip(BUCKETS, self._buckets, strict=True)
            ]
            lines += [
                f'http_request_duration_seconds_bucket{{{s},le="+Inf"}} {int(self._count)}',
                f"http_request_duration_seconds_sum{{{s}}} {self._sum:.3f}",
                f"http_request_duration_seconds_count{{{s}}} {int(self._count)}",
            ]
        return "\n".join(lines) + "\n"


def start_exporter(traffic: ApiTraffic) -> tuple[str, ThreadingHTTPServer]:
    """Serve ``traffic`` at ``http://127.0.0.1:PORT/metrics`` from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = traffic.exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # stderr is the lab's log: keep it quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="lab-metrics", daemon=True).start()
    host, port = str(httpd.server_address[0]), httpd.server_address[1]
    return f"{host}:{port}", httpd


@dataclass
class Monitoring:
    prometheus_url: str
    alertmanager_url: str
    exporter: str  # host:port Prometheus scrapes
    traffic: ApiTraffic
    servers: list[Any] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None
    halt: threading.Event = field(default_factory=threading.Event)

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers if s.pid]

    def stop(self) -> None:
        self.halt.set()
        # SIGKILL straight away: this is scratch storage, and the child's parent gives it
        # only a few seconds to exit before killing it.
        for server in self.servers:
            child = getattr(server, "_child", None)
            if child is not None:
                child.stop_signal = signal.SIGKILL
            with contextlib.suppress(Exception):
                server.stop()
        if self.httpd is not None:
            with contextlib.suppress(Exception):
                self.httpd.server_close()


_started: list[Monitoring] = []
_started_lock = threading.Lock()


def binaries_missing() -> str | None:
    """The note for the Alarms pane when the binaries are absent, else None."""
    from cockpit.lab.promservers import alertmanager_binary, prometheus_binary

    missing = [n for n, b in (("prometheus", prometheus_binary()),
                              ("prometheus-alertmanager", alertmanager_binary())) if not b]  # fmt: skip
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed, so no lab Prometheus alerts: {INSTALL_HINT}"


def api_deploy_failing(endpoint: str) -> Callable[[], bool]:
    """A check: does ``api``'s PRIMARY ECS deployment have failed tasks (a bad deploy)?"""
    from cockpit.lab.awsclient import lab_client

    ecs = lab_client(endpoint, "ecs")

    def failing() -> bool:
        services = ecs.describe_services(cluster="production", services=["api"])["services"]
        deployments = services[0].get("deployments", []) if services else []
        primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        return int(primary.get("failedTasks") or 0) > 0

    return failing


def _follow(traffic: ApiTraffic, degraded: Callable[[], bool], stop: threading.Event) -> None:
    while not stop.wait(DEPLOY_POLL_S):
        try:
            traffic.error_boost = BAD_DEPLOY_BOOST if degraded() else 1.0
        except Exception:  # the estate is busy or restarting: keep the last state
            log.debug("deployment check failed", exc_info=True)


def start_monitoring(
    workdir: Path, degraded: Callable[[], bool] | None = None
) -> Monitoring:
    """Exporter, Alertmanager and Prometheus; raises ``ServerUnavailable`` when one fails.

    ``degraded()``, polled every ``DEPLOY_POLL_S``, multiplies the error rate while true.
    """
    from cockpit.lab.promservers import LAB_RULES, start_alertmanager, start_prometheus

    workdir = Path(workdir)
    shutil.rmtree(workdir, ignore_errors=True)  # a reused state dir: start from no history
    traffic = ApiTraffic()
    exporter, httpd = start_exporter(traffic)
    mon = Monitoring("", "", exporter, traffic, httpd=httpd)
    if degraded is not None:
        threading.Thread(target=_follow, args=(traffic, degraded, mon.halt),
                         name="lab-metrics-deploy", daemon=True).start()  # fmt: skip
    with _started_lock:
        _started.append(mon)
    am = start_alertmanager(workdir / "alertmanager")
    mon.servers.append(am)
    mon.alertmanager_url = am.url
    prom = start_prometheus(
        workdir / "prometheus",
        {"lab-api": [exporter]},
        rules=LAB_RULES,
        alertmanager_url=am.url,
        scrape_interval="1s",
    )
    mon.servers.append(prom)
    mon.prometheus_url = prom.url
    return mon


def stop_monitoring() -> None:
    """Stop everything ``start_monitoring`` started in this process (idempotent)."""
    with _started_lock:
        started = list(_started)
        _started.clear()
    for mon in started:
        mon.stop()


def enabled() -> bool:
    """``COCKPIT_LAB_PROMETHEUS=0`` leaves the monitoring out (the lab works without it)."""
    return os.environ.get("COCKPIT_LAB_PROMETHEUS", "1").strip() not in ("0", "no", "false")


def extras(workdir: Path, endpoint: str | None = None) -> dict[str, Any]:
    """What goes into ready.json: the URLs and pids, or the note for the Alarms pane."""
    if not enabled():
        return {}
    note = binaries_missing()
    if note:
        return {"alarms_note": note}
    from cockpit.lab.servers import ServerUnavailable

    try:
        mon = start_monitoring(workdir, api_deploy_failing(endpoint) if endpoint else None)
    except ServerUnavailable as e:
        stop_monitoring()
        first = e.message.splitlines()[0].replace(": ", " - ").rstrip(":")
        log.warning("lab monitoring not started: %s", e.message)
        return {"alarms_note": f"lab Prometheus/Alertmanager failed ({first}): see {workdir}"}
    except Exception:
        stop_monitoring()
        log.exception("lab monitoring not started")
        return {"alarms_note": f"lab Prometheus/Alertmanager failed to start: see {workdir}"}
    return {
        "prometheus_url": mon.prometheus_url,
        "alertmanager_url": mon.alertmanager_url,
        "metrics_exporter": mon.exporter,
        "monitoring_pids": mon.pids,
    }
