"""What keys do in the cockpit, on an in-process estate (no backend needed)."""

from __future__ import annotations

from dataclasses import replace as dataclass_replace

from cockpit.app import CockpitApp
from cockpit.model import LogLevel, PaneKind
from cockpit.profile import Profile
from screens.detail import DetailScreen
from screens.help import HelpScreen

from .fakes import FakeEstate
from .helpers import wait_until


def make_app(estate: FakeEstate, **kw) -> CockpitApp:
    profile = Profile(name="test", description="fake estate", refresh=0.2, **kw)
    return CockpitApp(profile, sources_factory=estate.factory)


async def focused_services(app: CockpitApp, pilot):
    """The Services pane once its two fake rows show, with the focus in it."""
    pane = app.cockpit.panes[PaneKind.SERVICES]
    await wait_until(lambda: pane.row_count() == 2, 5)
    pane.focus_body()
    await pilot.pause()
    return pane


def watch_detection(app: CockpitApp, name: str) -> list:
    """A running drill stand-in whose incident is ``name``; what it was told is returned."""
    from types import SimpleNamespace

    noted: list = []
    app.drill = SimpleNamespace(finished=False, drill=SimpleNamespace(detect_on=(name,)),
                                note_detected=lambda: noted.append(1))
    return noted


async def test_five_panes_fill_with_rows():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.cockpit
        await wait_until(lambda: screen.panes[PaneKind.SERVICES].row_count() == 2, 5)
        await wait_until(lambda: screen.panes[PaneKind.DATABASE].row_count() == 1, 5)
        assert screen.panes[PaneKind.ALARMS].table.row_keys == ["fake:alarms/api-5xx-error-rate"]
        assert screen.panes[PaneKind.QUEUES].row_count() == 1
        estate.logs.push("GET /v1/orders 200 43ms", "upstream timeout", level=LogLevel.ERROR)
        await wait_until(lambda: len(screen.logs.view.lines) == 2, 5)
        await pilot.pause()


async def test_filter_narrows_the_log_and_escape_clears_it():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        logs = app.cockpit.logs
        estate.logs.push("GET /v1/orders 200", "POST /v1/pay 500", "GET /health 200")
        await wait_until(lambda: len(logs.view.lines) == 3, 5)
        logs.focus_body()
        await pilot.press("slash", *"pay")
        assert [ln.text for ln in logs.view.lines] == ["POST /v1/pay 500"]
        estate.logs.push("POST /v1/pay 200", "GET /other")
        await wait_until(lambda: logs.view.total == 5, 5)
        assert [ln.text for ln in logs.view.lines] == ["POST /v1/pay 500", "POST /v1/pay 200"]
        await pilot.press("escape")
        assert len(logs.view.lines) == 5


async def test_the_log_filter_also_goes_to_sources_that_filter_at_the_server():
    estate = FakeEstate()
    patterns: list = []

    def set_server_filter(text):  # what a CloudWatch follower does with it
        patterns.append(text)
        return True

    estate.logs.set_server_filter = set_server_filter
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        logs = app.cockpit.logs
        estate.logs.push("POST /v1/pay 500")
        await wait_until(lambda: len(logs.view.lines) == 1, 5)
        logs.focus_body()
        await pilot.press("slash", *"pay")
        await wait_until(lambda: patterns == ["pay"], 5)  # once typing paused, not per key
        assert "also at the server" in str(logs.header.render())
        await pilot.press("escape")
        await wait_until(lambda: patterns == ["pay", None], 5)


async def test_failing_source_shows_error_and_keeps_rows():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        estate.services.fail = "cannot reach ECS endpoint"
        await wait_until(lambda: "cannot reach ECS endpoint" in str(pane.header.render()), 5)
        status = str(pane.header.render())
        assert "retry" in status and "check the endpoint" in status and "last good data" in status
        assert pane.row_count() == 2
        # the other panes keep refreshing
        calls = estate.alarms.calls
        await wait_until(lambda: estate.alarms.calls > calls + 2, 5)


