"""What the main screen looks like, in each theme, at 160x48 and at 80x24."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.app import CockpitApp
from cockpit.model import LogLevel, PaneKind
from cockpit.profile import Profile

from .fakes import FakeEstate
from .helpers import wait_until

T_LOG = datetime(2026, 11, 25, 3, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Times on screen are local times: the baselines are drawn in UTC, whatever the machine's TZ,
    on a fixed day (an alarm's "since" shows its date when it is not today's)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr("widgets.alarms.now", lambda: T_LOG + timedelta(days=1))
    yield
    monkeypatch.undo()
    time.tzset()


def _app(theme: str, production: bool = False) -> tuple[CockpitApp, FakeEstate]:
    estate = FakeEstate()
    profile = Profile(name="production" if production else "staging",
                      description="snapshot estate", production=production, refresh=60)
    return CockpitApp(profile, theme=theme, sources_factory=estate.factory), estate


def _filled(estate: FakeEstate):
    async def run_before(pilot) -> None:
        app = pilot.app
        for i, (text, level) in enumerate([
            ("GET /v1/orders 200 43ms request_id=7f3a", LogLevel.INFO),
            ("slow request GET /v1/search 1800ms request_id=99c1", LogLevel.WARN),
            ("upstream timeout after 5000ms request_id=0b2e", LogLevel.ERROR),
        ]):
            estate.logs.push(text, level=level, when=T_LOG + timedelta(seconds=i))
        await wait_until(lambda: all(
            app.cockpit.panes[k].row_count() for k in
            (PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES, PaneKind.DATABASE)), 10)
        await wait_until(lambda: len(app.cockpit.logs.view.lines) == 3, 10)
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("theme", ["cockpit-dark", "cockpit-light", "war-room"])
@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_main_screen(snap_compare, theme, size):
    app, estate = _app(theme)
    assert snap_compare(app, terminal_size=size, run_before=_filled(estate))


def test_production_banner(snap_compare):
    app, estate = _app("cockpit-dark", production=True)
    assert snap_compare(app, terminal_size=(120, 30), run_before=_filled(estate))


def test_production_with_an_incident(snap_compare, monkeypatch):
    # The production marker stays beside the incident banner (issue 23); the clock is fixed.
    from widgets.incident import Incident

    started = T_LOG.timestamp()
    monkeypatch.setattr("widgets.incident.time.time", lambda: started + 192)
    app, estate = _app("cockpit-dark", production=True)
    fill = _filled(estate)

    async def run_before(pilot) -> None:
        await fill(pilot)
        app.cockpit.incident_banner.start(Incident("db down", "P2", started))
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_database_detail(snap_compare):
    # A database row's detail: every field as text, its actions in the footer.
    app, estate = _app("cockpit-dark")
    fill = _filled(estate)

    async def run_before(pilot) -> None:
        await fill(pilot)
        pane = app.cockpit.panes[PaneKind.DATABASE]
        pane.focus_body()
        await pilot.press("enter")
        await wait_until(lambda: type(app.screen).__name__ == "DetailScreen", 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
