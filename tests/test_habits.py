"""The habits on-call engineers bring from k9s, htop and pg_activity (issue 23, items 5-6):
a footer that offers only what the focused row can do, a cursor that stays where the user
put it, Home/End, sortable columns, `d`/`l` on a row, `:` commands and a breadcrumb."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from cockpit.app import CockpitApp
from cockpit.model import PaneKind, ServiceStatus, Severity
from cockpit.profile import HostConfig, Profile
from cockpit.sources import Sources

from .fakes import FakeEstate, ListSource, services
from .helpers import wait_until


def make_app(factory, **kw) -> CockpitApp:
    profile = Profile(name="test", description="fake estate", refresh=0.2, **kw)
    return CockpitApp(profile, sources_factory=factory)


def footer_text(app: CockpitApp) -> str:
    from widgets.footer import KeyFooter

    return app.screen.query_one(KeyFooter).render().plain


# --- item 5: footer per row, start-up cursor ----------------------------------------------


async def test_the_footer_hides_restart_on_a_process_found_with_ps():
    from cockpit.backends.hosts import build_host_sources

    host = HostConfig("this-machine", local=True, units=("python",))
    (host_services, host_alarms), _logs = build_host_sources(Profile(name="t", hosts=(host,), refresh=1, timeout=8))

    def factory(profile, notes):
        return Sources([host_services], [])

    app = make_app(factory)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            pane = app.cockpit.panes[PaneKind.SERVICES]
            await wait_until(lambda: pane.row_count() == 2, 10)
            pane.focus_body()
            for _ in range(2):  # the host row, then the process row
                await pilot.pause()
                assert pane.selected.backend in ("host", "process")
                assert "service: restart" not in footer_text(app), pane.selected.name
                await pilot.press("down")
    finally:
        await host_alarms.close()


class GatedSource(ListSource):
    """A source that answers only once ``gate`` is set (the lab's AWS side, seconds later)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate = asyncio.Event()

    async def fetch(self):
        await self.gate.wait()
        return await super().fetch()


def late_rows_estate():
    estate = FakeEstate()
    local = ListSource("fake:host", PaneKind.SERVICES, [
        ServiceStatus("postgres", "process", "fake:host", Severity.OK, "running", 1, 1, cluster="this-machine")])
    late = GatedSource("fake:ecs", PaneKind.SERVICES, services(), "ECS production")

    def factory(profile, notes):
        return Sources([local, late, estate.alarms, estate.queues, estate.database], [estate.logs])

    return late, factory


async def test_rows_arriving_later_leave_the_cursor_on_the_first_row():
    late, factory = late_rows_estate()
    app = make_app(factory)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 1, 5)
        late.gate.set()
        await wait_until(lambda: pane.row_count() == 3, 5)
        await pilot.pause()
        assert pane.table.cursor_row == 0 and pane.selected.name == "api"
        # Once the user moved, the cursor follows its record.
        await pilot.press("down")
        assert pane.selected.name == "worker"
        late.records = [replace(late.records[0], name="aaa"), *late.records]
        await wait_until(lambda: pane.row_count() == 4, 5)
        await pilot.pause()
        assert pane.selected.name == "worker"


# --- item 6: k9s habits -------------------------------------------------------------------


def many_services(n: int) -> list[ServiceStatus]:
    return [ServiceStatus(f"svc-{i:02d}", "ecs", "fake:ecs", Severity.OK, "healthy", i % 4, 3,
                          cluster="production") for i in range(n)]


async def test_home_and_end_go_to_the_first_and_last_row():
    estate = FakeEstate()
    estate.services.records = many_services(60)
    app = make_app(lambda p, n: estate.factory(p, n))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 60, 5)
        pane.focus_body()
        await pilot.press("end")
        assert pane.selected.name == "svc-59"
        await pilot.press("home")
        assert pane.selected.name == "svc-00"


