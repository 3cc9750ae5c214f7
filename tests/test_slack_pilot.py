"""Issue 26 (Slack): `incident: post update` from the palette shows the exact text, lands on a
loopback Slack webhook with that text, and is in the audit and the timeline; refused in
read-only; `incident: start`/`resolve` post when the profile says so; `incident: post report`
sends the timeline's report. The webhook URL is never on screen, in the audit or in a
recording."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.app import CockpitApp
from cockpit.profile import NotifyConfig, Profile, SecretRef
from cockpit.record import read_recording
from cockpit.timeline import build_timeline
from screens.confirm import ConfirmScreen, ParamsScreen
from screens.incident import IncidentStartScreen

from .fakes import FakeEstate
from .helpers import wait_until
from .test_lab_actions import _palette


@pytest.fixture
def slack(monkeypatch) -> Iterator:
    from cockpit.lab.slacklab import SlackLab

    with SlackLab("#incidents") as lab:
        monkeypatch.setenv("SLACK_WEBHOOK", lab.webhook_url)
        yield lab


def _profile(**kw) -> Profile:
    notify = NotifyConfig(SecretRef("env:SLACK_WEBHOOK"), "#incidents", **kw)
    return Profile(name="ops", refresh=0.5, notify=notify)


def _app(profile: Profile, **kw) -> CockpitApp:
    return CockpitApp(profile, sources_factory=FakeEstate().factory, **kw)


def _screen(app: CockpitApp) -> str:
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\u00a0", " ")


def _notices(app: CockpitApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


def _audit_text() -> str:
    return (Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl").read_text()


def _secret(slack) -> str:
    return slack.path.rsplit("/", 1)[-1]


async def test_post_update_from_the_palette_lands_with_the_confirmed_text(slack, tmp_path):
    recording = tmp_path / "run.cz"
    app = _app(_profile(), record=str(recording))
    secret = _secret(slack)
    async with app.run_test(size=(160, 48)) as pilot:
        await _palette(pilot, "incident: post update")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        await pilot.press(*"api errors back to normal; watching")
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        dialog = _screen(app)
        assert "api errors back to normal; watching" in str(app.screen.query_one("#preview").render())
        assert "#incidents" in str(app.screen.query_one("#target").render())
        command = str(app.screen.query_one("#command").render())
        assert command.startswith("curl -X POST") and command.endswith("/***'")
        assert secret not in dialog and "/services/" not in dialog
        assert slack.texts() == []  # nothing goes before the confirmation
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: slack.texts(), 10)
        assert slack.texts() == ["api errors back to normal; watching"]
        await wait_until(lambda: '"outcome": "ok"' in _audit_text(), 5)
        await wait_until(lambda: "posted to #incidents" in _notices(app), 5)
        assert secret not in _screen(app) + _notices(app)

        # the limit: a second update at once is refused before its text is asked, and says why
        await _palette(pilot, "incident: post update")
        await wait_until(lambda: "try again in" in _notices(app), 5)
        assert not isinstance(app.screen, ParamsScreen) and len(slack.texts()) == 1

        # the timeline shows what was posted
        entries = app.runner.audit.read()
        summaries = [e.summary for e in build_timeline(entries)]
        assert any(s.startswith("incident: post update #incidents (text=api errors back to normal; watching)")
                   and s.endswith(": ok") for s in summaries), summaries
        await pilot.press("q")
    audit = _audit_text()
    assert secret not in audit and "/services/" not in audit
    assert '"action": "incident.post_update"' in audit and '"phase": "started"' in audit
    assert '"outcome": "refused", "error": "unavailable"' in audit  # the refusal is audited too
    events = read_recording(recording)
    assert any(e.get("kind") == "action" for e in events)
    assert secret not in str(events) and "/services/" not in str(events)


async def test_post_update_is_refused_in_read_only(slack):
    app = _app(_profile(), read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _palette(pilot, "incident: post update")
        await wait_until(lambda: "read-only" in _notices(app), 5)
        assert not isinstance(app.screen, ParamsScreen | ConfirmScreen)
        await pilot.press("q")
    assert slack.requests == 0
    assert '"error": "read-only"' in _audit_text()


async def test_incident_start_and_resolve_post_when_the_profile_says_so(slack):
    app = _app(_profile(post_on_start=True, post_on_resolve=True))
    async with app.run_test(size=(160, 48)) as pilot:
        await _palette(pilot, "incident: start")
        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen), 5)
        assert "posts the title and severity to #incidents" in str(app.screen.query_one("#posts-to").render())
        await pilot.press(*"api 5xx <after> deploy", "enter")
        await wait_until(lambda: len(slack.texts()) == 1, 10)
        assert slack.texts()[0].startswith(":rotating_light: P2 incident started: api 5xx &lt;after&gt; deploy")
        # the automatic post does not hold back a person's update
        await _palette(pilot, "incident: post update")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        await pilot.press("escape")
        slack.fail_next(503)  # Slack fails: the incident still resolves, the failure is said
        await _palette(pilot, "incident: resolve")
        await wait_until(lambda: "not posted to #incidents" in _notices(app), 10)
        assert app.cockpit.incident_banner.incident.resolved is not None
        assert "HTTP 503" in _notices(app) and _secret(slack) not in _notices(app) + _screen(app)
        await pilot.press("q")
    audit = _audit_text()
    assert '"confirmed_by": "profile notify.post_on_start"' in audit
    assert '"origin": "incident: resolve"' in audit and '"outcome": "failed"' in audit
    assert _secret(slack) not in audit


async def test_post_report_sends_the_timeline_report_after_showing_it(slack):
    app = _app(_profile())
    async with app.run_test(size=(160, 48)) as pilot:
        await _palette(pilot, "incident: start")
        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen), 5)
        await pilot.press(*"checkout down", "enter")
        await wait_until(lambda: app.cockpit.incident_banner.incident is not None, 5)
        await _palette(pilot, "incident: post report")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        shown = str(app.screen.query_one("#preview").render())
        # Slack's own formatting (mrkdwn), which has no headings and one star for bold: the
        # channel would show '# ' and '**' as typed.
        assert shown.startswith("*Incident report: checkout down*")
        assert "*Severity:* P2 (declared)" in shown and "incident started: P2 checkout down" in shown
        assert "**" not in shown and "\n#" not in shown and not shown.startswith("#")
        await pilot.press("tab", "enter")
        await wait_until(lambda: slack.texts(), 10)
        [posted] = slack.texts()
        for heading in ("*Impact*", "*Timeline*", "*Resolution*", "*Action items*"):
            assert f"\n{heading}\n" in posted
        assert posted == shown
        await pilot.press("q")
    assert '"action": "incident.post_report"' in _audit_text()


async def test_on_the_lab_a_post_update_lands_on_the_labs_slack_page():
    import json
    import urllib.request

    from cockpit.config import BUNDLED, load_config
    from cockpit.lab import start_lab

    labs: list = []

    def starter():
        labs.append(start_lab(with_servers=False))
        return labs[0]

    profile = load_config(BUNDLED).get("lab")
    assert profile.notify is not None and profile.notify.slack_webhook is None  # the lab's own
    app = CockpitApp(profile, start_lab=starter)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.notifier is not None, 60)
        page = labs[0].extras["slack_page"]
        await wait_until(lambda: f"Slack channel #incidents: {page}" in _notices(app), 5)
        await _palette(pilot, "incident: post update")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        await pilot.press(*"drill: api rolled back, errors falling")
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")

        def posted() -> list[str]:
            with urllib.request.urlopen(page + "messages.json", timeout=5) as r:
                return [m["text"] for m in json.load(r)]

        await wait_until(lambda: posted(), 10)
        assert posted() == ["drill: api rolled back, errors falling"]
        with urllib.request.urlopen(page, timeout=5) as r:
            assert "drill: api rolled back, errors falling" in r.read().decode()
        secret = labs[0].extras["slack_webhook"].rsplit("/", 1)[-1]
        assert secret not in _screen(app) + _notices(app)
        await pilot.press("q")
    assert secret not in _audit_text()
