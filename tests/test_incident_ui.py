"""Sentry and PagerDuty in the running cockpit (against the loopback servers of
cockpit/lab/incidentapis.py): their alarms in the Alarms pane, who is on call in the header,
`pagerduty: acknowledge` and `sentry: resolve` from the palette through the confirmation and
the audit, `incident: start` paging PagerDuty; and the tokens never on screen, in the audit
or in a recording."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cockpit.app import CockpitApp
from cockpit.lab.incidentapis import PagerDutyServer, SentryServer
from cockpit.model import PaneKind
from cockpit.profile import PagerDutyConfig, Profile, SecretRef, SentryConfig
from cockpit.record import recording_files
from screens.confirm import ConfirmScreen

from .helpers import wait_until
from .test_custom_actions import _screen
from .test_lab_actions import _palette

TOKEN = "sntrys_UI-t0ken-never-on-screen-4242"
PD_TOKEN = "pd-UI-t0ken-never-on-screen-2424"
ROUTING = "routing0key0never0on0screen0000"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[SentryServer, PagerDutyServer]]:
    monkeypatch.setenv("UI_SENTRY_TOKEN", TOKEN)
    (tmp_path / "pd-token").write_text(PD_TOKEN + "\n")
    os.chmod(tmp_path / "pd-token", 0o600)
    monkeypatch.setenv("UI_PD_ROUTING", ROUTING)
    sentry = SentryServer(TOKEN, "acme")
    sentry.add_issue("api", "OperationalError: db refused", culprit="api.db.connect", count=900, users=40,
                     first_seen=datetime.now(UTC) - timedelta(days=3), hourly=[0] * 23 + [700])
    pd = PagerDutyServer(PD_TOKEN)
    pd.add_user("PU1", "Ada Oncall", "ada@example.com")
    pd.add_service("PSVC1", "checkout", "PPOL1", [["PU1"]], ROUTING)
    pd.add_incident("PSVC1", "checkout errors")
    sentry.start()
    pd.start()
    yield sentry, pd
    sentry.stop()
    pd.stop()


def _profile(sentry: SentryServer, pd: PagerDutyServer, tmp_path: Path) -> Profile:
    return Profile(
        name="ops", refresh=0.5,
        sentry=(SentryConfig("main", "acme", SecretRef("env:UI_SENTRY_TOKEN"), url=sentry.url, projects=("api",)),),
        pagerduty=PagerDutyConfig(SecretRef(f"file:{tmp_path / 'pd-token'}"), services=("PSVC1",),
                                  user_email="ada@example.com", url=pd.url, events_url=pd.url,
                                  trigger_on_incident=True, routing_key=SecretRef("env:UI_PD_ROUTING")),
    )  # fmt: skip


def _inflate(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode()


def _audit() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


async def _confirm(app: CockpitApp, pilot) -> None:
    await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
    await pilot.press("tab", "enter")  # Cancel -> Confirm


async def test_alarms_oncall_actions_and_paging_with_tokens_kept_secret(servers, tmp_path: Path) -> None:
    sentry, pd = servers
    recording = tmp_path / "session.jsonl"
    app = CockpitApp(_profile(sentry, pd, tmp_path), record=str(recording))
    async with app.run_test(size=(160, 48)) as pilot:
        alarms = app.cockpit.panes[PaneKind.ALARMS]

        def names() -> set[str]:
            return {a.name for a in alarms.records.values()}

        await wait_until(lambda: {"API-1 OperationalError: db refused", "#1001 checkout errors"} <= names(), 15)
        await wait_until(lambda: "on call: Ada Oncall" in _screen(app), 10)
        screen = _screen(app)
        assert "spike" in screen and "triggered" in screen

        await _palette(pilot, "pagerduty: acknowledge #1001 checkout errors")
        await _confirm(app, pilot)
        await wait_until(lambda: pd.incidents["Q001001LAB"]["status"] == "acknowledged", 10)
        await wait_until(lambda: any(e.get("action") == "pagerduty.acknowledge" and e.get("phase") == "finished"
                                     for e in _audit()), 10)

        await _palette(pilot, "sentry: resolve API-1 OperationalError: db refused")
        await _confirm(app, pilot)
        await wait_until(lambda: sentry.issues["1"]["status"] == "resolved", 10)
        await wait_until(lambda: "API-1 OperationalError: db refused" not in names(), 10)

        from screens.incident import IncidentStartScreen

        app.action_incident_start()
        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen) and app.screen.query("#title"), 5)
        await pilot.pause()
        await pilot.press(*"checkout down", "enter")
        await wait_until(lambda: any(e["event_action"] == "trigger" for e in pd.events), 10)
        await wait_until(lambda: "#1002 P2 checkout down" in names(), 10)
        # incident: resolve resolves the page it made (same dedup_key), not another one.
        app.action_incident_resolve()
        await wait_until(lambda: any(e["event_action"] == "resolve" for e in pd.events), 10)
        (trigger,) = [e for e in pd.events if e["event_action"] == "trigger"]
        (resolve,) = [e for e in pd.events if e["event_action"] == "resolve"]
        assert resolve["dedup_key"] == trigger["dedup_key"]
        await wait_until(lambda: "#1002 P2 checkout down" not in names(), 10)
        final_screen = _screen(app)
        await pilot.press("q")

    audit = _audit()
    ack = [e for e in audit if e.get("action") == "pagerduty.acknowledge"]
    assert [e["phase"] for e in ack] == ["started", "finished"] and ack[-1]["outcome"] == "ok"
    assert "From: ada@example.com" in ack[0]["command"]
    assert any(e.get("action") == "sentry.resolve" and e.get("outcome") == "ok" for e in audit)
    notes = [e["summary"] for e in audit if e.get("type") == "note"]
    assert any(n.startswith("pagerduty: triggering an incident (error") for n in notes)
    assert any(n.startswith("pagerduty: incident triggered") for n in notes)
    assert any(n.startswith("pagerduty: incident resolved") for n in notes)
    audit_text = (Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl").read_text()
    recorded = "\n".join(p.read_bytes().decode("latin-1") + _inflate(p) for p in recording_files(recording))
    for secret in (TOKEN, PD_TOKEN, ROUTING):
        assert secret not in audit_text and secret not in recorded and secret not in final_screen
        assert secret not in screen
    assert "checkout errors" in recorded  # the recording has the alarms: it is the right file
