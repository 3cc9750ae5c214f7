"""Readable at every width: columns fit their content, and 80x24 shows one pane at a time."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from cockpit.app import CockpitApp
from cockpit.model import Alarm, DatabaseSnapshot, PaneKind, QueueStatus, ServiceStatus, Severity
from cockpit.profile import Profile

from .fakes import FakeEstate
from .helpers import wait_until

T0 = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    # A fixed clock too: an alarm's "since" reads "Nov 25 03:12" within half a year of T0 and
    # a full date after, which would change the snapshots with the calendar.
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr("widgets.alarms.now", lambda: T0 + timedelta(days=1))
    yield
    monkeypatch.undo()
    time.tzset()


def lab_like() -> FakeEstate:
    """The lab's estate as the panes see it: Kubernetes names, long alarm names, a lock drill."""
    estate = FakeEstate()

    def svc(name, status, text, run, des, deployment="", rev="", **kw):
        return ServiceStatus(name, "kubernetes", "fake:k8s", status, text, run, des, deployment=deployment,
                             task_definition=rev, created_at=NOW - timedelta(days=2), cluster="repo-scanner", **kw)

    estate.services.records = [
        svc("api", Severity.OK, "healthy", 2, 2, "COMPLETED", "api:2"),
        svc("deployment/scanner-api", Severity.INFO, "deploying", 3, 3, "rolling 2/3", "scanner-api:2.4.1"),
        svc("deployment/scanner-worker", Severity.CRITICAL, "update_failed", 0, 2, "stalled",
            "scanner-worker:2.5.0"),
        svc("statefulset/scanner-cache", Severity.CRITICAL, "http 503", 1, 1, "COMPLETED", "scanner-cache:7.2"),
        svc("pod/scanner-worker-7d9f8c6b5-9b0d9", Severity.CRITICAL, "CrashLoopBackOff", 0, 1),
        svc("pod/scanner-worker-7d9f8c6b5-x2kq4", Severity.CRITICAL, "CrashLoopBackOff", 0, 1),
    ]
    estate.alarms.records = [
        Alarm("CrashLoopBackOff repo-scanner/scanner-worker-9b0d9/worker", "fake:alarms",
              Severity.CRITICAL, "firing", "back-off 5m0s restarting failed container", since=T0),
        Alarm('error_rate{service="checkout"} > 0.05', "fake:alarms", Severity.WARNING, "firing",
              "error_rate is 0.083 (threshold 0.05) for 5m", since=T0),
    ]
    estate.queues.records = [
        QueueStatus("orders", "sqs", "fake:sqs", 25, 3, "orders-dlq", 4, severity=Severity.WARNING,
                    oldest_age_s=125),
        QueueStatus("scan-requests", "redis", "fake:sqs", 1200, 0, "scan-requests-dead", 17,
                    severity=Severity.WARNING, kind="celery"),
    ]
    estate.database.records = [
        DatabaseSnapshot("lab-postgres", "postgres", "fake:rds", connections=12, max_connections=100,
                         tps=41.5, cache_hit_ratio=0.998, active=3, idle_in_transaction=2, blocked=4,
                         size_bytes=48_000_000, longest_query_s=312, longest_query="UPDATE accounts SET"),
    ]
    return estate


def lab_app(estate: FakeEstate) -> CockpitApp:
    profile = Profile(name="lab", description="lab-like estate", refresh=60)
    return CockpitApp(profile, theme="cockpit-dark", sources_factory=estate.factory)