async def test_enter_opens_detail_and_escape_returns():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        await focused_services(app, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.record.name == "api"
        await pilot.press("escape")
        assert app.screen is app.cockpit


async def test_tab_moves_between_panes_z_maximises_and_help_opens():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.cockpit
        assert screen.focused_pane() is screen.panes[PaneKind.SERVICES]
        await pilot.press("tab")
        assert screen.focused_pane() is screen.panes[PaneKind.ALARMS]
        await pilot.press("z")
        assert screen.maximized is screen.panes[PaneKind.ALARMS]
        await pilot.press("z")
        assert screen.maximized is None
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.screen is screen


async def test_estate_text_is_shown_literally():
    estate = FakeEstate()
    estate.alarms.records[0] = type(estate.alarms.records[0])(
        "evil", "fake:alarms", estate.alarms.records[0].severity, "ALARM",
        "[bold red]boom[/] \x1b]0;pwned\x07 \x1b[2Jcleared",
    )
    app = make_app(estate)
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: pane.row_count() == 1, 5)
        reason = pane.table.get_row_at(0)[3]
        assert reason.plain == "[bold red]boom[/] ␛]0;pwned␇ cleared"
        assert not reason.spans


async def test_hung_backend_never_freezes_the_ui():
    import asyncio

    estate = FakeEstate()

    async def hang():
        await asyncio.Event().wait()

    estate.database.fetch = hang  # type: ignore[method-assign]
    profile = Profile(name="test", description="fake", refresh=0.2, timeout=0.5)
    app = CockpitApp(profile, sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.cockpit
        db = screen.panes[PaneKind.DATABASE]
        await wait_until(lambda: "no answer within 0.5 s" in str(db.header.render()), 5)
        # keys still work and the other panes keep their data
        await pilot.press("tab")
        assert screen.focused_pane() is screen.panes[PaneKind.ALARMS]
        assert screen.panes[PaneKind.SERVICES].row_count() == 2


def test_status_line_states():
    from cockpit.hub import SourceUpdate
    from cockpit.model import Severity
    from widgets.pane import status_line

    live = SourceUpdate("s", PaneKind.SERVICES, "ECS", (1, 2), fetched_at=100.0, interval=5)
    assert status_line([], 100, 0, "services") == (Severity.UNKNOWN, "⧗ loading…")
    assert status_line([live], 101, 2, "services") == (Severity.OK, "● live · 2 services · every 5s")
    sev, text = status_line([live], 116, 2, "services")
    assert sev is Severity.WARNING and text.startswith("▲ stale: ECS data from ")
    failed = SourceUpdate("s", PaneKind.SERVICES, "ECS", (1,), 100.0, 5, error="cannot reach x",
                          hint="check the network", error_since=101.0, next_retry=110.0)
    sev, text = status_line([failed], 105, 1, "services")
    assert sev is Severity.CRITICAL
    assert "✖ ECS: cannot reach x" in text and "showing last good data" in text
    assert text.endswith("check the network")


async def test_alarm_detail_shows_matching_runbook_and_ticks_are_audited():
    import json
    import os
    from pathlib import Path

    from textual.widgets import Checkbox

    from cockpit.profile import Runbook

    estate = FakeEstate()
    runbooks = (Runbook("*error-rate*", "5XX error rate", "https://wiki.example.com/5xx",
                        ("Read the ERROR lines", "Roll back if the deploy is new")),
                Runbook("*cpu*", "High CPU", steps=("Scale out",)))
    app = CockpitApp(Profile(name="test", refresh=0.2, runbooks=runbooks), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)) as pilot:
        alarms = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: alarms.row_count() == 1, 5)
        alarms.focus_body()
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        boxes = list(app.screen.query(Checkbox))
        assert [str(b.label) for b in boxes] == ["Read the ERROR lines", "Roll back if the deploy is new"]
        await pilot.click(f"#{boxes[0].id}")
        assert boxes[0].value
        audit = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
        notes = [json.loads(x) for x in audit.read_text().splitlines() if '"note"' in x]
        assert notes[-1]["step"] == "Read the ERROR lines" and notes[-1]["done"] is True
        assert "runbook 5XX error rate: Read the ERROR lines" in notes[-1]["summary"]


async def test_war_room_incident_clock_and_timeline_note():
    import json
    import os
    from pathlib import Path

    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("w")
        assert app.war_room and app.theme == "war-room"
        app.action_incident_start()
        from screens.incident import IncidentStartScreen

        await wait_until(lambda: isinstance(app.screen, IncidentStartScreen), 5)
        await pilot.press(*"api 5xx after deploy", "enter")
        banner = app.cockpit.incident_banner
        await wait_until(lambda: banner.incident is not None, 5)
        assert "P2 INCIDENT: api 5xx after deploy · open for 00:00:0" in str(banner.render())
        app.action_incident_resolve()
        assert "RESOLVED after" in str(banner.render())
        await pilot.press("w")
        assert not app.war_room and app.theme == "cockpit-dark"
        audit = Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl"
        notes = [json.loads(x)["summary"] for x in audit.read_text().splitlines() if '"note"' in x]
        assert notes[0] == "incident started: P2 api 5xx after deploy"
        assert notes[1].startswith("incident resolved: P2 api 5xx after deploy after 00:00:")


