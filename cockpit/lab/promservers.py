"""Private Prometheus and Alertmanager servers on loopback ports, for the lab and for tests.

Same contract as ``cockpit.lab.servers``: ``start_*`` returns once the server answers
``/-/ready``, or raises ``ServerUnavailable`` naming the Debian package to install (or, when
it did not come up, the tail of its log). Each runs in its own session with its own config
and storage under ``workdir``; Alertmanager's cluster gossip is switched off
(``--cluster.listen-address=``) so nothing listens beyond the one loopback port.

Debian names the Alertmanager binary ``prometheus-alertmanager``; upstream tarballs name it
``alertmanager``: either is accepted.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.lab.servers import (
    ChildServer,
    ServerUnavailable,
    _Child,
    _wait_ready,
    _with_port_retries,
)

__all__ = [
    "LAB_METRICS",
    "LAB_RULES",
    "AlertmanagerServer",
    "PrometheusServer",
    "alertmanager_binary",
    "prometheus_binary",
    "start_alertmanager",
    "start_prometheus",
]


# What the lab's Prometheus evaluates for ``api``: the same thresholds as its CloudWatch
# alarms (error rate > 0.5 %, p95 > 2 s), over the metrics a lab endpoint serves
# (``http_requests_total{service,code}``, ``http_request_duration_seconds_bucket{service,le}``).
LAB_METRICS = {
    "error_rate": 'sum by (service) (rate(http_requests_total{code=~"5.."}[1m]))'
    " / sum by (service) (rate(http_requests_total[1m]))",
    "p95_ms": "histogram_quantile(0.95, sum by (le, service) "
    "(rate(http_request_duration_seconds_bucket[1m]))) * 1000",
}
# A rule file (JSON is YAML, so the PromQL needs no YAML quoting).
LAB_RULES = json.dumps(
    {
        "groups": [
            {
                "name": "cockpit-lab",
                "interval": "1s",
                "rules": [
                    {
                        "alert": "HighErrorRate",
                        "expr": f"({LAB_METRICS['error_rate']}) > 0.005",
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "{{ $labels.service }} 5xx rate is "
                            "{{ $value | humanizePercentage }}",
                            "description": "Check the last deployment; roll back if the "
                            "errors started with it.",
                        },
                    },
                    {
                        "alert": "HighLatencyP95",
                        "expr": f"({LAB_METRICS['p95_ms']}) > 2000",
                        "labels": {"severity": "warning"},
                        "annotations": {
                            "summary": "{{ $labels.service }} p95 latency is "
                            "{{ $value | humanize }} ms",
                        },
                    },
                ],
            }
        ]
    },
    indent=2,
)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class PrometheusServer(ChildServer):
    url: str  # http://127.0.0.1:PORT
    port: int
    workdir: Path
    _child: _Child | None = field(default=None, repr=False, compare=False)


@dataclass
class AlertmanagerServer(ChildServer):
    url: str  # http://127.0.0.1:PORT
    port: int
    workdir: Path
    _child: _Child | None = field(default=None, repr=False, compare=False)



def prometheus_config(
    scrape_targets: Mapping[str, Sequence[str]],
    *,
    scrape_interval: str,
    rule_file: Path | None,
    alertmanager_url: str | None,
) -> str:
    """prometheus.yml text (JSON is YAML): one static job per entry of ``scrape_targets``."""
    cfg: dict[str, object] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(targets)}]}
            for job, targets in scrape_targets.items()
        ],
    }  # fmt: skip
    if rule_file is not None:
        cfg["rule_files"] = [str(rule_file)]
    if alertmanager_url:
        host = alertmanager_url.split("://", 1)[-1].rstrip("/")
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    return json.dumps(cfg, indent=2) + "\n"


def start_prometheus(
    workdir: Path,
    scrape_targets: Mapping[str, Sequence[str]] | None = None,
    *,
    rules: str | None = None,
    alertmanager_url: str | None = None,
    scrape_interval: str = "1s",
) -> PrometheusServer:
    """Prometheus on a free loopback port scraping ``scrape_targets`` (job -> host:port list).

    ``rules`` is the text of a rule file (alerting/recording rules); ``alertmanager_url``
    sends its firing alerts there. A short scrape interval lets PromQL see data in seconds.
    """
    binary = prometheus_binary()
    if binary is None:
        raise ServerUnavailable("prometheus is not installed", "apt-get install prometheus")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    rule_file = None
    if rules is not None:
        rule_file = workdir / "rules.yml"
        rule_file.write_text(rules)
    config = workdir / "prometheus.yml"
    config.write_text(
        prometheus_config(
            scrape_targets or {},
            scrape_interval=scrape_interval,
            rule_file=rule_file,
            alertmanager_url=alertmanager_url,
        )
    )
    log = workdir / "prometheus.log"

    def start(port: int) -> PrometheusServer:
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle",
                 "--storage.tsdb.retention.time=1d"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                start_new_session=True,
            )  # fmt: skip
        _wait_ready("prometheus", proc, log, lambda: _ready(url))
        return PrometheusServer(url, port, workdir, _Child(proc, signal.SIGTERM, lambda: None))

    return _with_port_retries(start)


_ALERTMANAGER_CONFIG = """\
# Alerts go nowhere: the cockpit reads them through the API.
route:
  receiver: blackhole
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: blackhole
"""


def start_alertmanager(workdir: Path) -> AlertmanagerServer:
    """Alertmanager on a free loopback port, no gossip, storage under ``workdir``."""
    binary = alertmanager_binary()
    if binary is None:
        raise ServerUnavailable(
            "Alertmanager is not installed (no prometheus-alertmanager or alertmanager binary)",
            "apt-get install prometheus-alertmanager",
        )
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(_ALERTMANAGER_CONFIG)
    log = workdir / "alertmanager.log"

    def start(port: int) -> AlertmanagerServer:
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                start_new_session=True,
            )  # fmt: skip
        _wait_ready("alertmanager", proc, log, lambda: _ready(url))
        return AlertmanagerServer(url, port, workdir, _Child(proc, signal.SIGTERM, lambda: None))

    return _with_port_retries(start)
