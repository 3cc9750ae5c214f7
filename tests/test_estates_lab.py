"""Several estates in one profile, as a user sees them on the shipped ``lab-two-regions``
profile: the lab in us-east-1 and its smaller copy in eu-west-1, each row with its estate,
``/estate:`` keeping one, and an action on one naming it in the confirmation and the audit."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from cockpit.app import CockpitApp
from cockpit.audit import fold_action_phases
from cockpit.config import load_config
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from screens.confirm import ConfirmScreen

from .fixtures.moto import aws_client
from .helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


def _actions() -> list[dict]:
    path = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    return [e for e in fold_action_phases(lines) if e.get("action") and e.get("outcome") == "ok"]


def _columns(app: CockpitApp, kind: PaneKind) -> list[str]:
    return [c.label.plain for c in app.cockpit.panes[kind].table.columns.values()]


def _cells(app: CockpitApp, kind: PaneKind) -> list[list[str]]:
    table = app.cockpit.panes[kind].table
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_two_region_lab_shows_each_rows_estate_filters_by_it_and_names_it_in_actions() -> None:
    labs: list = []

    def starter():
        labs.append(start_lab(with_servers=False))
        return labs[-1]

    profile = dataclasses.replace(load_config(ROOT / "profiles.yaml").get("lab-two-regions"), refresh=1)
    app = CockpitApp(profile, start_lab=starter)
    async with app.run_test(size=(200, 50)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def estates_of(kind: PaneKind, name: str | None = None) -> set[str]:
            return {r.estate for r in app.cockpit.panes[kind].records.values() if name in (None, r.name)}

        await wait_until(lambda: estates_of(PaneKind.SERVICES, "api") == {"lab-us", "lab-eu"}, 60)
        await wait_until(lambda: estates_of(PaneKind.ALARMS) >= {"lab-us", "lab-eu"}, 30)
        await wait_until(lambda: estates_of(PaneKind.QUEUES) >= {"lab-us", "lab-eu"}, 30)

        # The estate column, right after the name, in the three panes.
        for kind in (PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES):
            assert _columns(app, kind)[2] == "estate", _columns(app, kind)
        rows = _cells(app, PaneKind.SERVICES)
        assert {(r[1], r[2]) for r in rows} >= {("api", "lab-us"), ("api", "lab-eu"), ("billing", "lab-eu"),
                                                 ("worker", "lab-us")}

        # /estate:lab-eu keeps only that estate's rows.
        services.focus_body()
        await pilot.press("slash", *"estate:lab-eu", "enter")
        await wait_until(lambda: {r[2] for r in _cells(app, PaneKind.SERVICES)} == {"lab-eu"}, 5)
        assert {r[1] for r in _cells(app, PaneKind.SERVICES)} == {"api", "billing"}

        # Restart api of lab-eu: the confirmation names the estate, its account and region,
        # and the command is that region's.
        services.focus_body()
        eu_api = next(k for k, s in services.records.items() if s.name == "api")
        services.table.move_cursor(row=services.table.row_keys.index(eu_api))
        ecs_eu = aws_client(labs[0].aws_endpoint, "ecs", region="eu-west-1")
        before = ecs_eu.describe_services(cluster="production", services=["api"])["services"][0]
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        where = str(app.screen.query_one("#estate").render())
        assert "lab-eu" in where and "eu-west-1" in where and "account 123456789012" in where
        command = str(app.screen.query_one("#command").render())
        assert "--region eu-west-1" in command and "aws ecs update-service" in command
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(_actions, 15)
        line = _actions()[-1]
        assert (line["action"], line["target"], line["estate"], line["account"], line["region"]) == (
            "service.restart", "api", "lab-eu", "123456789012", "eu-west-1")
        assert "--region eu-west-1" in line["command"]
        after = ecs_eu.describe_services(cluster="production", services=["api"])["services"][0]
        assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
        await pilot.press("q")