async def test_shift_letter_sorts_by_the_column_with_an_arrow_and_again_reverses():
    estate = FakeEstate()
    estate.services.records = [*services(), ServiceStatus("batch", "ecs", "fake:ecs", Severity.CRITICAL,
                                                          "failing", 0, 5, cluster="production")]
    app = make_app(lambda p, n: estate.factory(p, n))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        table = pane.table
        await wait_until(lambda: pane.row_count() == 3, 5)
        pane.focus_body()
        await pilot.pause()
        names = lambda: [pane.records[k].name for k in table.row_keys]  # noqa: E731

        def arrows() -> dict[str, str]:  # column -> the arrow its header shows
            return {str(c.key.value): c.label.plain[-1] for c in table.ordered_columns
                    if c.label.plain[-1] in "▲▼"}

        assert names() == ["api", "batch", "worker"]
        letter = next(k for k, label in table.sort_letters.items() if label == "run/des")
        await pilot.press(letter)
        assert names() == ["batch", "api", "worker"], "0/5, 2/2, 2/3: by running count"
        assert arrows() == {"run/des": "▲"}
        await pilot.press(letter)
        assert names() == ["worker", "api", "batch"]
        assert arrows() == {"run/des": "▼"}
        # By status: the worst first, ascending.
        status = next(k for k, label in table.sort_letters.items() if label == "status")
        await pilot.press(status)
        assert names() == ["batch", "worker", "api"]
        # Remembered by the pane across refreshes, and the cursor stays on its row.
        await pilot.press("down")
        chosen = pane.selected.name
        estate.services.records = [*estate.services.records, ServiceStatus(
            "aaa", "ecs", "fake:ecs", Severity.CRITICAL, "failing", 0, 1, cluster="production")]
        await wait_until(lambda: pane.row_count() == 4, 5)
        assert names()[:2] == ["aaa", "batch"] and pane.selected.name == chosen
        assert arrows() == {"status": "▲"}


async def test_clicking_a_header_sorts_by_it():
    estate = FakeEstate()
    app = make_app(lambda p, n: estate.factory(p, n))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        table = pane.table
        names = lambda: [pane.records[k].name for k in table.row_keys]  # noqa: E731
        column = [c.key.value for c in table.ordered_columns].index("service")
        x = sum(c.get_render_width(table) for c in table.ordered_columns[:column]) + 2
        await pilot.click(table, offset=(x, 0))
        await wait_until(lambda: names() == ["api", "worker"] and "service▲" in table.ordered_columns[column].label.plain, 5)
        await pilot.click(table, offset=(x, 0))
        await wait_until(lambda: names() == ["worker", "api"], 5)


async def test_d_describes_the_row_and_l_shows_its_logs():
    from screens.detail import DetailScreen

    estate = FakeEstate()
    app = make_app(lambda p, n: estate.factory(p, n))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        estate.logs.push("GET /v1/orders 200", source="api/task-1")
        estate.logs.push("job done", source="worker/task-7")
        logs = app.cockpit.logs
        await wait_until(lambda: len(logs.view.lines) == 2, 5)
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
        assert app.screen.record.name == "api"
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)
        await pilot.press("down", "l")
        await wait_until(lambda: [ln.text for ln in logs.view.lines] == ["job done"], 5)
        assert logs.view.has_focus and logs.filter_input.value == "worker"


async def test_colon_opens_a_command_line_that_completes_and_runs():
    from screens.habits import CommandLine
    from screens.timeline import TimelineScreen

    estate = FakeEstate()
    app = make_app(lambda p, n: estate.factory(p, n))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await pilot.press("colon")
        await wait_until(lambda: isinstance(app.screen, CommandLine), 5)
        await pilot.press(*"ala", "tab")
        assert app.screen.input.value == "alarms"
        await pilot.press("enter")
        await wait_until(lambda: app.cockpit.panes[PaneKind.ALARMS].table.has_focus, 5)
        await pilot.press("colon", *"timel", "tab", "enter")
        await wait_until(lambda: isinstance(app.screen, TimelineScreen), 5)
        await pilot.press("colon", *"services", "enter")
        await wait_until(lambda: app.screen is app.cockpit and pane.table.has_focus, 5)
        await pilot.press("colon", *"theme cockpit-light", "enter")
        await wait_until(lambda: app.theme == "cockpit-light", 5)
        await pilot.press("colon", *"help: keys", "enter")  # a palette command, by its title
        await wait_until(lambda: type(app.screen).__name__ == "HelpScreen", 5)
        await pilot.press("escape")
        await wait_until(lambda: app.screen is app.cockpit, 5)
        await pilot.press("slash", "colon")  # typed into a filter, a colon is a colon
        await pilot.pause()
        assert app.screen is app.cockpit and pane.filter_input.value == ":"


async def test_every_screen_has_a_breadcrumb_line():
    from widgets.breadcrumb import Breadcrumb

    estate = FakeEstate()
    app = make_app(lambda p, n: estate.factory(p, n))

    def crumb() -> str:
        found = app.screen.query(Breadcrumb)
        return str(found.first().render()) if found else ""

    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 5)
        pane.focus_body()
        await wait_until(lambda: crumb() == "test › Services", 5)
        await pilot.press("enter")
        await wait_until(lambda: crumb() == "test › Services › api", 5)
        await pilot.press("escape")
        await wait_until(lambda: crumb() == "test › Services", 5)
        app.cockpit.panes[PaneKind.ALARMS].focus_body()
        await wait_until(lambda: crumb() == "test › Alarms", 5)
        line = app.screen.query_one(Breadcrumb)
        assert line.region.y == 1, "the line under the profile banner"