def test_war_room_snapshot(snap_compare):
    from .test_snapshots import _filled

    estate = FakeEstate()
    app = make_app(estate)

    async def run_before(pilot):
        await _filled(estate)(pilot)
        await pilot.press("w")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


async def test_notices_show_estate_text_literally():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(120, 30)) as pilot:
        app.notify("check output: [kworker/0:1] [/x] [not set]")  # would be markup, or raise
        await pilot.pause()
        (note,) = list(app._notifications)
        assert note.message == "check output: [kworker/0:1] [/x] [not set]" and not note.markup


async def test_lab_local_panes_fill_before_the_aws_side_answers(monkeypatch):
    """The lab's PostgreSQL/Redis/this-machine sources start as soon as those servers are up;
    the rest joins the same hub when the AWS side is ready, nothing built twice runs twice."""
    import dataclasses
    import threading

    import cockpit.lab
    from cockpit.sources import Sources

    estate = FakeEstate()
    aws_ready = threading.Event()
    built: list[str] = []

    class FakeLab:
        notes: dict = {}

        def local_profile(self, base):
            return dataclasses.replace(base, name="local")

        def profile(self, base):
            return base

        def remote_profile(self, base):
            return base

        def stop(self):
            pass

    def fake_start_lab(*, on_servers):
        lab = FakeLab()
        on_servers(lab)
        aws_ready.wait(10)
        return lab

    def factory(profile, notes):
        built.append(profile.name)
        if profile.name == "local":
            return Sources([estate.database], [])
        return Sources([estate.services, estate.database], [estate.logs])

    monkeypatch.setattr(cockpit.lab, "start_lab", fake_start_lab)
    app = CockpitApp(Profile(name="lab", description="", refresh=0.2, lab=True), sources_factory=factory)
    async with app.run_test(size=(160, 48)):
        screen = app.cockpit
        await wait_until(lambda: screen.panes[PaneKind.DATABASE].row_count() == 1, 5)
        assert screen.panes[PaneKind.SERVICES].row_count() == 0, "the AWS side is not up yet"
        aws_ready.set()
        await wait_until(lambda: screen.panes[PaneKind.SERVICES].row_count() == 2, 5)
        assert built == ["local", "lab"]
        assert [s.id for s in app.hub.sources].count(estate.database.id) == 1


async def test_moving_between_rows_with_the_same_actions_does_not_rebuild_the_footer():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await focused_services(app, pilot)
        rebuilt: list = []
        original = pane.refresh_bindings
        pane.refresh_bindings = lambda: (rebuilt.append(1), original())[1]
        await pilot.press("down")
        await pilot.press("up")
        await pilot.pause()
        assert rebuilt == [], "same actions offered on both rows: the footer stays as it is"
        assert pane.table.cursor_row == 0


async def test_footer_follows_the_focused_pane_and_repaints_only_when_its_keys_change():
    from widgets.footer import KeyFooter

    estate = FakeEstate()
    # The footer offers only what the row's backend can do: this one can restart.
    estate.services.restart_command = lambda target: ["restart", target.name]
    estate.services.restart = lambda target: "restarted"
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        await focused_services(app, pilot)
        footer = app.screen.query_one(KeyFooter)

        def shown() -> str:
            return footer.render().plain

        await wait_until(lambda: "service: restart" in shown(), 5)
        assert shown().rstrip().endswith("palette"), "the palette key sits at the right end"
        generation = footer.generation
        app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert footer.generation == generation, "same keys: no repaint"
        app.cockpit.panes[PaneKind.QUEUES].focus_body()
        await wait_until(lambda: footer.generation > generation, 5)
        await wait_until(lambda: "service: restart" not in shown(), 5)


