"""What every pane shares: a status line, a ``/`` filter, and per-source state.

A pane knows model records and ``SourceUpdate``s, never an SDK. Its status line changes only
when the state changes (live -> stale -> failing), never on a timer: a ticking "3 s ago"
would repaint on every tick, which is the bandwidth we refuse to pay over SSH.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from cockpit.hub import SourceUpdate
from cockpit.model import PaneKind, Severity
from cockpit.text import one_line, sanitize
from widgets.keyed_table import KeyedTable, Row


def clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "--:--:--"


def status_line(updates: Sequence[SourceUpdate], now: float, rows: int, noun: str) -> tuple[Severity, str]:
    """The pane's one-line state: the worst of its sources, plain text (pure, tested)."""
    if not updates:
        return Severity.UNKNOWN, "⧗ loading…"
    failing = [u for u in updates if u.error]
    if failing:
        u = failing[0]
        more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
        kept = " · showing last good data" if u.records else ""
        hint = f" · {u.hint}" if u.hint else ""
        return (
            Severity.CRITICAL,
            f"✖ {u.title}: {sanitize(u.error or '', 200)} · since {clock(u.error_since)}"
            f" · retry {clock(u.next_retry)}{kept}{hint}{more}",
        )
    stale = [u for u in updates if u.is_stale(now)]
    if stale:
        u = stale[0]
        return Severity.WARNING, f"▲ stale: {u.title} data from {clock(u.fetched_at)}"
    if any(u.records is None for u in updates):
        return Severity.UNKNOWN, "⧗ loading…"
    interval = min(u.interval for u in updates)
    label = noun[:-1] if rows == 1 and noun.endswith("s") else noun
    return Severity.OK, f"● live · {rows} {label} · every {interval:g}s"


class PaneHeader(Static):
    """Title and state on one line; updated only when the text changes."""

    DEFAULT_CSS = """
    PaneHeader { height: 1; width: 1fr; background: $panel; color: $text; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    PaneHeader.-ok { color: $text; }
    PaneHeader.-warning { color: $warning; }
    PaneHeader.-critical { color: $error; }
    """

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title = title
        self._shown: tuple[str, Severity] | None = None

    def show(self, severity: Severity, state: str, focused: bool = False) -> None:
        key = (f"{focused}{state}", severity)
        if key == self._shown:
            return
        self._shown = key
        for sev in (Severity.OK, Severity.WARNING, Severity.CRITICAL):
            self.set_class(severity == sev, f"-{sev.label}")
        marker = "▶ " if focused else "  "
        # One line, full width: a new state never changes the size, so no layout pass (one
        # per pane per refresh otherwise, and each re-arranges the whole screen).
        self.update(Text.assemble((marker + self.title, "bold"), "  ", state), layout=False)


class Pane(Vertical):
    """Base of every pane: header, optional filter input, body."""

    kind: ClassVar[PaneKind]
    title: ClassVar[str]
    noun: ClassVar[str] = "rows"
    ALLOW_MAXIMIZE = True  # `z` maximises the whole pane (header and filter), not its table

    DEFAULT_CSS = """
    Pane { height: 1fr; }
    Pane > Input.pane-filter { display: none; height: 1; border: none; padding: 0 1; }
    Pane > Input.pane-filter.-shown { display: block; }
    """
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="pane.filter"),
    ]

    class OpenDetail(Message):
        def __init__(self, record: Any, title: str) -> None:
            super().__init__()
            self.record = record
            self.title = title

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.updates: dict[str, SourceUpdate] = {}
        self.header = PaneHeader(self.title, classes="pane-header")
        self.filter_input = Input(placeholder="filter (Esc clears)", classes="pane-filter")

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.filter_input
        yield from self.compose_body()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def apply(self, update: SourceUpdate) -> None:
        previous = self.updates.get(update.source_id)
        self.updates[update.source_id] = update
        # Most refreshes of a quiet estate return what the last one did: keep the rows (the
        # status line still learns the new fetch time, so "stale" clears).
        if previous is None or previous.records != update.records:
            self.render_records()
        self.refresh_status()

    def refresh_status(self, now: float | None = None) -> None:
        # A replay runs on the recording's clock, not the wall's, for staleness too.
        now = getattr(self.app, "clock", time.time)() if now is None else now
        sev, text = status_line(list(self.updates.values()), now, self.row_count(), self.noun)
        self.header.show(sev, text, self.has_focus_within)

    def on_descendant_focus(self) -> None:
        self.refresh_status()

    def on_descendant_blur(self) -> None:
        self.refresh_status()

    def row_count(self) -> int:
        return 0

    def render_records(self) -> None:
        pass

    @property
    def filter_text(self) -> str:
        return self.filter_input.value

    def action_filter(self) -> None:
        self.filter_input.add_class("-shown")
        self.filter_input.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self.filter_input:
            event.stop()
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self.filter_input:
            event.stop()
            self.focus_body()

    def on_key(self, event) -> None:
        if event.key == "escape" and self.filter_input.has_focus:
            event.stop()
            self.filter_input.value = ""
            self.filter_input.remove_class("-shown")
            self.apply_filter("")
            self.focus_body()

    def apply_filter(self, text: str) -> None:
        self.render_records()
        self.refresh_status()

    def focus_body(self) -> None:
        pass


def _alerting(record: Any) -> bool:
    """Whether a row's record is in trouble (services carry ``status``, the rest ``severity``)."""
    for attr in ("status", "severity"):
        value = getattr(record, attr, None)
        if isinstance(value, Severity):
            return value is not Severity.OK
    return False


