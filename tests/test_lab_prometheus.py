"""The lab's Prometheus and Alertmanager, end to end: the lab's child serves ``api`` metrics,
its private Prometheus scrapes them and fires ``HighErrorRate`` into its private
Alertmanager; the lab profile's sources read both, and a silence through the action runner
mutes the alert. They run in the lab's child whatever ``with_servers`` says (that flag is
PostgreSQL and Redis), so the lab here is started without those."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cockpit.actions import ActionRunner, ConfirmRequest, get_action
from cockpit.audit import AuditLog
from cockpit.backends.alertmanager import build_alertmanager_sources
from cockpit.backends.prometheus import build_prometheus_sources
from cockpit.enrich import merge_service_metrics
from cockpit.lab import Lab, promlab, start_lab
from cockpit.lab.promservers import LAB_METRICS, alertmanager_binary, prometheus_binary
from cockpit.model import ServiceStatus, Severity
from cockpit.profile import Profile, Thresholds
from tests.conftest import skip_or_fail
from tests.fixtures.moto import aws_client
from tests.helpers import wait_until_sync

ROOT = Path(__file__).resolve().parent.parent
FIRE_WITHIN = 15.0  # rules are evaluated every second and HighErrorRate has no ``for:``


def _need_binaries() -> None:
    if not (prometheus_binary() and alertmanager_binary()):
        skip_or_fail("prometheus/prometheus-alertmanager are not installed "
                     f"({promlab.INSTALL_HINT})")  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][:1] != "Z"


def _start() -> Lab:
    # A faster tick makes a failing rollout fail sooner; the behaviour is the same.
    env = {"COCKPIT_LAB_SERVICES": "0", "COCKPIT_LAB_TICK": "0.5"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return start_lab(with_servers=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    _need_binaries()
    lab = _start()
    try:
        yield lab
    finally:
        lab.stop()


async def until(fetch: Callable[[], Any], cond: Callable[[Any], bool], timeout: float) -> Any:
    """Refresh ``fetch()`` until ``cond`` holds on its result (the servers work on their own
    schedule: scrape, rule evaluation, notification)."""
    deadline = time.monotonic() + timeout
    value = await fetch()
    while not cond(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # polling with a deadline, not synchronising
        value = await fetch()
    assert cond(value), value
    return value


def test_the_lab_profile_names_its_prometheus_and_alertmanager(lab: Lab) -> None:
    profile = lab.profile(Profile("lab", lab=True))
    [prom] = profile.prometheus
    [am] = profile.alertmanager
    assert prom.url.resolve() == lab.extras["prometheus_url"]
    assert am.url.resolve() == lab.extras["alertmanager_url"]
    assert prom.metrics == LAB_METRICS
    assert "alarms" not in lab.notes
    # Prometheus scrapes the lab's endpoint, whose counters move.
    body = httpx.get(f"http://{lab.extras['metrics_exporter']}/metrics", timeout=5).text
    assert 'http_requests_total{service="api",code="500"}' in body
    assert 'http_request_duration_seconds_bucket{service="api",le="+Inf"}' in body


async def test_api_error_rate_and_p95_come_from_promql(lab: Lab) -> None:
    # hold 0: the lab's Prometheus is seconds old, a breach has not held a minute yet
    [src] = build_prometheus_sources(lab.profile(Profile("lab", lab=True, thresholds=Thresholds(hold=0))))
    try:

        async def fetch() -> dict[str, float]:
            await src.fetch()
            return {m: s.latest for s in src.series_for("api") if (m := s.metric) and s.latest}

        latest = await until(fetch, lambda v: {"error_rate", "p95_ms"} <= set(v), 20.0)
        # The lab's shape: errors start near 0.9 % (above the 0.5 % alert), p95 in the
        # hundreds of milliseconds.
        assert 0.002 < latest["error_rate"] < 0.03
        assert 50 < latest["p95_ms"] < 2000
        api = ServiceStatus("api", "ecs", "aws:ecs", Severity.OK, "healthy", 2, 2)
        [row] = merge_service_metrics([api], [src])
        assert [name for name, _ in row.metrics] == ["error_rate", "p95_ms"]
        assert row.metrics[0][1][-1] == pytest.approx(latest["error_rate"] * 100)  # in %
        # Above the profile's 0.5 % threshold: a threshold alarm on the api too.
        alarms = await src.fetch()
        assert any(a.resource == "api" and "error_rate" in a.name for a in alarms), alarms
    finally:
        await src.close()


async def test_a_firing_alert_is_silenced_through_the_confirmation(
    lab: Lab, tmp_path: Path
) -> None:
    [src] = build_alertmanager_sources(lab.profile(Profile("lab", lab=True)))
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> bool:
        asked.append(req)
        return True

    runner = ActionRunner(
        profile=Profile("lab", lab=True),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: {src.id: src}[sid],
        confirm=confirm,
    )
    try:

        async def fetch() -> dict[str, Any]:
            return {a.name: a for a in await src.fetch()}

        rows = await until(fetch, lambda r: "HighErrorRate" in r, FIRE_WITHIN)
        alert = rows["HighErrorRate"]
        assert (alert.severity, alert.state, alert.resource) == (
            Severity.CRITICAL, "firing", "api",
        )  # fmt: skip
        assert alert.reason.startswith("api 5xx rate is ")

        outcome = await runner.request(
            get_action("alert.silence"), alert, {"comment": "lab drill, looking at it"}
        )
        assert outcome.status == "ok", outcome.message
        [req] = asked
        assert req.command.startswith("amtool silence add ")
        rows = await until(
            fetch, lambda r: r["HighErrorRate"].state.startswith("silenced"), 10.0
        )
        assert rows["HighErrorRate"].severity is Severity.INFO
    finally:
        await src.close()


def test_a_bad_deploy_raises_the_error_rate_until_a_redeploy(lab: Lab) -> None:
    """Runs last on the shared lab: it leaves api's errors raised for a while."""
    prom = lab.extras["prometheus_url"]
    ecs = aws_client(lab.aws_endpoint, "ecs")

    def error_rate() -> float:
        expr = LAB_METRICS["error_rate"].replace("[1m]", "[4s]")  # the last scrapes only
        body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    assert error_rate() < 0.015
    lab.send("fail-next-deployment api")  # what the bad-deploy drill does
    ecs.update_service(cluster="production", service="api", forceNewDeployment=True)
    wait_until_sync(lambda: error_rate() > 0.025, timeout=30, interval=0.2)
    # The failed rollout is replaced by a good one: the errors go back to normal.
    primary = lambda: next(  # noqa: E731
        d for d in ecs.describe_services(cluster="production", services=["api"])["services"][0][
            "deployments"] if d["status"] == "PRIMARY"
    )  # fmt: skip
    wait_until_sync(lambda: primary()["rolloutState"] == "FAILED", timeout=30, interval=0.2)
    ecs.update_service(cluster="production", service="api", forceNewDeployment=True)
    wait_until_sync(lambda: error_rate() < 0.015, timeout=30, interval=0.2)


