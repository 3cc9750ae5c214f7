"""`database: activity`: one PostgreSQL database's sessions, blocking tree and slow queries.

Sessions are sorted by duration (the current query's for active ones, the open
transaction's otherwise) and filterable with ``/``; the blocking tree nests who waits for
whom with the lock and table; slow statements come from pg_stat_statements, or the screen
says how to enable it. ``c`` cancels the selected session's query and ``K`` terminates the
session, both through ``app.request_action`` (the ActionRunner: confirmation, read-only,
audit). The data is refreshed by a one-shot timer re-armed after each fetch, so a slow
database only slows this screen and refreshes never overlap; an action taken here is
followed by a read at once, so its result shows without waiting for the timer. Sessions are
a ``KeyedTable``: only cells whose text changed are repainted, and the cursor stays on its
session (by pid) when sessions come, go or change places.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Static
from textual.worker import Worker

from cockpit.backends.base import ActivityReader
from cockpit.dbmodel import (
    SESSION_COLUMNS,
    Activity,
    Session,
    blocking_tree_lines,
    filter_sessions,
    session_cells,
    slow_sections,
)
from cockpit.text import sanitize
from widgets.footer import KeyFooter
from widgets.host import host
from widgets.keyed_table import KeyedTable

COLUMNS = SESSION_COLUMNS
WIDTHS = (7, 12, 16, 16, 20, 16, 8, 200)
QUERY_WIDTH = 200  # the query column's: a wide terminal shows more of it than the detail
REFRESH_S = 3.0


class ActivityScreen(Screen):
    DEFAULT_CSS = """
    ActivityScreen #filter { display: none; dock: top; }
    ActivityScreen #filter.-shown { display: block; }
    ActivityScreen #activity-status { height: 1; color: $text-muted; padding: 0 1; }
    ActivityScreen #sessions { height: 1fr; }
    ActivityScreen #activity-more { height: 45%; border-top: solid $primary; }
    """

    AUTO_FOCUS = "#sessions"
    BINDINGS = [
        Binding("escape", "back", "Back", id="database.back"),
        Binding("slash", "filter", "Filter", id="database.filter"),
        Binding("c", "cancel_query", "Cancel query", id="database.cancel_query"),
        Binding("K", "terminate", "Terminate session", id="database.terminate_session"),
        Binding("r", "reload", "Reload", id="database.reload"),
    ]

    def __init__(
        self,
        source: ActivityReader,
        database: str,
        *,
        banner: Widget | None = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        super().__init__()
        self.source = source  # cancel / terminate: when it has those capabilities too
        self.database = database
        self.banner = banner
        self.refresh_s = refresh_s
        self.activity: Activity | None = None
        self.shown: list[Session] = []
        self.tree_lines: list[str] = []
        self.error_text = ""
        self._refresh_timer: Timer | None = None
        self._painted = False
        self._slow_shown: Any = None
        self._status_shown = ""

    # --- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.banner is not None:
            yield self.banner
        yield Input(placeholder="filter: pid, user, application, state or query text", id="filter")
        yield Static(Text(f"⧗ loading activity of {self.database}…"), id="activity-status")
        yield KeyedTable(list(zip(COLUMNS, WIDTHS, strict=True)), id="sessions")
        with VerticalScroll(id="activity-more"):
            yield Static(id="tree")
            yield Static(id="slow")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    # --- data ---------------------------------------------------------------------------

    @work(exclusive=True, group="db-activity", exit_on_error=False)
    async def load(self) -> None:
        from cockpit.hub import describe_error

        try:
            activity = await self.source.activity()
        except Exception as e:  # shown in place; the last good data stays
            message, hint = describe_error(e)
            self.error_text = f"✖ {message}" + (f" · {hint}" if hint else "")
            self._show_status()
        else:
            self.error_text = ""
            self.activity = activity
            self._render_activity()
        finally:
            self._rearm()

    def _rearm(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        if self.is_attached:
            self._refresh_timer = self.set_timer(self.refresh_s, self.load, name="db-activity")

    def _render_activity(self) -> None:
        if self.activity is None:
            return
        self._show_sessions()
        tree_lines = blocking_tree_lines(self.activity.sessions)
        # Each part is repainted only when what it shows changed: an idle screen sends nothing.
        if tree_lines != self.tree_lines or not self._painted:
            self.tree_lines = tree_lines
            tree = Text("Blocking tree (who blocks whom)\n", style="bold")
            tree.append(
                "\n".join(sanitize(line, 400) for line in self.tree_lines)
                or "no session is waiting for a lock"
            )
            self.query_one("#tree", Static).update(tree)
        if self.activity.slow != self._slow_shown or not self._painted:
            self._slow_shown = self.activity.slow
            self.query_one("#slow", Static).update(Group(*self._slow_parts()))
        self._painted = True

    def _slow_parts(self) -> list[Any]:
        from screens.detail import render_section

        assert self.activity is not None
        parts: list[Any] = []
        for section in slow_sections(self.activity.slow):
            parts += render_section(section)
        return parts

    def _show_sessions(self) -> None:
        assert self.activity is not None
        text = self.query_one("#filter", Input).value
        new = filter_sessions(self.activity.sessions, text)
        self.shown = new
        self.query_one("#sessions", KeyedTable).sync(
            [(str(b.pid), [Text(v) for v in session_cells(b, QUERY_WIDTH)]) for b in new]
        )
        self._show_status()

    def _show_status(self) -> None:
        total = len(self.activity.sessions) if self.activity else 0
        text = self.query_one("#filter", Input).value
        flt = f" matching {text!r}" if text else ""
        blocked = sum(1 for b in self.activity.sessions if b.blocked_by) if self.activity else 0
        line = (
            f"{self.database}: {len(self.shown)} of {total} sessions{flt} · {blocked} waiting "
            f"on a lock · c cancel query · K terminate session · / filter · esc back"
        )
        if self.error_text:
            line = f"{self.error_text} · showing the last good data" if self.activity else self.error_text
        if line != self._status_shown:
            self._status_shown = line
            self.query_one("#activity-status", Static).update(Text(line))

    # --- selection and actions -----------------------------------------------------------

    def selected(self) -> Session | None:
        key = self.query_one("#sessions", KeyedTable).selected_key
        return next((b for b in self.shown if str(b.pid) == key), None)

    def _request(self, action_id: str) -> None:
        from cockpit.registry import get_action

        spec = get_action(action_id)
        target = self.selected()
        if target is None:
            self.notify(f"{spec.title}: no session selected", severity="warning")
            return
        if not isinstance(self.source, spec.capability):
            self.notify(f"{spec.title} is not supported here", severity="warning")
            return
        worker = host(self).request_action(spec, target, "key")
        if isinstance(worker, Worker):
            self._read_after(worker)

    @work(group="db-after-action", exit_on_error=False)
    async def _read_after(self, action: Worker) -> None:
        """Once the action is done (or refused, or failed), read again: its result shows now."""
        try:
            await action.wait()
        except Exception:  # noqa: S110 - the app told the user; the read shows the state anyway
            pass
        if self.is_attached:
            self.load()

    def action_cancel_query(self) -> None:
        self._request("database.cancel_query")

    def action_terminate(self) -> None:
        self._request("database.terminate_session")

    def action_reload(self) -> None:
        self.load()

    # --- filter and back -----------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        if self.activity is not None:
            self._show_sessions()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#sessions", KeyedTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            # Esc in the filter clears it first; a second Esc leaves the screen.
            box.value = ""
            box.remove_class("-shown")
            self.query_one("#sessions", KeyedTable).focus()
            return
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self.dismiss()


def open_activity(app: App, record: Any) -> ActivityScreen | None:
    """Push the activity screen for a database row (the palette's "database: activity").

    ``record`` is the focused ``DatabaseSnapshot``; its source must be a PostgreSQL source.
    Returns the screen pushed, or None (with a notice) when the row cannot show activity.
    """
    backend_for = getattr(app, "backend_for", None)
    source = backend_for(record) if backend_for is not None and record is not None else None
    if not isinstance(source, ActivityReader):
        app.notify(
            "database: activity needs a PostgreSQL row of the Database pane",
            severity="warning",
        )
        return None
    make_banner = getattr(app, "make_banner", None)
    refresh = getattr(getattr(app, "profile", None), "refresh", REFRESH_S)
    screen = ActivityScreen(
        source,
        getattr(record, "name", "database"),
        banner=make_banner() if make_banner is not None else None,
        refresh_s=max(float(refresh), 1.0),
    )
    app.push_screen(screen)
    return screen