def action_bindings(record_type: type) -> list[Binding]:
    """Row keys for the registry's actions on this record type (footer, help, keys)."""
    from cockpit.actions import REGISTRY

    return [
        Binding(spec.key, f"row_action('{spec.id}')", spec.title, id=f"action.{spec.id}")
        for spec in REGISTRY
        if spec.key and spec.target_type is record_type
    ]


class TablePane(Pane):
    """A pane whose records are rows of a ``KeyedTable``."""

    columns: ClassVar[Sequence[tuple[str, int]]]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.table = KeyedTable(self.columns, classes="pane-table")
        self.records: dict[str, Any] = {}
        self._row_cache: dict[Any, tuple[Any, tuple[str, list[Text]]]] = {}
        self._offered: tuple[bool | None, ...] | None = None  # row actions the footer shows

    def compose_body(self) -> ComposeResult:
        yield self.table

    def focus_body(self) -> None:
        self.table.focus()

    def all_records(self) -> list[Any]:
        out: list[Any] = []
        for u in self.updates.values():
            out.extend(u.records or ())
        return out

    def render_records(self) -> None:
        records = self.sort(self.all_records())
        needle = self.filter_text.lower()
        rows: list[Row] = []
        self.records = {}
        cache: dict[Any, tuple[Any, tuple[str, list[Text]]]] = {}
        theme = self.app.theme  # cells carry the theme's colours: another theme, new cells
        for rec in records:
            # Rendering a row (sparklines, ages) costs more than comparing two frozen records:
            # a record equal to last time's reuses last time's cells (1,000 rows, one changed).
            ident = getattr(rec, "key", None) or id(rec)
            hit = self._row_cache.get(ident)
            if hit is not None and hit[0] == (theme, rec):
                key, cells = hit[1]
            else:
                key, cells = self.row(rec)
            cache[ident] = ((theme, rec), (key, cells))
            if needle and not any(needle in c.plain.lower() for c in cells):
                continue
            rows.append((key, cells))
            self.records[key] = rec
        self._row_cache = cache
        if self.table.is_mounted:
            self.table.sync(rows)
            if self.has_focus_within and _alerting(self.selected):
                # The incident turned red on the very row under the cursor: seen.
                self._note_selected_for_drill()

    def on_mount(self) -> None:
        self.render_records()
        self.refresh_status()

    def row_count(self) -> int:
        return len(self.records)

    @property
    def selected(self) -> Any | None:
        key = self.table.selected_key
        return self.records.get(key) if key else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A row key is offered only when the selected row's backend can do the action.
        if action != "row_action":
            return True
        from cockpit.actions import get_action

        if getattr(self.app, "hub", None) is None:
            return False  # a watcher or a replay: no backend, so no action is even shown
        spec = get_action(str(parameters[0]))
        rec = self.selected
        if rec is None or not spec.applies_to(rec):
            return None  # shown disabled
        return isinstance(self.app.backend_for(rec), spec.capability) or None

    def action_row_action(self, action_id: str) -> None:
        from cockpit.actions import get_action

        rec = self.selected
        if rec is not None:
            self.app.request_action(get_action(action_id), rec, "key")

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        # The footer rebuilds its keys on refresh_bindings (a layout pass, ~10 ms): only
        # when the new row offers other actions than the last one, not on every cursor move.
        offered = tuple(
            self.check_action("row_action", (b.action.split("'")[1],))
            for b in self.BINDINGS
            if isinstance(b, Binding) and b.action.startswith("row_action(")
        )
        if offered != self._offered:
            self._offered = offered
            self.refresh_bindings()
        self._note_selected_for_drill()

    def on_descendant_focus(self) -> None:
        # Focusing the pane whose cursor already sits on the incident's row is looking at it
        # too: no row is highlighted anew then. (Textual calls Pane's handler as well.)
        self._note_selected_for_drill()

    def _note_selected_for_drill(self) -> None:
        rec = self.selected
        note = getattr(self.app, "note_focus_for_drill", None)
        if rec is not None and note is not None:
            note(getattr(rec, "name", ""))

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        rec = self.records.get(self.table.key_at(event.cursor_row) or "")
        if rec is not None:
            self.post_message(self.OpenDetail(rec, self.title))

    def sort(self, records: list[Any]) -> list[Any]:
        return records

    def row(self, record: Any) -> tuple[str, list[Text]]:
        raise NotImplementedError

    # --- cell helpers shared by the panes -----------------------------------------------

    def severity_cell(self, severity: Severity, label: str) -> Text:
        loud = getattr(self.app, "loud_status", False)
        text = f"{severity.symbol} {label.upper() if loud else label}"
        return Text(text, style=self.severity_style(severity), no_wrap=True)

    def severity_style(self, severity: Severity) -> str:
        return {
            Severity.CRITICAL: "bold " + self.app.theme_variables.get("error", "red"),
            Severity.WARNING: "bold " + self.app.theme_variables.get("warning", "yellow"),
            Severity.INFO: self.app.theme_variables.get("accent", "cyan"),
            Severity.OK: self.app.theme_variables.get("success", "green"),
            Severity.UNKNOWN: self.app.theme_variables.get("text-muted", "grey50"),
        }[severity]


def plain(value: object, width: int = 60) -> Text:
    """A cell from estate text: sanitised, never markup-parsed."""
    return Text("" if value is None else one_line(str(value), width), no_wrap=True)


def num(value: int | float | None) -> Text:
    return Text("–" if value is None else f"{value:,}", justify="right", no_wrap=True)