async def test_clicking_a_key_in_the_footer_runs_it():
    from widgets.footer import KeyFooter

    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        logs = app.cockpit.logs
        logs.focus_body()
        footer = app.screen.query_one(KeyFooter)
        await wait_until(lambda: "Follow" in footer.render().plain, 5)  # the log pane's keys
        x = footer.render().plain.index("Filter")
        assert footer.key_at(x) is not None
        await pilot.click(KeyFooter, offset=(x, 0))
        await wait_until(lambda: logs.filter_input.has_focus, 5)


async def test_a_providers_deployments_replace_the_generic_ones_in_the_detail():
    from dataclasses import replace

    from rich.table import Table
    from textual.widgets import Static

    from cockpit.model import Deployment, DetailSection

    class Provider:
        async def detail(self, record):
            return [DetailSection("Deployments", ("status", "revision", "image"),
                                  (("PRIMARY", "api:2", "registry.local/api:1.4.2"),))]

    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        row = replace(estate.services.records[0], deployments=(
            Deployment("ecs-1", "PRIMARY", "api:2", desired=2, running=2, pending=0),))
        screen = DetailScreen(row, "Services", Static(), provider=Provider())
        await app.push_screen(screen)

        def titles() -> list[str]:
            return [str(w.content.title) for w in screen.query(Static)
                    if isinstance(w.content, Table) and w.content.title]

        await wait_until(lambda: not screen.query(".detail-more"), 5)  # "⧗ loading details…" gone
        await pilot.pause()
        assert titles().count("Deployments") == 1, "shown once, the provider's (with the image)"


async def test_updates_close_together_are_held_then_shown_and_log_lines_bring_them_at_once():
    import time as _time

    from cockpit.app import LogsArrived, SourceUpdated
    from cockpit.hub import LogBatch, SourceUpdate

    from .fakes import services

    estate = FakeEstate()
    estate.services.records = []  # the pane shows only what this test sends
    app = make_app(estate)
    app.update_hold = 30.0  # far longer than any wait below: only the log lines can end it
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: app.hub is not None and pane.updates, 5)  # an update was applied
        await pilot.pause()
        base = services()
        update = SourceUpdate("test:svc", PaneKind.SERVICES, "test", (), _time.time(), 60.0)
        app.post_message(SourceUpdated(update))  # a source's first data is never held
        await pilot.pause()
        for n in (1, 2):
            app.post_message(SourceUpdated(dataclass_replace(update, records=tuple(base[:n]))))
        await pilot.pause()
        await pilot.pause()
        assert pane.row_count() == 0, "held within the second after the last batch"
        app.post_message(LogsArrived(LogBatch("fake:logs", "fake", ())))
        await wait_until(lambda: pane.row_count() == 2, 5)

        # Long after the last batch of updates, but just after log lines were painted: the
        # next update waits for the next frame instead of making one of its own.
        await app.hub.stop()  # only this test's updates from here on
        app.post_message(LogsArrived(LogBatch("fake:logs", "fake", ())))  # what was pending
        await pilot.pause()
        await wait_until(lambda: not app._logs.pending, 5)
        app._updates._last = app._logs._last = float("-inf")  # a quiet spell for both
        app.post_message(LogsArrived(LogBatch("fake:logs", "fake", ())))
        await pilot.pause()
        app.post_message(SourceUpdated(dataclass_replace(update, records=tuple(base[:1]))))
        await pilot.pause()
        await pilot.pause()
        assert pane.row_count() == 2, "held: log lines were painted a moment ago"
        app.post_message(LogsArrived(LogBatch("fake:logs", "fake", ())))
        await wait_until(lambda: pane.row_count() == 1, 5)


