"""Alertmanager backend against a real private Alertmanager: alerts posted by the test,
silences created through the action runner (and through the amtool command it shows)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cockpit.actions import ActionRunner, ConfirmRequest, available_actions, get_action
from cockpit.audit import AuditLog
from cockpit.backends.alertmanager import AlertmanagerSource, group_alerts, parse_duration
from cockpit.backends.base import DetailProvider, Explainable, Silenceable, SilenceExpirable
from cockpit.errors import ActionRefused, BackendError
from cockpit.model import Severity
from cockpit.profile import AlertmanagerConfig, Profile, SecretRef
from cockpit.text import sanitize
from tests.conftest import skip_or_fail

HOSTILE = "[bold red]disk[/] \x1b[31mfull\x1b[0m \x1b]0;pwned\x07on /var"


def post_alerts(url: str, *alerts: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    body = [
        {
            "labels": a["labels"],
            "annotations": a.get("annotations", {}),
            "startsAt": (now - timedelta(minutes=a.get("ago", 1))).isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
        }
        for a in alerts
    ]
    httpx.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def api_silences(url: str) -> list[dict[str, Any]]:
    return [
        s
        for s in httpx.get(f"{url}/api/v2/silences", timeout=5).json()
        if s["status"]["state"] == "active"
    ]


def seed(url: str) -> None:
    post_alerts(
        url,
        {"labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "api",
                    "instance": "api-1"},
         "annotations": {"summary": "api 5xx above 5 %"}, "ago": 3},
        {"labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "api",
                    "instance": "api-2"},
         "annotations": {"summary": "api 5xx above 5 %"}, "ago": 2},
        {"labels": {"alertname": "DiskFull", "severity": "warning", "instance": "db-1"},
         "annotations": {"description": HOSTILE}},
    )  # fmt: skip


def source(url: str, timeout: float = 5.0) -> AlertmanagerSource:
    return AlertmanagerSource(AlertmanagerConfig("main", SecretRef(url)), timeout=timeout)


async def fetch_until(src: AlertmanagerSource, cond, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Fetch until ``cond(rows by name)`` holds (Alertmanager applies silences asynchronously)."""
    rows: dict[str, Any] = {}

    async def refresh() -> None:
        rows.clear()
        rows.update({a.name: a for a in await src.fetch()})

    deadline = time.monotonic() + timeout
    await refresh()
    while not cond(rows) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # polling with a deadline, not synchronising
        await refresh()
    assert cond(rows), rows
    return rows


async def test_alerts_are_grouped_with_labels_and_safe_annotations(alertmanager_server) -> None:
    seed(alertmanager_server.url)
    src = source(alertmanager_server.url)
    try:
        rows = await fetch_until(src, lambda r: len(r) == 2)
        high, disk = rows["HighErrorRate"], rows["DiskFull"]
        assert (high.severity, high.state, high.resource) == (
            Severity.CRITICAL, "firing ×2", "api",
        )  # fmt: skip
        assert high.reason == "api 5xx above 5 %"
        assert high.since is not None
        assert datetime.now(UTC) - high.since > timedelta(minutes=2)  # the oldest alert's start
        assert (disk.severity, disk.state, disk.resource) == (Severity.WARNING, "firing", "db-1")
        # Stored safe: markup literal, colour dropped, the OSC title change visible.
        assert disk.reason == "[bold red]disk[/] full ␛]0;pwned␇on /var"
        assert sanitize(disk.reason) == disk.reason
        assert [a.name for a in await src.fetch()] == ["HighErrorRate", "DiskFull"]  # worst first

        assert isinstance(src, DetailProvider) and isinstance(src, Explainable)
        alerts, annotations, matchers = await src.detail(high)
        assert [r[0] for r in alerts.rows] == [
            "instance=api-1, service=api, severity=critical",
            "instance=api-2, service=api, severity=critical",
        ]
        assert annotations.rows == (("summary", "api 5xx above 5 %"),)
        assert matchers.lines == (
            'alertname="HighErrorRate"', 'service="api"', 'severity="critical"',
        )  # fmt: skip
        assert src.explain_command() == [
            "amtool", "alert", "query", f"--alertmanager.url={alertmanager_server.url}",
        ]  # fmt: skip
    finally:
        await src.close()


