"""The incident loop on the shipped lab profile, the way a trainee runs it: what the on-call
engineer found wrong when trying the merged Sentry / PagerDuty / Slack work on the lab."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cockpit.app import CockpitApp
from cockpit.config import load_config
from cockpit.lab import start_lab
from cockpit.lab.incidentlab import lab_state

from .helpers import wait_until
from .test_custom_actions import _screen

ROOT = Path(__file__).resolve().parent.parent


def _lab_app() -> CockpitApp:
    profile = replace(load_config(ROOT / "profiles.yaml").get("lab"), refresh=0.5)
    return CockpitApp(profile, start_lab=lambda: start_lab(with_servers=False))


async def test_on_the_lab_incident_start_pages_pagerduty_and_resolve_resolves_it() -> None:
    """The lab profile says `incident: start` pages (its PagerDuty has trigger_on_incident):
    the lab's PagerDuty gets the trigger, and resolve resolves it (both were skipped: the
    cockpit read the profile from before the lab filled in its PagerDuty)."""
    from screens.incident import IncidentStartScreen

    app = _lab_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.lab is not None and "on call: Ada Trainee" in _screen(app), 60)
        app.action_incident_start()
        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen) and app.screen.query("#title"), 5)
        await pilot.pause()
        await pilot.press(*"api down", "enter")
        url = app.lab.extras["pagerduty_url"]
        await wait_until(lambda: any(e.get("event_action") == "trigger" for e in lab_state(url)["events"]), 15)
        app.action_incident_resolve()
        await wait_until(lambda: any(e.get("event_action") == "resolve" for e in lab_state(url)["events"]), 15)
        await pilot.press("q")
        await pilot.press("tab", "enter")  # "quit anyway" is not asked: the incident is resolved


async def test_the_start_dialog_says_whole_that_it_posts_and_pages_at_80x24() -> None:
    """The start dialog's standing confirmation was cut at the dialog's edge ("(notify.po")
    and said nothing of the page that Start sends too."""
    from textual.app import App

    from screens.incident import IncidentStartScreen

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(IncidentStartScreen("#incidents", pages=True))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen) and app.screen.query("#title"), 5)
        await pilot.pause()
        screen = _screen(app)
        assert "to #incidents" in screen and "(notify.post_on_start)" in screen  # wrapped, not cut
        assert "Start also pages PagerDuty (pagerduty.trigger_on_incident)" in screen
        assert " Start " in screen and " Cancel " in screen


async def test_who_is_on_call_stays_in_the_header_in_an_incident_and_on_a_detail_screen() -> None:
    """The header's "on call: Ada Trainee" went as soon as it mattered most: the incident
    banner covered it, and a row's detail screen had a header without it."""
    from tests.test_dialogs_banner import start_incident, top_line

    app = _lab_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.lab is not None and "on call: Ada Trainee" in top_line(app), 60)
        from cockpit.model import PaneKind

        services = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: services.records, 30)
        services.table.focus()
        await pilot.press("enter")  # the focused Services row's detail
        await wait_until(lambda: app.screen is not app.cockpit, 5)
        await pilot.pause()
        assert "on call: Ada Trainee" in top_line(app)
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)
        await start_incident(app, pilot, "api down")
        assert "INCIDENT: api down" in top_line(app) and "on call: Ada Trainee" in top_line(app)
        app.action_incident_resolve()
        await pilot.press("q")


async def test_who_is_on_call_is_in_the_header_at_80x24() -> None:
    """Over SSH at 80x24 the header read "LAB: lab-two-regions  Embedded lab in two regions,
    one estate each  ·  on cal…": the profile's description pushed who is on call off the line."""
    from tests.test_dialogs_banner import top_line

    profile = replace(load_config(ROOT / "profiles.yaml").get("lab-two-regions"), refresh=0.5)
    app = CockpitApp(profile, start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: app.lab is not None and app.cockpit.banner.oncall, 60)
        await pilot.pause()
        assert "on call: Ada Trainee" in top_line(app)[:78], top_line(app)  # what 80 columns show
        await pilot.press("q")
