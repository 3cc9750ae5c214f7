"""A trainee runs the api-down drill in the cockpit, with the real confirmation flow."""

from __future__ import annotations

from cockpit.app import CockpitApp
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen

from .helpers import wait_until


async def _confirm_drill_start(app, pilot, name: str) -> None:
    """Starting a drill breaks the lab: it is a change, confirmed like one."""
    await wait_until(lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query("#cancel"), 10)
    await pilot.pause()
    assert str(app.screen.query_one("#command").render()) == f"cockpit drill run {name}"
    await pilot.press("tab", "enter")  # Cancel -> Confirm


async def test_api_down_drill_is_detected_and_resolved_with_a_restart():
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=0.5),
                     start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def api():
            return next((s for s in services.records.values() if s.name == "api"), None)

        await wait_until(lambda: api() is not None, 30)
        app.start_drill("api-down")
        await _confirm_drill_start(app, pilot, "api-down")
        await wait_until(lambda: app.drill is not None and api() and api().running == 0, 20)
        services.focus_body()
        services.table.move_cursor(row=services.table.row_keys.index(api().key))
        await wait_until(lambda: app.drill.detected_at is not None, 5)
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: app.drill.finished, 60)

        def phases():
            return [e["phase"] for e in app.runner.audit.read() if e.get("type") == "drill"]

        await wait_until(lambda: phases() == ["started", "finished"], 10)  # written on a thread
        summary = app.drill.summary()
        assert summary["outcome"] == "resolved"
        assert [a["action"] for a in summary["actions"]] == ["service.restart"]
        await pilot.press("q")


async def test_disk_full_drill_is_detected_on_the_alarm_and_resolved_by_deleting_rotated_logs():
    from cockpit.timeline import build_timeline

    from .conftest import skip_or_fail
    from .test_lab_actions import _palette

    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=0.5),
                     start_lab=lambda: start_lab(with_servers=True))
    async with app.run_test(size=(160, 48)) as pilot:
        services, alarms = app.cockpit.panes[PaneKind.SERVICES], app.cockpit.panes[PaneKind.ALARMS]

        def row(pane, name):
            return next((r for r in pane.records.values() if r.name == name), None)

        def disk_alarm():
            return next((a for a in alarms.records.values() if a.name.startswith("this-machine disk ")), None)

        await wait_until(lambda: row(services, "this-machine") is not None, 30)
        if not app.lab.redis_url:
            skip_or_fail(f"the lab has no Redis here: {app.lab.notes.get('queues')}")
        app.start_drill("disk-full")
        await _confirm_drill_start(app, pilot, "disk-full")
        await wait_until(lambda: disk_alarm() is not None, 20)  # fires on the next refresh
        assert app.drill is not None and not app.drill.finished
        assert "disk" in row(services, "this-machine").status_text
        alarms.focus_body()
        alarms.table.move_cursor(row=alarms.table.row_keys.index(disk_alarm().key))
        await wait_until(lambda: app.drill.detected_at is not None, 5)

        await _palette(pilot, "host: delete rotated logs this-machine")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "find " in str(app.screen.query_one("#command").render())
        await pilot.press(*"this-machine", "enter")  # destructive: the host's name is typed
        await wait_until(lambda: app.drill.finished, 30)
        await wait_until(lambda: disk_alarm() is None, 10)  # the threshold is the profile's again

        def drill_lines():
            return [e.summary for e in build_timeline(app.runner.audit.read()) if e.type == "drill"]

        await wait_until(lambda: len(drill_lines()) == 2, 10)  # written on a thread
        assert drill_lines()[-1].startswith("Drill disk-full resolved in ")
        assert "host: delete rotated logs this-machine (ok)" in drill_lines()[-1]
        summary = app.drill.summary()
        assert summary["time_to_detect_s"] is not None
        assert [a["action"] for a in summary["actions"]] == ["host.remove_rotated_logs"]
        await pilot.press("q")


async def test_read_only_cockpit_refuses_a_drill_start_and_api_stays_up():
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=0.5),
                     start_lab=lambda: start_lab(with_servers=False), read_only=True)
    notices: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        real_notify = app.notify
        app.notify = lambda message, **kw: (notices.append(str(message)), real_notify(message, **kw))[1]
        services = app.cockpit.panes[PaneKind.SERVICES]

        def api():
            return next((s for s in services.records.values() if s.name == "api"), None)

        await wait_until(lambda: api() is not None and api().running == 2, 30)
        app.start_drill("api-down")
        await wait_until(lambda: any("read-only" in n for n in notices), 20)
        assert app.drill is None or not app.drill.started_at
        lines = [e for e in app.runner.audit.read() if e.get("action") == "drill.start"]
        assert [(e["outcome"], e["error"]) for e in lines] == [("refused", "read-only")]
        app.hub.refresh_now()
        await pilot.pause()
        assert api().running == 2
        await pilot.press("q")