async def test_silence_through_the_runner_is_audited_and_expiring_unsilences(
    alertmanager_server, tmp_path: Path
) -> None:
    url = alertmanager_server.url
    seed(url)
    src = source(url)
    audit = tmp_path / "audit.jsonl"
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> bool:
        asked.append(req)
        return True

    runner = ActionRunner(
        profile=Profile(name="ops"),
        audit=AuditLog(audit),
        resolve_backend=lambda sid: {src.id: src}[sid],
        confirm=confirm,
    )
    try:
        rows = await fetch_until(src, lambda r: len(r) == 2)
        high = rows["HighErrorRate"]
        assert isinstance(src, Silenceable) and isinstance(src, SilenceExpirable)
        assert {s.id for s in available_actions(high, src)} == {
            "alert.silence", "alert.expire_silence",
        }  # fmt: skip

        outcome = await runner.request(
            get_action("alert.silence"), high, {"comment": "deploy 4711 rolling back"}
        )
        assert outcome.status == "ok", outcome.message
        assert outcome.message.startswith("silenced HighErrorRate for 1h (silence ")
        [req] = asked
        assert req.typed is False and req.params["duration"] == "1h"  # the default
        assert req.command.startswith(f"amtool silence add --alertmanager.url={url} --author=")
        assert req.command.endswith(
            "--duration=1h '--comment=deploy 4711 rolling back' "
            "'alertname=\"HighErrorRate\"' 'service=\"api\"' 'severity=\"critical\"'"
        )

        # Alertmanager has the silence, matching exactly the two grouped alerts.
        [silence] = api_silences(url)
        assert silence["comment"] == "deploy 4711 rolling back"
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
            ("alertname", "HighErrorRate"), ("service", "api"), ("severity", "critical"),
        }  # fmt: skip
        ends = datetime.fromisoformat(silence["endsAt"]) - datetime.now(UTC)
        assert timedelta(minutes=58) < ends <= timedelta(hours=1)
        rows = await fetch_until(src, lambda r: r["HighErrorRate"].state == "silenced ×2")
        assert rows["HighErrorRate"].severity is Severity.INFO  # sinks below what needs someone
        assert rows["DiskFull"].state == "firing"

        [started, entry] = [json.loads(x) for x in audit.read_text().splitlines()]
        assert (started["phase"], entry["phase"], started["id"]) == ("started", "finished", entry["id"])
        assert (entry["action"], entry["outcome"], entry["target"]) == (
            "alert.silence", "ok", "HighErrorRate",
        )  # fmt: skip
        assert entry["params"] == {"duration": "1h", "comment": "deploy 4711 rolling back"}
        assert entry["command"] == outcome.command

        expired = await runner.request(get_action("alert.expire_silence"), rows["HighErrorRate"])
        assert expired.status == "ok", expired.message
        assert expired.command == f"amtool silence expire --alertmanager.url={url} {silence['id']}"
        assert api_silences(url) == []
        rows = await fetch_until(src, lambda r: r["HighErrorRate"].state == "firing ×2")
        assert rows["HighErrorRate"].severity is Severity.CRITICAL
        assert len(audit.read_text().splitlines()) == 4  # started and finished, twice
    finally:
        await src.close()


async def test_read_only_refuses_silences_and_alertmanager_is_untouched(
    alertmanager_server, tmp_path: Path
) -> None:
    seed(alertmanager_server.url)
    src = source(alertmanager_server.url)

    async def confirm(req: ConfirmRequest) -> bool:
        raise AssertionError("read-only must refuse before asking")

    runner = ActionRunner(
        profile=Profile(name="ops", read_only=True),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: src,
        confirm=confirm,
    )
    try:
        rows = await fetch_until(src, lambda r: len(r) == 2)
        outcome = await runner.request(
            get_action("alert.silence"), rows["DiskFull"], {"comment": "x"}
        )
    finally:
        await src.close()
    assert outcome.status == "refused" and "read-only" in outcome.message
    assert api_silences(alertmanager_server.url) == []


async def test_silence_needs_a_comment_and_a_valid_duration(alertmanager_server, tmp_path) -> None:
    seed(alertmanager_server.url)
    src = source(alertmanager_server.url)
    runner = ActionRunner(
        profile=Profile(name="ops"),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: src,
        confirm=lambda req: pytest.fail("refused before confirmation"),  # type: ignore[arg-type,return-value]
    )
    try:
        rows = await fetch_until(src, lambda r: len(r) == 2)
        spec = get_action("alert.silence")
        no_comment = await runner.request(spec, rows["DiskFull"])
        blank = await runner.request(spec, rows["DiskFull"], {"comment": "  "})
        bad = await runner.request(spec, rows["DiskFull"], {"comment": "x", "duration": "soon"})
    finally:
        await src.close()
    assert no_comment.status == "refused" and "needs comment" in no_comment.message
    assert blank.status == "refused" and "comment (why, and for whom) is required" in blank.message
    assert bad.status == "refused" and "'soon' is not a duration" in bad.message
    assert api_silences(alertmanager_server.url) == []