async def test_log_lines_that_trickle_in_share_a_frame_and_a_screenful_goes_at_once():
    from datetime import UTC, datetime

    from cockpit.app import LOG_PAINT_AT_ONCE, LogsArrived
    from cockpit.hub import LogBatch
    from cockpit.model import LogRecord

    def batch(*texts: str) -> LogBatch:
        now = datetime.now(UTC)
        return LogBatch("fake:logs", "fake", tuple(LogRecord(now, "api/t", LogLevel.INFO, t) for t in texts))

    app = make_app(FakeEstate())
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.cockpit.logs.view
        await wait_until(lambda: app.hub is not None, 5)
        await app.hub.stop()  # only this test's lines
        shown = lambda: [ln.record.text for ln in view.lines]  # noqa: E731
        app._logs._last = float("-inf")  # a quiet spell
        app.post_message(LogsArrived(batch("first")))
        await pilot.pause()
        assert shown()[-1:] == ["first"], "the first line after a quiet spell is painted at once"
        app.post_message(LogsArrived(batch("second")))
        app.post_message(LogsArrived(batch("third")))
        await pilot.pause()
        assert "second" not in shown(), "a line right after another waits for the next ones"
        await wait_until(lambda: shown()[-2:] == ["second", "third"], 5)  # then both, together
        app.post_message(LogsArrived(batch("fourth")))
        await pilot.pause()
        assert "fourth" not in shown()
        app.post_message(LogsArrived(batch(*(f"burst {n}" for n in range(LOG_PAINT_AT_ONCE)))))
        await pilot.pause()
        assert shown()[-1] == f"burst {LOG_PAINT_AT_ONCE - 1}" and "fourth" in shown(), \
            "a screenful is not held back, nor what waited before it"
        app.post_message(LogsArrived(batch("the flood's last line")))
        await pilot.pause()
        assert shown()[-1] == "the flood's last line", "nor the few lines that end a flood"
        app.post_message(LogsArrived(batch("trickling again")))
        await pilot.pause()
        assert "trickling again" not in shown(), "held again once the lines trickle"
        await wait_until(lambda: shown()[-1] == "trickling again", 5)


async def test_a_refresh_that_returns_the_same_rows_still_clears_stale_and_a_change_still_shows():
    import time as _time
    from dataclasses import replace as dataclass_replace

    from cockpit.hub import SourceUpdate

    from .fakes import services

    estate = FakeEstate()
    estate.services.records = []  # the pane shows only what this test applies
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        rows = tuple(services())
        now = _time.time()
        old = SourceUpdate("test:svc", PaneKind.SERVICES, "test", rows, now - 600, 5.0)
        pane.apply(old)
        await pilot.pause()
        assert "▲ stale" in str(pane.header.render())
        pane.apply(dataclass_replace(old, fetched_at=now))  # the same rows, fetched just now
        await pilot.pause()
        assert "● live" in str(pane.header.render())
        assert pane.row_count() == len(rows)
        changed = dataclass_replace(rows[0], status_text="draining")
        pane.apply(dataclass_replace(old, records=(changed, *rows[1:]), fetched_at=now))
        await pilot.pause()
        cells = [c.plain for i in range(pane.table.row_count) for c in pane.table.get_row_at(i)]
        assert any("draining" in c for c in cells)


async def test_focusing_a_pane_whose_cursor_is_already_on_the_incident_counts_as_detecting_it():
    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        services = await focused_services(app, pilot)
        app.cockpit.panes[PaneKind.ALARMS].focus_body()
        await pilot.pause()
        noted = watch_detection(app, services.selected.name)
        services.focus_body()  # no cursor move: the row under it is the incident's
        await wait_until(lambda: noted, 5)
        app.drill = None


async def test_an_incident_turning_red_under_the_cursor_counts_as_detecting_it():
    from cockpit.model import Severity

    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48)) as pilot:
        services = await focused_services(app, pilot)
        under = services.selected
        noted = watch_detection(app, under.name)
        await pilot.pause()
        assert not noted or under.status is not Severity.OK, "a healthy row is no incident"
        noted.clear()
        estate.services.records = [
            dataclass_replace(r, status=Severity.CRITICAL, status_text="down", running=0)
            if r.name == under.name else r
            for r in estate.services.records
        ]
        await wait_until(lambda: noted, 5)  # no key pressed, no focus moved
        app.drill = None


def test_held_updates_never_wait_long_enough_to_look_stale():
    from cockpit.hub import STALE_AFTER_INTERVALS

    for refresh in (0.2, 1.0, 5.0, 60.0):
        app = CockpitApp(Profile(name="t", description="t", refresh=refresh), sources_factory=FakeEstate().factory)
        assert 0 < app.update_hold <= 2.0
        assert app.update_hold < STALE_AFTER_INTERVALS * refresh / 2, "a held update must not turn a pane stale"