def screen_text(app: CockpitApp) -> str:
    """What the terminal shows, as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, force_terminal=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text(styles=False)


async def filled(app: CockpitApp, pilot) -> None:
    await wait_until(lambda: all(app.cockpit.panes[k].row_count() for k in
                                 (PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES, PaneKind.DATABASE)), 10)
    await pilot.pause()
    await pilot.pause()


def test_fit_columns_drops_low_priority_first_and_widens_names_first() -> None:
    from widgets.keyed_table import Col, fit_columns

    cols = [Col("status", 10, 0, max=24), Col("name", 16, 0, max=40, middle=True), Col("n", 5, 1),
            Col("extra", 8, 3), Col("note", 10, 2, grow=True)]
    prefs = [16, 30, 3, 8, 80]
    # Room for everything: names whole, the note takes the rest.
    assert fit_columns(cols, prefs, 120) == [16, 30, 5, 8, 51]
    # Narrower: "extra" (priority 3) goes first, then the note; names still whole.
    assert fit_columns(cols, prefs, 70) == [16, 30, 5, None, 11]
    assert fit_columns(cols, prefs, 50) == [16, 23, 5, None, None]
    # Identifying columns never drop, even when they do not fit.
    assert fit_columns(cols, prefs, 10)[:2] == [10, 16]


def test_middle_cut_keeps_the_distinguishing_suffix() -> None:
    from widgets.keyed_table import middle_cut

    assert middle_cut("scanner-worker-7d9f8c6b5-9b0d9", 18) == "scanner-wor…-9b0d9"
    assert middle_cut("deployment/scanner-worker", 16) == "deployme…-worker"
    assert middle_cut("api", 16) == "api"


@pytest.mark.parametrize("size", [(160, 48), (120, 36)], ids=["160x48", "120x36"])
async def test_names_status_words_and_figures_are_whole(size) -> None:
    app = lab_app(lab_like())
    async with app.run_test(size=size) as pilot:
        await filled(app, pilot)
        text = screen_text(app)
        for whole in ("deployment/scanner-worker", "statefulset/scanner-cache", "ℹ deploying",
                      "✖ http 503", "✖ update_failed", "✖ CrashLoopBackOff", "…-9b0d9", "…-x2kq4",
                      'error_rate{service="checkout"} > 0.05'):
            assert whole in text, f"{whole!r} cut at {size}:\n{text}"
        db = app.cockpit.panes[PaneKind.DATABASE].table
        labels = [str(c.label) for c in db.ordered_columns]
        assert {"idle tx", "blocked"} <= set(labels), labels
        queues = [str(c.label) for c in app.cockpit.panes[PaneKind.QUEUES].table.ordered_columns]
        assert "dlq" in queues and "depth" in queues
        if size == (160, 48):  # the db-lock drill's figures, without End to scroll sideways
            assert "longest" in labels and "312s UPDATE" in text
            assert "CrashLoopBackOff repo-scanner/scanner-worker-9b0d9/worker" in text


@pytest.mark.parametrize("size", [(160, 48), (120, 36)], ids=["160x48", "120x36"])
async def test_cloudformation_states_are_whole_in_the_alarms_pane(size) -> None:
    # The lab's stuck stacks, as cockpit/backends/cloudformation.py reports them.
    estate = lab_like()
    estate.alarms.records = [
        *estate.alarms.records,
        Alarm("stack app-queues", "fake:stacks", Severity.CRITICAL, "UPDATE_ROLLBACK_FAILED",
              "UPDATE_ROLLBACK_FAILED: The following resource(s) failed to update: [JobsQueue].", since=T0),
        Alarm("stack app-network", "fake:stacks", Severity.WARNING, "UPDATE_IN_PROGRESS",
              "UPDATE_IN_PROGRESS for 2 h 5 min: User Initiated", since=T0),
        Alarm("stack app-cleanup", "fake:stacks", Severity.WARNING,
              "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "stuck for 3 h 0 min", since=T0),
    ]
    app = lab_app(estate)
    async with app.run_test(size=size) as pilot:
        await filled(app, pilot)
        text = screen_text(app)
        # Each state as a readable word, whole (not "✖ update_rollb"); the exact AWS state
        # leads the reason, shown where the reason has room.
        for whole in ("✖ rollback failed", "▲ updating", "▲ cleaning up", "stack app-queues", "stack app-cleanup"):
            assert whole in text, f"{whole!r} cut at {size}:\n{text}"
        if size == (160, 48):
            assert 'error_rate{service="checkout"} > 0.05' in text
            app.cockpit.panes[PaneKind.ALARMS].focus_body()
            await pilot.press("z")
            await wait_until(lambda: "UPDATE_ROLLBACK_FAILED: The following" in screen_text(app), 5)

async def test_a_narrow_pane_says_it_hides_columns_and_maximised_shows_them() -> None:
    app = lab_app(lab_like())
    async with app.run_test(size=(160, 48)) as pilot:
        await filled(app, pilot)
        db = app.cockpit.panes[PaneKind.DATABASE]
        assert db.table.hidden_columns > 0
        assert f"+{db.table.hidden_columns} cols →" in screen_text(app)
        db.focus_body()
        await pilot.press("z")
        await wait_until(lambda: db.table.hidden_columns == 0, 5)
        await pilot.pause()
        text = screen_text(app)
        for label in ("conns", "tps", "repl lag", "size", "temp", "longest"):
            assert label in text
        assert "cols →" not in text


def visible_panes(app: CockpitApp) -> list[str]:
    return [p.title for p in app.cockpit.panes.values() if p.display and p.region.area]


async def test_80x24_shows_one_pane_full_width_with_a_strip_of_every_pane() -> None:
    app = lab_app(lab_like())
    async with app.run_test(size=(80, 24)) as pilot:
        await filled(app, pilot)
        text = screen_text(app)
        assert visible_panes(app) == ["Services"], text
        # Every service row readable, api included, with whole status words.
        for whole in ("● healthy", "api", "deployment/scanner-worker", "✖ update_failed"):
            assert whole in text, text
        strip = next(line for line in text.splitlines() if "Alarms" in line and "DB" in line)
        for part in ("Services ✖4", "Alarms ✖1 ▲1", "Logs", "Queues ▲2", "DB ●"):
            assert part in strip, strip
        await pilot.press("tab")
        await pilot.pause()
        assert visible_panes(app) == ["Alarms"]
        assert 'error_rate{service="checkout"} > 0.05' in screen_text(app)
        await pilot.press("4")
        await pilot.pause()
        assert visible_panes(app) == ["Queues"]
        labels = [str(c.label) for c in app.cockpit.panes[PaneKind.QUEUES].table.ordered_columns]
        assert "dlq" in labels
        # The layout follows the terminal's size at run time.
        await pilot.resize_terminal(160, 48)
        await wait_until(lambda: len(visible_panes(app)) == 5, 5)
        await pilot.resize_terminal(80, 24)
        await wait_until(lambda: visible_panes(app) == ["Queues"], 5)


async def test_a_destructive_confirmation_fits_80x24_with_its_buttons() -> None:
    from cockpit.actions import ConfirmRequest, get_action
    from screens.confirm import ConfirmScreen

    app = lab_app(lab_like())
    async with app.run_test(size=(80, 24)) as pilot:
        await filled(app, pilot)
        target = "deployment/scanner-worker"
        app.push_screen(ConfirmScreen(ConfirmRequest(
            profile="production", production=True, action=get_action("service.rollback"), target=target,
            params={"from": "revision 3 (scanner-worker:2.5.0)", "to": "revision 2 (scanner-worker:2.4.9)"},
            command=("kubectl --kubeconfig /run/user/1000/cockpit/lab/kubeconfig --context lab-cluster"
                     f" --namespace repo-scanner rollout undo {target}"),
            typed=True, expected=target, dry_run=True)))
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.pause()
        screen = app.screen
        for widget in ("#cancel", "#confirm", "#typed"):
            region = screen.query_one(widget).region
            assert region.area and region.bottom <= 24, (widget, region)


def _rollback_request(production: bool = True):
    from cockpit.actions import ConfirmRequest, get_action

    target = "deployment/scanner-worker"
    return ConfirmRequest(
        profile="production", production=production, action=get_action("service.rollback"), target=target,
        params={"from": "revision 3 (scanner-worker:2.5.0)", "to": "revision 2 (scanner-worker:2.4.9)"},
        command=("kubectl --kubeconfig /run/user/1000/cockpit/lab/kubeconfig --context lab-cluster"
                 f" --namespace repo-scanner rollout undo {target}"),
        typed=True, expected=target, dry_run=True)


@pytest.mark.parametrize("before", [True, False], ids=["toast-then-dialog", "dialog-then-toast"])
async def test_a_toast_never_covers_the_confirmation_input_or_buttons_at_80x24(before) -> None:
    from screens.confirm import ConfirmScreen

    app = lab_app(lab_like())
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await filled(app, pilot)
        notice = "refresh failed: aws:ecs:production timed out after 10 s; retrying in 20 s"
        if before:
            app.notify(notice, severity="warning", timeout=60)
        app.push_screen(ConfirmScreen(_rollback_request()))
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        if not before:
            app.notify(notice, severity="warning", timeout=60)
        screen = app.screen
        deadline = time.monotonic() + 5
        while not screen.query("Toast"):  # Textual mounts it on the screen's rack after a refresh
            assert time.monotonic() < deadline, "the notice never reached the confirmation"
            await pilot.pause()
        await pilot.pause()
        toasts = [t.region for t in screen.query("Toast") if t.region.area]
        for widget in ("#typed", "#cancel", "#confirm"):
            region = screen.query_one(widget).region
            assert region.area and region.bottom <= 24, (widget, region)
            for toast in toasts:
                assert not toast.overlaps(region), (widget, region, toast, screen_text(app))
        if not before:  # said on the dialog's own line, above the buttons, clear of the input
            line = screen.query_one("#notice").region
            assert line.area and line.bottom <= screen.query_one("#cancel").region.y, line
            assert not line.overlaps(screen.query_one("#typed").region)
            assert "refresh failed: aws:ecs:production" in screen_text(app)
        await pilot.press("escape")
        # Still live after the dialog: the toast is back on the cockpit.
        deadline = time.monotonic() + 5
        while not [t for t in app.screen.query("Toast") if t.region.area]:
            assert time.monotonic() < deadline, "the notice was lost with the dialog"
            await pilot.pause()

# --- snapshots: the lab-like estate at each size (fixed clock and TZ, see _utc) --------------


def _steady(then=None):
    async def run_before(pilot) -> None:
        await filled(pilot.app, pilot)
        if then is not None:
            await then(pilot)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", [(160, 48), (120, 36), (80, 24)], ids=["160x48", "120x36", "80x24"])
def test_lab_like_snapshot(snap_compare, size) -> None:
    assert snap_compare(lab_app(lab_like()), terminal_size=size, run_before=_steady())


def test_maximised_database_snapshot(snap_compare) -> None:
    async def maximise(pilot) -> None:
        pilot.app.cockpit.panes[PaneKind.DATABASE].focus_body()
        await pilot.press("z")
        await pilot.pause()
    assert snap_compare(lab_app(lab_like()), terminal_size=(120, 36), run_before=_steady(maximise))


def test_rollback_confirmation_80x24_snapshot(snap_compare) -> None:
    from cockpit.actions import ConfirmRequest, get_action
    from screens.confirm import ConfirmScreen

    async def confirm(pilot) -> None:
        target = "deployment/scanner-worker"
        pilot.app.push_screen(ConfirmScreen(ConfirmRequest(
            profile="production", production=True, action=get_action("service.rollback"), target=target,
            params={"from": "revision 3 (scanner-worker:2.5.0)", "to": "revision 2 (scanner-worker:2.4.9)"},
            command=("kubectl --kubeconfig /run/user/1000/cockpit/lab/kubeconfig --context lab-cluster"
                     f" --namespace repo-scanner rollout undo {target}"),
            typed=True, expected=target, dry_run=True)))
        await wait_until(lambda: isinstance(pilot.app.screen, ConfirmScreen), 5)
        await pilot.pause()
    assert snap_compare(lab_app(lab_like()), terminal_size=(80, 24), run_before=_steady(confirm))


async def test_a_narrow_table_cuts_pod_names_in_the_middle() -> None:
    from rich.text import Text
    from textual.app import App

    from widgets.keyed_table import Col, KeyedTable

    class One(App):
        def compose(self):
            yield KeyedTable([Col("pod", 12, 0, max=48, middle=True), Col("status", 8, 0),
                              Col("node", 14, 4)])

    app = One()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(name, [Text(name), Text("Running"), Text("lab-node-1")])
                    for name in ("scanner-worker-7d9f8c6b5-9b0d9", "scanner-worker-7d9f8c6b5-x2kq4")])
        await pilot.pause()
        lines = ["".join(s.text for s in table.render_line(y)) for y in range(3)]
        assert "scanner-work…-9b0d9" in lines[1] and "scanner-work…-x2kq4" in lines[2], lines
        assert "node" not in lines[0] and "+1 col →" in lines[0], lines
