"""Issue 3 as a user does it on the lab: palette and row keys, confirmations, audit, read-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cockpit.app import CockpitApp
from cockpit.audit import fold_action_phases
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen, ParamsScreen

from .fixtures.moto import aws_client
from .helpers import wait_until


def _audit_lines() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    if not path.exists():
        return []
    # An action's started line is folded into its finished line.
    return fold_action_phases([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def _actions(outcome: str | None = None) -> list[dict]:
    return [e for e in _audit_lines() if e.get("action") and (outcome is None or e.get("outcome") == outcome)]


def _app(**kw) -> tuple[CockpitApp, list]:
    labs: list = []

    def starter():
        labs.append(start_lab(with_servers=False))
        return labs[-1]

    profile = Profile(name="lab", description="lab", lab=True, refresh=1, **kw)
    return CockpitApp(profile, start_lab=starter), labs


async def _ready(app: CockpitApp) -> None:
    panes = app.cockpit.panes
    await wait_until(lambda: any(s.name == "api" for s in panes[PaneKind.SERVICES].records.values()), 30)
    # Every services source has answered: a later one inserts its rows above a row the test
    # has put the cursor on, and the row keys then belong to another row.
    await wait_until(lambda: all(u.records is not None or u.error is not None
                                 for u in panes[PaneKind.SERVICES].updates.values()), 30)
    await wait_until(lambda: panes[PaneKind.QUEUES].row_count() > 0, 15)
    await wait_until(lambda: panes[PaneKind.DATABASE].row_count() > 0, 15)


async def _palette(pilot, text: str) -> None:
    from textual.command import CommandList, CommandPalette

    await pilot.press("ctrl+p")
    await wait_until(lambda: isinstance(pilot.app.screen, CommandPalette), 5)
    await pilot.press(*text)
    commands = pilot.app.screen.query_one(CommandList)

    def best() -> str:
        return str(commands.get_option_at_index(0).prompt).split("\n")[0] if commands.option_count else ""

    # the search runs in the background: wait until the best hit is the command typed
    try:
        await wait_until(lambda: best() == text, 10)
    except AssertionError:
        raise AssertionError(f"palette's best hit for {text!r} is {best()!r}") from None
    await pilot.press("enter")


async def test_restart_scale_purge_snapshot_from_palette_and_keys_are_confirmed_and_audited():
    app, labs = _app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        endpoint = labs[0].aws_endpoint
        ecs = aws_client(endpoint, "ecs")
        before = ecs.describe_services(cluster="production", services=["api"])["services"][0]

        # restart from the palette: a y/n confirmation naming target and command
        await _palette(pilot, "service: restart api")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        command = str(app.screen.query_one("#command").render())
        assert "aws ecs update-service" in command and "--force-new-deployment" in command
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: _actions("ok"), 15)
        assert _actions("ok")[-1]["action"] == "service.restart"
        after = ecs.describe_services(cluster="production", services=["api"])["services"][0]
        assert after["deployments"][0]["id"] != before["deployments"][0]["id"]

        # scale with the row key: parameters prefilled, then confirmation
        services = app.cockpit.panes[PaneKind.SERVICES]
        services.focus_body()
        api_row = services.table.row_keys.index(next(k for k, s in services.records.items() if s.name == "api"))
        services.table.move_cursor(row=api_row)
        await pilot.press("s")
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        app.screen.query_one("#param-desired").value = "3"
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: len(_actions("ok")) == 2, 15)
        svc = ecs.describe_services(cluster="production", services=["api"])["services"][0]
        assert svc["desiredCount"] == 3

        # purge the DLQ: destructive, so the name must be typed
        await _palette(pilot, "queue: purge dead letters jobs-dlq")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press(*"jobs")
        await pilot.press("enter")  # wrong name: nothing happens
        assert isinstance(app.screen, ConfirmScreen) and len(_actions("ok")) == 2
        await pilot.press(*"-dlq", "enter")
        await wait_until(lambda: len(_actions("ok")) == 3, 15)
        sqs = aws_client(endpoint, "sqs")
        url = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"

        # snapshot the RDS instance from the palette
        await _palette(pilot, "database: snapshot prod-postgresql")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: len(_actions("ok")) == 4, 15)
        rds = aws_client(endpoint, "rds")
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier="prod-postgresql")["DBSnapshots"]
        assert any(s["DBSnapshotIdentifier"].startswith("cockpit-prod-postgresql-") for s in snaps)

        assert [e["action"] for e in _actions("ok")] == [
            "service.restart", "service.scale", "queue.purge_dlq", "database.snapshot"]
        await pilot.press("q")


async def test_read_only_lab_refuses_every_path_and_changes_nothing():
    app, labs = _app(read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        ecs = aws_client(labs[0].aws_endpoint, "ecs")
        before = ecs.describe_services(cluster="production", services=["api"])["services"][0]
        services = app.cockpit.panes[PaneKind.SERVICES]
        services.focus_body()
        await pilot.press("r")  # row key
        await wait_until(lambda: _actions("refused"), 10)
        await _palette(pilot, "service: restart api")  # palette
        await wait_until(lambda: len(_actions("refused")) == 2, 10)
        assert app.screen is app.cockpit  # no confirmation was even offered
        assert all(e["error"] == "read-only" for e in _actions("refused"))
        after = ecs.describe_services(cluster="production", services=["api"])["services"][0]
        assert after["deployments"] == before["deployments"]
        assert after["desiredCount"] == before["desiredCount"]
        await pilot.press("q")


async def test_api_calls_screen_counts_the_refreshes():
    from screens.detail import SectionsScreen

    app, _ = _app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        await _palette(pilot, "aws: api calls")
        await wait_until(lambda: isinstance(app.screen, SectionsScreen), 5)
        await wait_until(lambda: len(app.screen.body.children) > 2, 10)

        def shown() -> str:
            return app.export_screenshot()  # what the user sees, as text in an SVG

        # The tables mount before their first layout: wait for what the user will read.
        await wait_until(lambda: "DescribeServices" in shown() and "DescribeAlarms" in shown(), 10)
        await pilot.press("escape", "q")


async def test_log_search_finds_errors_of_the_last_hour_and_can_be_cancelled():
    from screens.search import SearchPrompt, SearchScreen

    app, _ = _app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _ready(app)
        await _palette(pilot, "logs: search (logs production)")
        await wait_until(lambda: isinstance(app.screen, SearchPrompt), 5)
        await pilot.press(*"ERROR", "enter")
        await wait_until(lambda: isinstance(app.screen, SearchScreen), 5)
        screen = app.screen
        await wait_until(lambda: "matches ·" in str(screen.status.render()), 20)
        assert screen.view.lines and all("ERROR" in ln.text for ln in screen.view.lines)
        await pilot.press("escape")
        assert app.screen is app.cockpit
        await pilot.press("q")


def test_search_is_cancellable_between_pages():
    from cockpit.backends.logs import EcsLogSource

    class FakeLogs:
        calls = 0

        def filter_log_events(self, **kw):
            FakeLogs.calls += 1
            return {"events": [{"timestamp": 1, "eventId": str(FakeLogs.calls), "message": "x",
                                "logStreamName": "a/b/c"}], "nextToken": f"t{FakeLogs.calls}"}

    class Ctx:
        def client(self, service):
            return FakeLogs()

        def guard(self, what, fn, *a, **k):
            return fn(*a, **k)

        def acquire(self, src):
            pass

    from cockpit.profile import EcsCluster

    src = EcsLogSource(Ctx(), EcsCluster("c", log_groups=("/g",)))
    seen = []
    out = src.search_blocking("x", 1, progress=lambda p, f: seen.append(p), cancelled=lambda: len(seen) >= 3)
    assert len(out) == 3 and FakeLogs.calls == 3