async def test_row_cropped_frames_paint_exactly_what_textuals_compositor_paints(monkeypatch):
    """The cockpit screen renders only the updated rows of the widgets on them; what it
    sends for a partial update must equal Textual's own compositor's, byte for byte."""
    from textual._compositor import Compositor
    from textual.geometry import Region

    from widgets.compositor import RowCroppedCompositor

    estate = FakeEstate()
    app = make_app(estate)
    async with app.run_test(size=(160, 48), notifications=True):
        screen = app.cockpit
        panes = screen.panes
        await wait_until(lambda: panes[PaneKind.SERVICES].row_count() > 0, 5)
        estate.logs.push(*(f"line {i} [bold]not markup[/]" for i in range(30)))
        await wait_until(lambda: len(panes[PaneKind.LOGS].view._view) >= 30, 5)
        app.notify("a toast over the panes", timeout=60)  # an overlay painted in front
        await wait_until(lambda: any(type(w).__name__ == "Toast" for w in screen._compositor.visible_widgets), 5)
        comp = screen._compositor
        assert isinstance(comp, RowCroppedCompositor)
        get_renders = RowCroppedCompositor._get_renders

        def counting(self, crop=None):  # type: ignore[no-untyped-def]
            for region, clip, strips in get_renders(self, crop):
                top = region.intersection(clip).y
                rendered.append((top, top + len(strips)))
                widgets_rendered.append(region)
                yield region, clip, strips

        monkeypatch.setattr(RowCroppedCompositor, "_get_renders", counting)
        services, logs = panes[PaneKind.SERVICES].table.region, panes[PaneKind.LOGS].view.region
        queues, database = panes[PaneKind.QUEUES].region, panes[PaneKind.DATABASE].region
        cases = [
            [Region(logs.x, logs.bottom - 1, logs.width, 1)],  # a new log line
            [Region(services.x + 5, services.y + 1, 9, 1), Region(database.x + 3, database.y + 2, 7, 1)],
            [Region(queues.x, queues.y, queues.width + database.width, 3)],  # across two panes
            [Region(0, 47, 160, 1), Region(0, 0, 160, 1)],  # footer and banner, far apart
            [Region(100, 40, 60, 8)],  # under the toast
            [Region(0, 0, 160, 48)],
        ]
        rendered: list[tuple[int, int]] = []  # (first, end) screen rows each render asked for
        widgets_rendered: list[Region] = []
        alarms = panes[PaneKind.ALARMS].region
        for dirty in cases:
            painted = []
            for cls in (RowCroppedCompositor, Compositor):
                comp.__class__ = cls
                comp._dirty_regions = set(dirty)
                rendered.clear()
                widgets_rendered.clear()
                update = comp.render_partial_update()
                assert update is not None
                painted.append(update.render_segments(app.console))
                if cls is RowCroppedCompositor and dirty != cases[-1]:
                    # Every widget rendered has a dirty row (between two changed cells far
                    # apart, the log lines are not rendered again).
                    dirty_rows = {y for r in dirty for y in range(r.y, r.bottom)}
                    for first, end in rendered:
                        assert dirty_rows & set(range(first, end)), f"rows {first}-{end} rendered for {dirty}"
                        assert first in dirty_rows and end - 1 in dirty_rows
                    if dirty is cases[0]:  # the log view holds the line whole: nothing behind it
                        assert widgets_rendered == [logs]
                    if dirty is cases[1]:  # the Alarms pane shares those rows, none of the dirt
                        assert not [r for r in widgets_rendered if alarms.contains_region(r)]
            comp.__class__ = RowCroppedCompositor
            assert painted[0] == painted[1], f"different paint for {dirty}"
            assert painted[0].count("\x1b[") > 0


async def test_start_up_leaves_the_garbage_collectors_view_once_every_source_answered(monkeypatch):
    import gc

    import cockpit.app

    frozen: list[set[str]] = []  # the sources shown at each freeze
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(set(app._shown_sources)))
    monkeypatch.setattr(cockpit.app, "FREEZE_AGAIN_S", 0.5)
    estate = FakeEstate()
    estate.queues.fail = "connection refused"  # an error is an answer too
    app = make_app(estate)
    app.freeze_gc = True  # headless apps (tests) do not freeze by default
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.cockpit.panes[PaneKind.SERVICES].row_count() == 2, 5)
        await wait_until(lambda: frozen, 5)
        assert frozen[0] == {s.id for s in app.hub.sources}, "froze before every source answered"
        await wait_until(lambda: len(frozen) == 2, 5)  # once more, for what refreshes loaded
        for _ in range(4):  # later refreshes do not freeze again
            await pilot.pause(0.25)
        assert len(frozen) == 2
    assert make_app(FakeEstate()).freeze_gc is None  # by default: only in a terminal
