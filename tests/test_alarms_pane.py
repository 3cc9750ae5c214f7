"""The alarms pane: worst first (critical, warning, no data, ok), then the oldest; "since"
shows a date when it is not today. Fixed clock and time zone."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import widgets.alarms
from cockpit.app import CockpitApp
from cockpit.model import Alarm, PaneKind, Severity
from cockpit.profile import Profile

from .fakes import FakeEstate
from .helpers import wait_until

NOW = datetime(2026, 12, 7, 1, 37, tzinfo=UTC)


@pytest.fixture
def berlin() -> Iterator[None]:
    """Local time is Europe/Berlin (UTC+1 in December) for the test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def alarm(name: str, severity: Severity, state: str, ago_min: float | None) -> Alarm:
    since = None if ago_min is None else NOW - timedelta(minutes=ago_min)
    return Alarm(name, "fake:alarms", severity, state, "reason", since=since)


async def test_firing_alarms_come_before_no_data_then_oldest_first(berlin, monkeypatch):
    monkeypatch.setattr(widgets.alarms, "now", lambda: NOW, raising=False)
    estate = FakeEstate()
    estate.alarms.records = [
        alarm("api-p95-latency", Severity.UNKNOWN, "INSUFFICIENT_DATA", 300),
        alarm("disk-ok", Severity.OK, "OK", 500),
        alarm("queue-depth", Severity.WARNING, "ALARM", 2),
        alarm("z-new-critical", Severity.CRITICAL, "ALARM", 1),
        alarm("b-old-critical", Severity.CRITICAL, "firing", 60),
        alarm("a-no-since", Severity.CRITICAL, "ALARM", None),
    ]
    app = CockpitApp(Profile(name="test", refresh=0.2), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: pane.row_count() == 6, 5)
        names = [k.split("/", 1)[1] for k in pane.table.row_keys]
    assert names == [
        "b-old-critical", "z-new-critical", "a-no-since",  # critical: oldest first
        "queue-depth",
        "api-p95-latency",  # no data is below every firing alarm
        "disk-ok",
    ]  # fmt: skip


def test_since_shows_the_date_when_not_today(berlin):
    since_text = widgets.alarms.since_text
    # 01:37 UTC is 02:37 in Berlin on Dec 07.
    assert since_text(datetime(2026, 12, 7, 0, 22, tzinfo=UTC), NOW) == "01:22"
    six_hours_ago = datetime(2026, 12, 6, 18, 28, tzinfo=UTC)  # 19:28 Berlin, yesterday
    assert since_text(six_hours_ago, NOW) == "Dec 06 19:28"
    assert since_text(datetime(2026, 7, 7, 1, 0, tzinfo=UTC), NOW) == "Jul 07 03:00"
    assert since_text(datetime(2025, 12, 7, 1, 0, tzinfo=UTC), NOW) == "2025-12-07 02:00"
    assert since_text(None, NOW) == "–"


async def test_the_pane_shows_the_date_of_an_alarm_from_yesterday(berlin, monkeypatch):
    monkeypatch.setattr(widgets.alarms, "now", lambda: NOW, raising=False)
    estate = FakeEstate()
    estate.alarms.records = [alarm("cpu", Severity.CRITICAL, "ALARM", 6 * 60 + 9)]
    app = CockpitApp(Profile(name="test", refresh=0.2), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: pane.row_count() == 1, 5)
        cells = [str(c) for c in pane.table.get_row_at(0)]
    assert "Dec 06 20:28" in cells
