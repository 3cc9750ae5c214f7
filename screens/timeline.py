"""`incident: timeline`: alarms and actions of this profile in time order, filterable, exportable.

Alarm transitions are this cockpit's (its audit session's); actions and notes are every
session's of the profile, as in ``cockpit timeline``.

The events come from the audit log (``cockpit.timeline``); the exports are the same
Markdown and JSON lines that ``cockpit timeline`` prints, written to the current directory.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from cockpit.audit import AuditLog
from cockpit.errors import CockpitError
from cockpit.text import sanitize
from cockpit.timeline import (
    TimelineEvent,
    build_timeline,
    filter_events,
    one_cockpit,
    to_jsonl,
    to_markdown,
)
from widgets.footer import KeyFooter


class TimelineScreen(Screen):
    DEFAULT_CSS = """
    TimelineScreen #filter {
        display: none;
        dock: top;
    }
    TimelineScreen #filter.-shown {
        display: block;
    }
    TimelineScreen #timeline-status {
        height: 1;
        color: $text-muted;
        padding: 0 1;
    }
    TimelineScreen .outcome-failed, TimelineScreen .outcome-refused {
        color: $error;
    }
    """

    AUTO_FOCUS = "#timeline"  # not the hidden filter, which would swallow the keys
    BINDINGS = [
        Binding("escape", "back", "Back", id="timeline.back"),
        Binding("slash", "filter", "Filter", id="timeline.filter"),
        Binding("m", "export_markdown", "Export Markdown", id="timeline.export_md"),
        Binding("j", "export_json", "Export JSON lines", id="timeline.export_json"),
        Binding("r", "reload", "Reload", id="timeline.reload"),
    ]

    def __init__(
        self,
        audit: AuditLog,
        profile: str,
        *,
        since: timedelta | None = timedelta(days=1),
        banner: Widget | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.audit = audit
        self.profile = profile
        self.since = since
        self.banner = banner
        self.export_dir = export_dir
        self.events: list[TimelineEvent] = []
        self.shown: list[TimelineEvent] = []

    def compose(self) -> ComposeResult:
        if self.banner is not None:
            yield self.banner
        yield Input(placeholder="filter: text in summary, actor or resource", id="filter")
        yield Static(id="timeline-status")
        table: DataTable = DataTable(id="timeline", cursor_type="row", zebra_stripes=True)
        table.add_column("time (UTC)", key="time")
        table.add_column("type", key="type")
        table.add_column("what happened", key="summary")
        table.add_column("actor", key="actor")
        yield table
        yield KeyFooter()

    async def on_mount(self) -> None:
        await self.action_reload()

    async def action_reload(self) -> None:
        since = datetime.now(UTC) - self.since if self.since is not None else None
        try:
            # Reading the file is blocking I/O: keep it off the event loop.
            entries = await asyncio.to_thread(self.audit.read, since, self.profile)
        except CockpitError as e:
            self.notify(str(e), title="timeline", severity="error")
            entries = []
        # This cockpit's alarm transitions, not those of other cockpits sharing the file.
        session = self.audit.session
        self.events = build_timeline(one_cockpit(entries, session), live=session)
        self._show(self.query_one("#filter", Input).value)

    def _show(self, text: str) -> None:
        self.shown = filter_events(self.events, text)
        table = self.query_one("#timeline", DataTable)
        table.clear()
        for i, e in enumerate(self.shown):
            style = "bold" if e.type == "alarm" and e.outcome.upper() == "ALARM" else ""
            table.add_row(
                Text(f"{e.time:%Y-%m-%d %H:%M:%S}"),
                Text(e.type),
                Text(sanitize(e.summary), style=style),
                Text(sanitize(e.actor)),
                key=str(i),
            )
        skipped = (
            f" · {self.audit.skipped} unreadable line(s) skipped" if self.audit.skipped else ""
        )
        flt = f" matching {text!r}" if text else ""
        self.query_one("#timeline-status", Static).update(
            Text(
                f"{len(self.shown)} of {len(self.events)} events{flt} · profile {self.profile}"
                f" · {self.audit.path}{skipped}"
            )
        )

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.add_class("-shown")
        # A widget that was display:none takes focus only once the new style applies.
        self.call_after_refresh(field.focus)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#timeline", DataTable).focus()

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus:
            # First Esc leaves the filter (and clears it); the next one leaves the screen.
            field.value = ""
            field.remove_class("-shown")
            self.query_one("#timeline", DataTable).focus()
            return
        self.app.pop_screen()

    def _export(self, suffix: str, content: str) -> Path | None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = (self.export_dir or Path.cwd()) / f"incident-{self.profile}-{stamp}.{suffix}"
        try:
            path.write_text(content, encoding="utf-8")
        except OSError as e:
            self.notify(f"cannot write {path}: {e.strerror}", title="export", severity="error")
            return None
        self.notify(f"{len(self.shown)} events exported to {path}", title="export")
        return path

    def action_export_markdown(self) -> Path | None:
        return self._export("md", to_markdown(self.shown, self.profile))

    def action_export_json(self) -> Path | None:
        return self._export("jsonl", to_jsonl(self.shown))