async def test_profile_command_quits_so_the_cli_opens_the_other_profile():
    estate = FakeEstate()
    app = make_app(lambda p, n: estate.factory(p, n))
    app.profile_names = ("test", "other")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("colon", *"profile oth", "tab", "enter")
        await wait_until(lambda: app.next_profile == "other", 10)
    assert app.return_code == 0


# --- README's Keys table is the app's bindings --------------------------------------------

README_KEYS = {"↑": "up", "↓": "down", "←": "left", "→": "right", "pgup": "pageup", "pgdn": "pagedown",
               "esc": "escape", "/": "slash", "?": "question_mark", ":": "colon", "shift+←": "shift+left",
               "shift+→": "shift+right", "ctrl+p": "ctrl+p"}


def readme_keys() -> set[str]:
    """Every key the README's Keys table names: the backticked words of its first column."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = re.search(r"### Keys\n.*?(\| key .*?)\n\n", text, re.S)
    assert table, "README lost its Keys table"
    keys: set[str] = set()
    for line in table.group(1).splitlines()[2:]:
        for key in re.findall(r"`([^`]+)`", line.split("|")[1]):
            low = key if len(key) == 1 else key.lower()
            keys.add(README_KEYS.get(low, low))
    return keys


def app_bindings() -> tuple[dict[str, str], set[str]]:
    """(key -> description of every binding of ours that has one; every key bound at all,
    Textual's own DataTable, Input and App keys included)."""
    import importlib
    import inspect
    import pkgutil

    from textual.binding import Binding
    from textual.dom import DOMNode

    import screens
    import widgets

    for pkg in (screens, widgets):
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    importlib.import_module("cockpit.app")
    ours: dict[str, str] = {}
    bound: set[str] = {"ctrl+p"}  # the command palette: App.COMMAND_PALETTE_BINDING
    seen: set[type] = set()
    stack: list[type] = [DOMNode]
    for cls in stack:
        stack += [c for c in cls.__subclasses__() if c not in seen]
        seen.add(cls)
        mine = cls.__module__.split(".")[0] in ("cockpit", "screens", "widgets")
        for b in cls.__dict__.get("BINDINGS", ()):
            b = b if isinstance(b, Binding) else Binding(*b)
            for key in b.key.split(","):
                bound.add(key.strip())
                if mine and b.description and inspect.isclass(cls):
                    ours.setdefault(key.strip(), f"{b.description} ({cls.__name__})")
    return ours, bound


def test_readme_keys_table_is_the_apps_bindings():
    ours, bound = app_bindings()
    documented = readme_keys()
    assert {"colon", "d", "l", "home", "shift+left", "ctrl+p"} <= documented
    missing = {k: d for k, d in ours.items() if k not in documented}
    assert not missing, f"bindings missing from README's Keys table: {missing}"
    unknown = documented - bound
    assert not unknown, f"keys in README's Keys table that nothing binds: {unknown}"


async def test_colon_pods_nodes_and_activity_open_their_screens(k8s) -> None:
    """`:pods` on a focused workload, `:nodes` and `:activity`, as k9s's and pg_activity's."""
    from cockpit.backends.kubernetes import (
        KubeContext,
        KubernetesAlarmsSource,
        KubernetesServicesSource,
    )
    from screens.database import ActivityScreen
    from screens.k8s import NodesScreen, WorkloadPodsScreen

    from .test_detail_actions import Postgres
    from .test_kubernetes import NS

    k8s.state.add_deployment(NS, "worker")
    k8s.state.add_node("node-1")
    estate = FakeEstate()

    def factory(profile, notes):
        return Sources([KubernetesServicesSource(KubeContext(k8s.context), NS),
                        KubernetesAlarmsSource(KubeContext(k8s.context), (NS,)), Postgres()], [estate.logs])

    app = make_app(factory)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: any(s.name == "deployment/worker" for s in pane.records.values()), 15)
        pane.focus_body()
        pane.table.move_cursor(row=pane.table.row_keys.index(
            next(k for k, s in pane.records.items() if s.name == "deployment/worker")))
        await pilot.press("colon", *"pods", "enter")
        await wait_until(lambda: isinstance(app.screen, WorkloadPodsScreen), 5)
        await pilot.press("colon", *"nod", "tab", "enter")
        await wait_until(lambda: isinstance(app.screen, NodesScreen), 5)
        await wait_until(lambda: "node-1" in app.screen.rows, 10)
        await pilot.press("colon", *"activity", "enter")
        await wait_until(lambda: isinstance(app.screen, ActivityScreen), 5)
        assert app.screen_stack[1] is app.cockpit and len(app.screen_stack) == 3  # from the cockpit
