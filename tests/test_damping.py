"""Damping of the threshold alarms the cockpit computes: a condition fires once it has held
for ``thresholds.hold`` and clears once it has been gone as long; "since" is when it began
and stays put. Clocks are injected; nothing waits for real time to pass."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cockpit.audit import AlarmTracker, AuditLog
from cockpit.backends.health import HealthSource
from cockpit.backends.hosts import HostAlarmSource, build_host_sources
from cockpit.config import load_text
from cockpit.damping import Damper
from cockpit.model import Alarm, Severity
from cockpit.profile import HealthCheck, HostConfig, Profile, Thresholds
from cockpit.timeline import build_timeline

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def cpu(value: float) -> Alarm:
    return Alarm("box cpu", "s", Severity.CRITICAL, "ALARM", f"cpu at {value:.0f} % (above 80 %)")


def test_a_condition_fires_after_it_held_and_clears_after_it_was_gone():
    clock = Clock()
    d = Damper(60, clock)
    assert d.shown({"cpu": cpu(90)}) == []  # pending
    clock.advance(30)
    assert d.shown({"cpu": cpu(91)}) == []
    clock.advance(30)
    (fired,) = d.shown({"cpu": cpu(92)})
    assert fired.since == T0 and fired.reason == "cpu at 92 % (above 80 %)"
    clock.advance(10)
    (clearing,) = d.shown({})  # back under: still firing, and says so
    assert clearing.since == T0 and "back within the threshold since" in clearing.reason
    clock.advance(30)
    assert d.shown({"cpu": cpu(95)})[0].since == T0  # came back before clearing: same alarm
    clock.advance(10)
    d.shown({})
    clock.advance(59)
    assert len(d.shown({})) == 1
    clock.advance(1)
    assert d.shown({}) == []  # gone for 60 s: cleared


def test_a_spike_shorter_than_hold_never_fires_and_zero_hold_reports_what_it_sees():
    clock = Clock()
    d = Damper(60, clock)
    for _ in range(10):  # 50 s above, 10 s below, ten times: never 60 s in a row
        for _ in range(5):
            assert d.shown({"cpu": cpu(90)}) == []
            clock.advance(10)
        assert d.shown({}) == []
        clock.advance(10)
    now = Damper(0, clock)
    assert [a.since for a in now.shown({"cpu": cpu(90)})] == [clock.t]
    assert now.shown({}) == []


def test_a_backend_that_knows_when_it_began_fires_at_once():
    clock = Clock()
    d = Damper(60, clock)
    (fired,) = d.shown({"x": replace(cpu(90), since=T0 - timedelta(minutes=5))})
    assert fired.since == T0 - timedelta(minutes=5)


def test_hold_is_a_profile_key_with_a_one_minute_default(tmp_path: Path):
    base = "profiles:\n  p:\n    thresholds:\n"
    assert load_text(base + "      cpu: 80\n", tmp_path / "p.yaml").get("p").thresholds.hold == 60
    assert load_text(base + "      hold: 0\n", tmp_path / "p.yaml").get("p").thresholds.hold == 0
    with pytest.raises(Exception, match="hold"):
        load_text(base + "      hold: -1\n", tmp_path / "p.yaml")


async def test_a_flapping_host_cpu_is_one_firing_in_the_timeline(tmp_path: Path):
    """The local host's CPU crosses its threshold 14 times in 5 minutes (the threshold moves,
    the figures are this machine's real ones): one firing, one clearing."""
    cfg = HostConfig("local-box", local=True)
    profile = Profile(name="t", hosts=(cfg,), refresh=1, timeout=8)
    (_, alarms), _ = build_host_sources(profile)
    assert isinstance(alarms, HostAlarmSource)
    clock = Clock()
    alarms.damper.clock = clock
    audit = AuditLog(tmp_path / "audit.jsonl")
    tracker = AlarmTracker(audit, "t")

    async def refresh(above: bool) -> list[Alarm]:
        alarms.thresholds = Thresholds(cpu=-1 if above else 101)  # always / never above
        found = [a for a in await alarms.fetch() if a.name == "local-box cpu"]
        tracker.observe(alarms.id, found)
        clock.advance(10)
        return found

    try:
        for _ in range(7):  # 70 s above: it fires
            shown = await refresh(True)
        assert [a.since for a in shown] == [T0]
        for i in range(28):  # 14 times below and back within 5 minutes
            shown = await refresh(i % 2 == 1)
            assert [a.since for a in shown] == [T0]  # one alarm, since the first breach
        for _ in range(7):  # 70 s below: it clears
            shown = await refresh(False)
        assert shown == []
    finally:
        await alarms.close()
    events = [e for e in build_timeline(audit.read()) if e.type == "alarm"]
    assert [e.outcome for e in events] == ["ALARM", "OK"]



async def test_a_threshold_a_drill_lowers_fires_on_the_next_refresh():
    """The disk-full drill lowers a threshold: a deliberate condition, not a noisy figure."""
    cfg = HostConfig("drill-box", local=True)
    (_, alarms), _ = build_host_sources(Profile(name="t", hosts=(cfg,), refresh=1, timeout=8))
    try:
        alarms.overrides.set("memory", 0)
        assert [a.name for a in await alarms.fetch()] == ["drill-box memory"]
        alarms.overrides.set("memory", None)
        assert await alarms.fetch() == []
    finally:
        await alarms.close()


class _Health(BaseHTTPRequestHandler):
    status = 500

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "error"}' if _Health.status != 200 else b'{"status": "ok"}'
        self.send_response(_Health.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


async def test_a_failing_health_check_fires_after_hold_and_says_since_when(health_url: str):
    clock = Clock()
    src = HealthSource([HealthCheck("api", health_url, timeout=5)], 2000, 60, clock)
    try:
        _Health.status = 500
        (pending,) = await src.fetch()
        assert (pending.severity, pending.state) == (Severity.OK, "OK")
        assert pending.reason.startswith("HTTP 500 for 0 s (an alarm after 60 s): HTTP 500 in ")
        clock.advance(60)
        (fired,) = await src.fetch()
        assert (fired.severity, fired.state, fired.since) == (Severity.CRITICAL, "HTTP 500", T0)
        _Health.status = 200
        clock.advance(30)
        (clearing,) = await src.fetch()
        assert clearing.severity is Severity.CRITICAL and "back within the threshold" in clearing.reason
        clock.advance(60)
        (ok,) = await src.fetch()
        assert (ok.severity, ok.state) == (Severity.OK, "OK")
    finally:
        await src.close()