async def test_shown_amtool_command_creates_the_same_silence(alertmanager_server) -> None:
    if shutil.which("amtool") is None:
        skip_or_fail("amtool is not installed (apt-get install prometheus-alertmanager)")
    seed(alertmanager_server.url)
    src = source(alertmanager_server.url)
    try:
        rows = await fetch_until(src, lambda r: len(r) == 2)
        argv = src.silence_command(rows["HighErrorRate"], "2h", 'rollback "4711"')
    finally:
        await src.close()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    [silence] = api_silences(alertmanager_server.url)
    assert silence["comment"] == 'rollback "4711"'
    assert {(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]} == {
        ("alertname", "HighErrorRate", False), ("service", "api", False),
        ("severity", "critical", False),
    }  # fmt: skip


async def test_hung_alertmanager_fails_within_its_timeout(hung_endpoint) -> None:
    src = source(hung_endpoint, timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(BackendError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert time.monotonic() - started < 3
    assert e.value.message == (
        f"alerts: Alertmanager main at {hung_endpoint} did not answer within 1 s"
    )
    assert "firewall" in e.value.hint


async def test_unreachable_alertmanager_says_so() -> None:
    src = source("http://127.0.0.1:1")
    try:
        with pytest.raises(BackendError) as e:
            await src.fetch()
    finally:
        await src.close()
    assert e.value.message.startswith("alerts: cannot connect to Alertmanager main")


async def test_silencing_a_resolved_alert_says_so(alertmanager_server) -> None:
    src = source(alertmanager_server.url)
    try:
        assert await src.fetch() == []
        from cockpit.model import Alarm

        gone = Alarm("HighErrorRate", src.id, Severity.CRITICAL, "firing", "")
        with pytest.raises(BackendError) as e:
            await src.silence(gone, "1h", "x")
        assert "no longer in Alertmanager main" in e.value.message
    finally:
        await src.close()


# --- pure -------------------------------------------------------------------------------


def test_grouping_dedupes_by_fingerprint_and_splits_severities() -> None:
    def alert(fp: str, sev: str, inst: str, silenced: bool = False) -> dict[str, Any]:
        return {
            "fingerprint": fp,
            "labels": {"alertname": "CPU", "severity": sev, "instance": inst},
            "annotations": {"summary": f"cpu on {inst}"},
            "startsAt": "2026-01-01T00:00:00Z",
            "status": {"silencedBy": ["s1"] if silenced else [], "inhibitedBy": []},
        }

    pairs = group_alerts(
        [alert("a", "warning", "h1"), alert("a", "warning", "h1"),
         alert("b", "warning", "h2", silenced=True), alert("c", "critical", "h3")],
        "am",
    )  # fmt: skip
    rows = {a.name: a for a, _ in pairs}
    assert set(rows) == {"CPU (warning)", "CPU (critical)"}
    assert rows["CPU (warning)"].state == "firing (1/2 muted) ×2"
    assert rows["CPU (warning)"].resource == "h1, h2"
    assert rows["CPU (critical)"].resource == "h3"
    groups = {a.name: g for a, g in pairs}
    assert groups["CPU (warning)"].matchers == (("alertname", "CPU"), ("severity", "warning"))
    assert groups["CPU (warning)"].silence_ids == ("s1",)


def test_durations() -> None:
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "1", "h", "1 h", "-1h", "0m", "1.5h"):
        with pytest.raises(ActionRefused):
            parse_duration(bad)


async def test_hub_shows_a_hung_prometheus_while_alerts_keep_coming(
    alertmanager_server, hung_endpoint
) -> None:
    """A hanging backend becomes an error on its pane; the other source is not held up."""
    from cockpit.backends.prometheus import PrometheusSource
    from cockpit.hub import Hub, SourceUpdate
    from cockpit.profile import PrometheusConfig

    seed(alertmanager_server.url)
    prom = PrometheusSource(PrometheusConfig("main", SecretRef(hung_endpoint)), timeout=1.0)
    am = source(alertmanager_server.url)
    updates: list[SourceUpdate] = []
    hub = Hub([prom, am], on_update=updates.append, on_logs=lambda b: None,
              interval=0.2, timeout=5.0)  # fmt: skip
    hub.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(u.error for u in updates):
            await asyncio.sleep(0.05)
        am_updates = [u for u in updates if u.source_id == am.id and u.records]
        prom_errors = [u for u in updates if u.source_id == prom.id and u.error]
    finally:
        await hub.stop()
    assert prom_errors, updates
    assert prom_errors[0].error.endswith("did not answer within 1 s")
    assert "firewall" in prom_errors[0].hint
    # Alertmanager refreshed several times while Prometheus hung for its full second.
    assert len(am_updates) >= 2
    assert {a.name for a in am_updates[-1].records} == {"HighErrorRate", "DiskFull"}
