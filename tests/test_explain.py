"""The explain layer is generated: every pane and every action explains itself."""

from __future__ import annotations

from cockpit.actions import REGISTRY
from cockpit.app import CockpitApp
from cockpit.explain import PANES, explain
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile

from .helpers import wait_until


def test_every_action_has_a_cli_equivalent():
    for spec in REGISTRY:
        commands = [n for n in dir(spec.capability) if n.endswith("_command")]
        assert commands, f"{spec.id}: its capability {spec.capability.__name__} has no *_command"


def test_every_pane_is_explained():
    assert set(PANES) == set(PaneKind)
    for pane in PaneKind:
        sections = explain(pane, [])
        assert sections[0].lines[0] and "Replaces" in sections[0].lines[1]


async def test_e_explains_the_focused_row_on_the_lab():
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1),
                     start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: any(s.name == "api" for s in services.records.values()), 30)
        services.focus_body()
        api = next(k for k, s in services.records.items() if s.name == "api")
        services.table.move_cursor(row=services.table.row_keys.index(api))
        await pilot.press("e")
        panel = app.cockpit.explain_panel
        assert panel.shown
        await wait_until(lambda: "aws ecs update-service" in panel.text, 5)
        text = panel.text
        assert "aws ecs describe-services" in text  # where the pane's data comes from
        assert "service: restart (change): aws ecs update-service" in text
        assert "--force-new-deployment" in text
        await pilot.press("tab")  # alarms: the panel follows the focus
        await wait_until(lambda: "describe-alarms" in panel.text, 5)
        await pilot.press("e")
        assert not panel.shown
        await pilot.press("q")