PARENT = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    os.environ["COCKPIT_LAB_SERVICES"] = "0"
    from cockpit.lab import start_lab
    lab = start_lab(with_servers=False)
    pids = [lab.pid, *lab.extras.get("monitoring_pids", [])]
    print(json.dumps({"pids": pids, "state_dir": str(lab.state_dir)}), flush=True)
    time.sleep(600)
    """
)


def test_no_prometheus_or_alertmanager_is_left_after_stop_or_a_killed_cockpit() -> None:
    _need_binaries()
    lab = _start()
    pids = list(lab.extras["monitoring_pids"])
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    lab.stop()
    assert not any(_alive(p) for p in pids)

    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(ROOT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line, "the parent did not start the lab"
        info = json.loads(line)
        pids = info["pids"]
        assert len(pids) == 3 and all(_alive(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    wait_until_sync(lambda: not any(_alive(p) for p in pids), timeout=10, interval=0.1)
    wait_until_sync(lambda: not Path(info["state_dir"]).exists(), timeout=5)


def test_without_the_binaries_the_alarms_pane_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.lab import promservers
    from cockpit.model import PaneKind

    monkeypatch.setattr(promservers, "prometheus_binary", lambda: None)
    extras = promlab.extras(tmp_path / "monitoring")
    assert extras == {
        "alarms_note": "prometheus not installed, so no lab Prometheus alerts: "
        "apt-get install prometheus prometheus-alertmanager"
    }
    assert not (tmp_path / "monitoring").exists()  # nothing started
    stub = Lab("http://127.0.0.1:1", None, None, {}, tmp_path, extras=extras)
    profile = stub.profile(Profile("lab", lab=True))
    assert profile.prometheus == () and profile.alertmanager == ()
    assert PaneKind("alarms")  # the key the app shows the note under
