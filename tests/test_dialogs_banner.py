"""Habits on-call engineers bring from k9s, htop and pg_activity: the production marker
never leaves the screen, dialogs offer only what can succeed and say what they destroy,
Esc cancels (and clears a kept filter), Ctrl+S works over a dialog, help says each key once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.widgets import Button, Static

from cockpit.app import CockpitApp
from cockpit.model import PaneKind, QueueStatus, ServiceStatus, Severity
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen
from screens.detail import describe
from screens.help import HelpScreen

from .fakes import FakeEstate, ListSource
from .helpers import wait_until


class PurgeableQueues(ListSource):
    """The fake SQS source, able to purge its dead-letter queue (and recording it)."""

    def __init__(self, records: list) -> None:
        super().__init__("fake:sqs", PaneKind.QUEUES, records, "SQS")
        self.purged: list[str] = []

    def purge_dlq_command(self, t: QueueStatus) -> list[str]:
        return ["aws", "sqs", "purge-queue", "--queue-url", t.dlq_name]

    async def purge_dlq(self, t: QueueStatus) -> str:
        self.purged.append(t.dlq_name)
        return f"purged {t.dlq_name}"


class RollbackServices(ListSource):
    """The fake ECS source; ``previous`` is what a rollback would return to (None: nothing)."""

    def __init__(self, previous: str | None) -> None:
        from .fakes import services

        super().__init__("fake:ecs", PaneKind.SERVICES, services(), "ECS production")
        self.previous = previous
        self.rolled_back: list[str] = []

    def revision_change(self, target: ServiceStatus, to: str | None = None) -> dict[str, str]:
        change = {"from": f"{target.task_definition} (img:2)"}
        if self.previous:
            change["to"] = f"{self.previous} (img:1)"
        return change

    def rollback_command(self, t: ServiceStatus) -> list[str]:
        return ["aws", "ecs", "update-service", "--service", t.name, "--task-definition", str(self.previous)]

    async def rollback(self, t: ServiceStatus) -> str:
        self.rolled_back.append(t.name)
        return "rolled back"

    def restart_command(self, t: ServiceStatus) -> list[str]:
        return ["aws", "ecs", "update-service", "--service", t.name, "--force-new-deployment"]

    async def restart(self, t: ServiceStatus) -> str:
        return "restarted"


def make_app(estate: FakeEstate, **kw: Any) -> CockpitApp:
    profile = Profile(name=kw.pop("name", "test"), description="fake estate", refresh=0.2, **kw)
    return CockpitApp(profile, sources_factory=estate.factory)


def top_line(app: CockpitApp) -> str:
    """What the first row of the screen shows: the widget on top there, as text."""
    widget, _ = app.screen.get_widget_at(2, 0)
    return str(widget.render()) if isinstance(widget, Static) else type(widget).__name__


def palette_titles(app: CockpitApp) -> list[str]:
    from cockpit.commands import row_commands

    return [c.title for c in row_commands(app.command_context())]


async def start_incident(app: CockpitApp, pilot: Any, title: str, severity: str = "P2") -> None:
    from screens.incident import IncidentStartScreen

    app.action_incident_start()
    await wait_until(lambda: isinstance(app.screen, IncidentStartScreen) and app.screen.query("#title"), 5)
    await pilot.pause()
    if severity != "P2":
        from textual.widgets import Select

        app.screen.query_one("#severity", Select).value = severity
    await pilot.press(*title, "enter")
    await wait_until(lambda: app.cockpit.incident_banner.incident is not None, 5)
    await pilot.pause()


# --- 3: the production marker stays ----------------------------------------------------


async def test_production_marker_stays_beside_an_incident_and_when_a_pane_is_maximised():
    app = make_app(FakeEstate(), name="prodlab", production=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "▲ PRODUCTION" in top_line(app)
        await start_incident(app, pilot, "db down")
        line = top_line(app)
        assert "▲ PRODUCTION prodlab · P2 INCIDENT" in line and "db down" in line, line
        await pilot.press("z")
        assert app.cockpit.maximized is not None
        await pilot.pause()
        assert "▲ PRODUCTION prodlab" in top_line(app)
        # The keys stay too: the footer is still on the last row.
        widget, _ = app.screen.get_widget_at(2, 39)
        assert type(widget).__name__ == "KeyFooter"


# --- 7: dialogs --------------------------------------------------------------------------


async def test_escape_on_a_confirmation_says_cancelled_not_refused():
    estate = FakeEstate()
    estate.services = RollbackServices("api:1")
    app = make_app(estate)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("escape")
        await wait_until(lambda: any("cancelled" in n.message for n in app._notifications), 5)
        (note,) = [n for n in app._notifications if "cancelled" in n.message]
        assert note.title == "service: restart: cancelled"
        assert "refused" not in note.message


async def test_a_rollback_with_no_previous_revision_is_not_offered():
    estate = FakeEstate()
    estate.services = RollbackServices(None)
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await pilot.pause()
        titles = palette_titles(app)
        assert "service: restart api" in titles
        assert not [t for t in titles if t.startswith("service: roll back")], titles
        estate.services.previous = "api:1"
        assert "service: roll back api" in palette_titles(app)


async def test_purge_says_how_many_messages_and_an_empty_dlq_is_not_offered():
    estate = FakeEstate()
    estate.queues = PurgeableQueues([QueueStatus("jobs", "sqs", "fake:sqs", 25, 0, "jobs-dlq", 4,
                                                 severity=Severity.WARNING)])
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.QUEUES]
        await wait_until(lambda: pane.row_count() == 1, 5)
        pane.focus_body()
        await pilot.pause()
        await pilot.press("P")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        shown = str(app.screen.query_one("#destroys", Static).render())
        assert "4 messages in jobs-dlq" in shown
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)

        estate.queues.records = [QueueStatus("jobs", "sqs", "fake:sqs", 25, 0, "jobs-dlq", 0)]
        app.hub.refresh_now("fake:sqs")
        await wait_until(lambda: pane.selected is not None and pane.selected.dlq_depth == 0, 5)
        await pilot.pause()
        assert not [t for t in palette_titles(app) if t.startswith("queue: purge")]
        assert pane.check_action("row_action", ("queue.purge_dlq",)) is not True
        await pilot.press("P")
        await pilot.pause()
        assert app.screen is app.cockpit and estate.queues.purged == []


# --- 10: smaller -------------------------------------------------------------------------


async def test_help_lists_each_key_once():
    app = make_app(FakeEstate())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for _, rows in app.screen.sections for key, _ in rows]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        assert twice == [], f"listed more than once: {twice}"


def test_host_and_kubernetes_details_use_their_own_labels():
    unit = ServiceStatus("repo-scanner", "process", "hosts:web-1", Severity.OK, "running", 1, 1,
                         deployment="1 process", task_definition="pid 15580 12.0 MiB", cluster="web-1")
    labels = dict(describe(unit))
    assert "task definition" not in labels and "cluster" not in labels, labels
    assert labels["host"] == "web-1" and labels["process"] == "pid 15580 12.0 MiB"
    workload = ServiceStatus("deployments/api", "kubernetes", "k8s:lab", Severity.OK, "healthy", 2, 2,
                             task_definition="api:1.4.2", cluster="shop")
    labels = dict(describe(workload))
    assert labels["namespace"] == "shop" and labels["images"] == "api:1.4.2"
    from dataclasses import replace

    from cockpit.model import Deployment
    from screens.detail import record_parts

    rs = Deployment("api-7d9", "PRIMARY", "api:1.4.2", 2, 2, 0)
    columns = [c.header for c in record_parts(replace(workload, deployments=(rs,)))["deployments"].columns]
    assert "images" in columns and "task definition" not in columns
    ecs = dict(describe(ServiceStatus("api", "ecs", "aws", Severity.OK, "ok", 1, 1, task_definition="api:2",
                                      cluster="production")))
    assert ecs["task definition"] == "api:2" and ecs["cluster"] == "production"


async def test_ctrl_s_saves_a_screenshot_while_a_dialog_is_open(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    estate = FakeEstate()
    estate.services = RollbackServices("api:1")
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("ctrl+s")
        await wait_until(lambda: list(tmp_path.glob("cockpit-*.svg")), 5)
        (svg,) = tmp_path.glob("cockpit-*.svg")
        assert "Confirm" in svg.read_text()


async def test_q_with_a_p1_incident_open_asks_before_quitting():
    app = make_app(FakeEstate())
    async with app.run_test(size=(160, 48)) as pilot:
        await start_incident(app, pilot, "db down", "P1")
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.return_code is None
        from screens.incident import QuitScreen

        await wait_until(lambda: isinstance(app.screen, QuitScreen), 5)
        await pilot.press("escape")  # stay
        await wait_until(lambda: app.screen is app.cockpit, 5)
        assert app.return_code is None
        await pilot.press("q")
        await wait_until(lambda: isinstance(app.screen, QuitScreen), 5)
        app.screen.query_one("#quit", Button).press()
        await wait_until(lambda: app.return_code == 0, 10)


async def test_q_quits_at_once_without_a_serious_incident():
    app = make_app(FakeEstate())
    async with app.run_test(size=(160, 48)) as pilot:
        await start_incident(app, pilot, "slow reports", "P3")
        await pilot.press("q")
        await wait_until(lambda: app.return_code == 0, 10)


async def test_escape_clears_a_filter_kept_with_enter():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await pilot.press("slash", *"work", "enter")
        await wait_until(lambda: len(pane.table.row_keys) == 1, 5)
        assert pane.filter_text == "work"
        await pilot.press("escape")
        await wait_until(lambda: len(pane.table.row_keys) == 2, 5)
        assert pane.filter_text == "" and not pane.filter_input.has_class("-shown")
        # The log pane too: its lines come back.
        logs = app.cockpit.logs
        estate.logs.push("GET /v1/orders 200", "POST /v1/pay 500")
        await wait_until(lambda: len(logs.view.lines) == 2, 5)
        logs.focus_body()
        await pilot.press("slash", *"pay", "enter")
        assert [ln.text for ln in logs.view.lines] == ["POST /v1/pay 500"]
        await pilot.press("escape")
        await wait_until(lambda: len(logs.view.lines) == 2, 5)


def test_config_option_may_come_before_the_profiles_subcommand(tmp_path: Path, capsys):
    from cockpit.cli import main

    config = tmp_path / "profiles.yaml"
    config.write_text("default: lab\nprofiles:\n  lab:\n    description: the lab\n    lab: true\n")
    env = dict(os.environ)
    assert main(["--config", str(config), "profiles"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "lab" in out and str(config) in out
    assert main(["profiles", "--config", str(config)]) == 0
    assert dict(os.environ) == env
