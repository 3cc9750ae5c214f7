"""The lab's Sentry and PagerDuty: the lab profile reads them, and the api-down drill shows an
error spike and a triggered page that the trainee acknowledges from the cockpit's actions, which
changes the incident on the lab's PagerDuty server (in the lab's own process)."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.actions import ActionRunner, ConfirmRequest
from cockpit.audit import AuditLog
from cockpit.lab import Lab, start_lab
from cockpit.lab.drills import DRILLS, DrillSession
from cockpit.lab.incidentlab import PAGE_TITLE, SPIKE_TITLE, lab_state
from cockpit.model import Severity
from cockpit.profile import Profile
from cockpit.registry import get_action
from cockpit.sources import build_sources
from cockpit.timeline import build_timeline


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = start_lab(with_servers=False)
    try:
        yield lab
    finally:
        lab.stop()


async def test_api_down_spikes_sentry_and_pages_and_the_ack_reaches_the_lab(lab: Lab, tmp_path: Path) -> None:
    token_file = Path(lab.extras["incident_token_file"])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    profile = lab.profile(Profile(name="lab", lab=True))
    assert profile.pagerduty is not None and profile.pagerduty.trigger_on_incident
    sources = {s.id: s for s in build_sources(profile, lab.notes).sources}
    sentry, pd = sources["sentry:lab"], sources["pagerduty"]
    quiet = {a.name: a for a in await sentry.fetch()}
    assert any("KeyError: 'currency'" in n for n in quiet) and not any(SPIKE_TITLE in n for n in quiet)
    assert await pd.fetch() == []
    assert pd.oncall_text == "on call: Ada Trainee"

    audit = AuditLog(tmp_path / "audit.jsonl")

    async def confirm(req: ConfirmRequest) -> bool | str:
        return req.expected if req.typed else True

    runner = ActionRunner(profile=profile, audit=audit, resolve_backend=sources.__getitem__, confirm=confirm)
    session = DrillSession(DRILLS["api-down"], lab, audit, profile, actions_running=runner.running)
    await session.start()
    try:
        spike = next(a for a in await sentry.fetch() if SPIKE_TITLE in a.name)
        assert spike.state == "spike" and spike.severity is Severity.CRITICAL and "last hour 1200" in spike.reason
        (page,) = await pd.fetch()
        assert page.name.endswith(PAGE_TITLE) and page.state == "triggered" and page.severity is Severity.CRITICAL
        outcome = await runner.request(get_action("pagerduty.acknowledge"), page, None)
        assert outcome.ok, outcome.message
        (incident,) = lab_state(lab.extras["pagerduty_url"])["incidents"].values()
        assert incident["status"] == "acknowledged"
        (page,) = await pd.fetch()
        assert page.state == "acknowledged"
        outcome = await runner.request(get_action("pagerduty.add_note"), page, {"note": "restarting api"})
        assert outcome.ok, outcome.message
    finally:
        await session.abort()
        for src in sources.values():
            await src.close()
    incidents = lab_state(lab.extras["pagerduty_url"])["incidents"]
    assert [(i["status"], i["notes"]) for i in incidents.values()] == [("resolved", ["restarting api"])]
    timeline = [e.summary for e in build_timeline(audit.read())]
    assert any("pagerduty: acknowledge" in s for s in timeline), timeline
    text = (tmp_path / "audit.jsonl").read_text()
    assert token not in text and "pagerduty.acknowledge" in text
    assert json.loads(text.splitlines()[0])  # the audit is intact JSON lines


async def test_in_the_cockpit_the_drill_pages_and_the_trainee_acknowledges_it() -> None:
    """The issue's done-when, on the lab in the running cockpit: the api-down drill shows the
    Sentry spike and the triggered page; `pagerduty: acknowledge` from the palette changes the
    incident on the lab's PagerDuty server, and the acknowledgement is in the timeline."""
    from cockpit.app import CockpitApp
    from cockpit.model import PaneKind
    from screens.confirm import ConfirmScreen

    from .helpers import wait_until
    from .test_custom_actions import _screen
    from .test_lab_actions import _palette
    from .test_lab_drill_ui import _confirm_drill_start

    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=0.5),
                     start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        alarms = app.cockpit.panes[PaneKind.ALARMS]

        def named(part: str) -> list[str]:
            return [a.name for a in alarms.records.values() if part in a.name]

        await wait_until(lambda: named("KeyError: 'currency'"), 40)
        await wait_until(lambda: "on call: Ada Trainee" in _screen(app), 10)
        app.start_drill("api-down")
        await _confirm_drill_start(app, pilot, "api-down")
        await wait_until(lambda: named(SPIKE_TITLE[:30]) and named(PAGE_TITLE), 30)
        (page,) = named(PAGE_TITLE)
        await _palette(pilot, f"pagerduty: acknowledge {page}")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        url = app.lab.extras["pagerduty_url"]
        await wait_until(lambda: [i["status"] for i in lab_state(url)["incidents"].values()] == ["acknowledged"], 15)
        await wait_until(lambda: any(e.get("action") == "pagerduty.acknowledge" and e.get("outcome") == "ok"
                                     for e in app.runner.audit.read()), 10)
        timeline = [e.summary for e in build_timeline(app.runner.audit.read())]
        assert any("pagerduty: acknowledge" in s for s in timeline), timeline
        await pilot.press("q")
