"""Navigation: which screen a row, a log line or a palette command opens, and what those
screens ask back of the app.

A row's Enter opens its detail (with the backend's own sections and the matching runbooks,
whose ticked steps go to the audit log); a log line opens as a detail of its own; the palette
opens the database activity, log search, Kubernetes nodes and workload pods, the AWS call
counts and the incident timeline, and runs the pane commands (maximise, follow, explain,
theme) the ``Verbs`` of ``cockpit/commands.py`` name. ``Navigation`` is a mixin of
``cockpit.app.CockpitApp``; ``_Host`` says what it uses there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from textual import work
from textual.app import App

from cockpit.model import PaneKind
from widgets.logview import LogView
from widgets.pane import Pane


class _Host(Protocol):
    cockpit: Any  # screens.main.CockpitScreen
    hub: Any  # cockpit.hub.Hub | None
    runner: Any  # cockpit.actions.ActionRunner
    profile: Any
    theme: str

    def backend_for(self, record: Any) -> Any: ...

    def make_banner(self) -> Any: ...

    def _refused_for_watchers(self) -> bool: ...

    def push_screen(self, screen: Any) -> Any: ...

    async def push_screen_wait(self, screen: Any) -> Any: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...


class Navigation:
    def on_pane_open_detail(self: _Host, message: Pane.OpenDetail) -> None:
        from cockpit.backends.base import DetailProvider
        from cockpit.runbooks import match_runbooks

        record = message.record
        backend = self.backend_for(record)
        provider = backend if isinstance(backend, DetailProvider) else None
        names = (getattr(record, "name", ""), getattr(record, "resource", ""))
        runbooks = match_runbooks(self.profile.runbooks, *names)
        from screens.detail import DetailScreen

        self.push_screen(DetailScreen(record, message.title, self.make_banner(), provider, runbooks))

    def record_runbook_step(self: _Host, runbook, step: str, done: bool, target: str) -> None:
        from cockpit.runbooks import record_step

        if self._refused_for_watchers():
            return
        try:
            record_step(self.runner.audit, self.profile.name, runbook, step, done, target)
        except Exception as e:
            self.notify(f"runbook step not recorded: {e}", severity="error")

    def on_log_view_open_line(self: _Host, message: LogView.OpenLine) -> None:
        from screens.detail import DetailScreen

        self.push_screen(DetailScreen(message.line.record, "Log line", self.make_banner()))

    def explain_sections(self: _Host, pane: Pane) -> list[Any]:
        from cockpit.explain import explain

        sources: list[Any] = [s for s in (self.hub.sources if self.hub else []) if s.pane is pane.kind]
        if pane.kind is PaneKind.LOGS and self.hub:
            sources = self.hub.log_sources
        record = getattr(pane, "selected", None)
        sections = explain(pane.kind, sources, record, self.backend_for(record), self.profile.name,
                           getattr(self, "action_specs", ()), estates=self.profile.several_estates)
        states = pane.source_lines()
        if states:  # every source's state, each error in full: the header only names them
            from cockpit.explain import ExplainSection

            sections.insert(1, ExplainSection("Sources now", states))
        return sections

    def action_database_activity(self: _Host) -> None:
        from cockpit.model import DatabaseSnapshot
        from screens.database import open_activity

        pane: Any = self.cockpit.panes[PaneKind.DATABASE]  # a keyed pane: records, selected
        record = pane.selected
        if not getattr(record, "backend", "") == "postgres":
            record = next((r for r in pane.records.values()
                           if isinstance(r, DatabaseSnapshot) and r.backend == "postgres"), record)
        open_activity(cast(App[Any], self), record)  # the mixin's self is the app

    def push_sections(self: _Host, title: str, load: Callable[[], Awaitable[list[Any]]]) -> None:
        """A read-only screen of sections a backend computes when it opens."""
        from screens.detail import SectionsScreen

        self.push_screen(SectionsScreen(title, self.make_banner(), load))

    @work(group="search", exit_on_error=False)
    async def search_logs(self: _Host, source: Any) -> None:
        from screens.search import SearchPrompt, SearchScreen

        answer = await self.push_screen_wait(SearchPrompt())
        if answer is not None:
            pattern, hours = answer
            self.push_screen(SearchScreen(source, pattern, hours, self.make_banner()))

    def toggle_maximize(self: _Host) -> None:
        self.cockpit.action_toggle_maximize()

    def follow_logs(self: _Host) -> None:
        self.cockpit.logs.view.action_follow()

    def toggle_explain(self: _Host) -> None:
        self.cockpit.action_toggle_explain()

    def set_theme(self: _Host, name: str) -> None:
        self.theme = name

    def open_nodes(self: _Host, source: Any) -> None:
        from screens.k8s import NodesScreen

        title = f"Nodes — context {getattr(source.ctx, 'name', source.title)}"
        self.push_screen(NodesScreen(source, title, self.make_banner()))

    def follow_workload_logs(self: _Host, source: Any, record: Any) -> None:
        from screens.k8s import start_following

        start_following(self, source, record)

    def open_workload_pods(self: _Host, source: Any, record: Any) -> None:
        from screens.k8s import open_workload_pods

        open_workload_pods(self, source, record)

    def stop_following(self: _Host, log_source_id: str) -> None:
        from screens.k8s import stop_following

        stop_following(self, log_source_id)

    def action_timeline(self: _Host) -> None:
        from screens.timeline import TimelineScreen

        self.push_screen(TimelineScreen(self.runner.audit, self.profile.name, banner=self.make_banner()))

