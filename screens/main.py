"""The cockpit grid: five panes on one screen, from 80x24 up to wall displays."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget

from cockpit.hub import LogBatch, SourceUpdate
from cockpit.model import PaneKind, Severity
from widgets.alarms import AlarmsPane
from widgets.compositor import RowCroppedCompositor
from widgets.database import DatabasePane
from widgets.explain import ExplainPanel
from widgets.footer import KeyFooter
from widgets.host import host
from widgets.incident import IncidentBanner
from widgets.logs import LogsPane
from widgets.pane import Pane
from widgets.pane_strip import PaneStrip
from widgets.queues import QueuesPane
from widgets.services import ServicesPane


class CockpitScreen(Screen):
    # Textual's Screen repaints all of itself when the focus moves (its reactive repaints):
    # a full frame per Tab. The widgets that gain and lose focus repaint themselves already.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    BINDINGS = [
        Binding("z", "toggle_maximize", "Maximise", id="screen.maximize"),
        Binding("e", "toggle_explain", "Explain", id="screen.explain"),
        Binding("escape", "back", "Back", show=False, id="screen.back"),
        # In the small-terminal layout Tab shows the next pane (only one is on screen).
        Binding("tab", "next_pane(1)", "Next pane", show=False, id="screen.next_pane"),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, id="screen.previous_pane"),
        *(Binding(str(n), f"show_pane({n})", f"Pane {n}", show=False, id=f"screen.pane_{n}") for n in range(1, 6)),
    ]
    # A maximised pane keeps the profile (production!), the incident and the keys around it.
    ALLOW_IN_MAXIMIZED_VIEW = "ProfileBanner, IncidentBanner, KeyFooter"

    # Below this the grid's panes are too small to read (~5 rows, ~14 columns with explain):
    # one pane at a time, full width, with a strip of every pane's state.
    COMPACT_BELOW = (100, 30)

    def __init__(self, banner, log_capacity: int = 10_000) -> None:
        super().__init__()
        # The screen that stays open all shift repaints a row at a time: render only that.
        self._compositor = RowCroppedCompositor()
        self.banner = banner
        # A profile of several AWS estates or Kubernetes contexts: rows show their estate.
        try:
            estates = bool(getattr(getattr(self.app, "profile", None), "several_estates", False))
        except Exception:  # no app yet, or one without a profile (a test's): one estate
            estates = False
        self.panes: dict[PaneKind, Pane] = {
            PaneKind.SERVICES: ServicesPane(id="services", estates=estates),
            PaneKind.ALARMS: AlarmsPane(id="alarms", estates=estates),
            PaneKind.LOGS: LogsPane(capacity=log_capacity, id="logs"),
            PaneKind.QUEUES: QueuesPane(id="queues", estates=estates),
            PaneKind.DATABASE: DatabasePane(id="database"),
        }
        self.explain_panel = ExplainPanel(id="explain")
        self.pane_strip = PaneStrip(id="pane-strip")
        self.current = PaneKind.SERVICES  # the pane the small-terminal layout shows
        self.incident_banner = IncidentBanner(getattr(banner, "marker", None), id="incident")

    def compose(self) -> ComposeResult:
        yield self.banner
        yield self.incident_banner
        yield self.explain_panel
        yield self.pane_strip
        with Container(id="grid"):
            yield from self.panes.values()
        yield KeyFooter()

    def on_mount(self) -> None:
        self.panes[PaneKind.SERVICES].set_class(True, "-current")
        self._fit_layout()
        self.panes[PaneKind.SERVICES].focus_body()

    def on_resize(self) -> None:
        self._fit_layout()

    @property
    def compact(self) -> bool:
        return self.has_class("-compact")

    def _fit_layout(self) -> None:
        """The grid, or one pane at a time below COMPACT_BELOW: chosen by size, at run time."""
        width, height = self.app.size
        small = width < self.COMPACT_BELOW[0] or height < self.COMPACT_BELOW[1]
        if small != self.compact:
            self.set_class(small, "-compact")
            self.update_strip()

    def update_strip(self) -> None:
        if self.compact:
            pane: Any = self.panes[PaneKind.SERVICES]  # a table pane: it styles severities
            styles = {sev: pane.severity_style(sev) for sev in (Severity.CRITICAL, Severity.WARNING, Severity.OK)}
            self.pane_strip.show(self.panes, self.current, styles)

    def show_pane(self, kind: PaneKind, focus: bool = True) -> None:
        """Make ``kind`` the pane on screen (small layout) and focus it."""
        if kind is not self.current:
            self.panes[self.current].set_class(False, "-current")
            self.panes[kind].set_class(True, "-current")
            self.current = kind
            self.update_strip()
        if self.maximized is not None and self.maximized is not self.panes[kind]:
            self.minimize()
        if focus:
            self.panes[kind].focus_body()

    def action_next_pane(self, step: int) -> None:
        if not self.compact:
            (self.focus_next if step > 0 else self.focus_previous)()
            return
        kinds = list(self.panes)
        self.show_pane(kinds[(kinds.index(self.current) + step) % len(kinds)])

    def action_show_pane(self, n: int) -> None:
        kinds = list(self.panes)
        if 1 <= n <= len(kinds):
            self.show_pane(kinds[n - 1])

    @property
    def logs(self) -> LogsPane:
        return self.panes[PaneKind.LOGS]  # type: ignore[return-value]

    def apply(self, update: SourceUpdate) -> None:
        self.panes[update.pane].apply(update)
        self.update_strip()

    def add_logs(self, batch: LogBatch) -> None:
        self.logs.add_batch(batch)

    def refresh_status(self) -> None:
        for pane in self.panes.values():
            pane.refresh_status()
        self.update_strip()

    def focused_pane(self) -> Pane | None:
        return self._pane_of(self.focused)

    @staticmethod
    def _pane_of(node: Any) -> Pane | None:
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        return node

    def watch_focused(self, old: Widget | None, new: Widget | None) -> None:
        # The focus marker moves in the same frame as the focus: through the panes' own
        # DescendantFocus/Blur messages it came two frames (~30 ms) after the key.
        for pane in {self._pane_of(old), self._pane_of(new)}:
            if pane is not None:
                pane.refresh_status()
        pane = self._pane_of(new)
        if pane is not None and pane.kind is not self.current:
            self.show_pane(pane.kind, focus=False)  # a click or a jump to a pane makes it the shown one

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        pane = self.focused_pane()
        if pane is not None:
            self.maximize(pane, container=False)

    def action_toggle_explain(self) -> None:
        self.explain_panel.toggle_class("-shown")
        self.update_explain()

    def update_explain(self) -> None:
        if not self.explain_panel.shown:
            return
        pane = self.focused_pane() or self.panes[PaneKind.SERVICES]
        self.explain_panel.show(host(self).explain_sections(pane))

    def on_descendant_focus(self) -> None:
        self.update_explain()
        pane = self.focused_pane()
        if pane is not None:
            host(self).publish_focus(pane.kind.value, getattr(self.focused, "selected_key", None))

    def on_data_table_row_highlighted(self) -> None:
        self.update_explain()

    def action_back(self) -> None:
        pane = self.focused_pane()
        if pane is not None and pane.filter_text:
            # A filter kept with Enter: Esc clears it, as it does while typing (k9s, htop).
            pane.filter_input.value = ""
            pane.filter_input.remove_class("-shown")
            pane.apply_filter("")
            return
        if self.maximized is not None:
            self.minimize()
