"""A trainee runs the api-down drill in the cockpit, with the real confirmation flow."""

from __future__ import annotations

from cockpit.app import CockpitApp
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen

from .helpers import wait_until


async def test_api_down_drill_is_detected_and_resolved_with_a_restart():
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=0.5),
                     start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def api():
            return next((s for s in services.records.values() if s.name == "api"), None)

        await wait_until(lambda: api() is not None, 30)
        app.start_drill("api-down")
        await wait_until(lambda: app.drill is not None and api() and api().running == 0, 20)
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(api().key))
        await wait_until(lambda: app.drill.detected_at is not None, 5)
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("y")
        await wait_until(lambda: app.drill.finished, 60)

        def phases():
            return [e["phase"] for e in app.runner.audit.read() if e.get("type") == "drill"]

        await wait_until(lambda: phases() == ["started", "finished"], 10)  # written on a thread
        summary = app.drill.summary()
        assert summary["outcome"] == "resolved"
        assert [a["action"] for a in summary["actions"]] == ["service.restart"]
        await pilot.press("q")
