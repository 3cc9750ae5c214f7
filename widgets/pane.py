"""What every pane shares: a status line, a ``/`` filter, and per-source state.

A pane knows model records and ``SourceUpdate``s, never an SDK. Its status line changes only
when the state changes (live -> stale -> failing), never on a timer: a ticking "3 s ago"
would repaint on every tick, which is the bandwidth we refuse to pay over SSH.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from cockpit.hub import TIMEOUT_WORD, SourceUpdate
from cockpit.model import PaneKind, PaneRecord, ServiceStatus, Severity
from cockpit.text import one_line, sanitize
from widgets.host import host
from widgets.keyed_table import Col, KeyedTable, Row


def clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "--:--:--"


def overdue(u: SourceUpdate, now: float) -> bool:
    """Never answered, and past its first fetch's timeout: a timeout, whatever the fetch does."""
    return u.records is None and not u.error and u.deadline is not None and now > u.deadline


def failure(u: SourceUpdate, now: float) -> str | None:
    """What failed for this source now, or None."""
    if u.error:
        return u.error
    if overdue(u, now):
        return f"{TIMEOUT_WORD}: no answer by {clock(u.deadline)}"
    return None


def condition(u: SourceUpdate, now: float) -> str | None:
    """``unknown`` (failing), ``stale`` (silent for three intervals) or None: what the rows of
    this source are while its last good data is all there is."""
    if failure(u, now):
        return "unknown"
    if u.is_stale(now):
        return "stale"
    return None


def _sources(n: int) -> str:
    return f"{n} source" if n == 1 else f"{n} sources"


def status_line(
    updates: Sequence[SourceUpdate], now: float, rows: int, noun: str, *,
    complete: bool | None = True, empty: str = "",
) -> tuple[Severity, str]:
    """The pane's one-line state: the worst of its sources, plain text (pure, tested).

    ``updates`` holds every source the pane expects, those that have not answered too (no
    records, no error, a ``deadline``); ``complete`` is False while more sources may still be
    added (the lab's AWS side starts after its local servers), None when the set of sources
    is not known (a watcher or a replay counts those it has heard of); ``empty`` is what to
    say when the profile gives the pane no source at all.
    """
    if not updates:
        return (Severity.UNKNOWN, f"? {empty}") if complete and empty else (Severity.UNKNOWN, "⧗ loading…")
    total = len(updates)
    failing = [(u, why) for u in updates if (why := failure(u, now))]
    waiting = [u for u in updates if u.records is None and not u.error and not overdue(u, now)]
    if failing:
        kept = " · showing last good data" if any(u.records for u, _ in failing) else ""
        still = f" · {len(waiting)} loading" if waiting else ""
        if len(failing) == 1:
            u, why = failing[0]
            count = f"1 of {total} sources failing: " if total > 1 else ""
            since_s = clock(u.error_since or u.deadline)
            retry = f" · retry {clock(u.next_retry)}" if u.next_retry else ""
            hint = f" · {u.hint}" if u.hint else ""
            return (
                Severity.CRITICAL,
                f"✖ {count}{u.title}: {sanitize(why, 200)} · since {since_s}{retry}{kept}{still}{hint}",
            )
        names = ", ".join(
            f"{u.title} ({TIMEOUT_WORD})" if why.startswith(TIMEOUT_WORD) else u.title for u, why in failing
        )
        since = min((u.error_since or u.deadline or now) for u, _ in failing)
        return (
            Severity.CRITICAL,
            f"✖ {len(failing)} of {total} sources failing: {names} · since {clock(since)}{kept}{still}"
            " · e lists each error",
        )
    stale = [u for u in updates if u.is_stale(now)]
    if stale:
        oldest = clock(min(u.fetched_at or now for u in stale))
        if total == 1:
            return Severity.WARNING, f"▲ stale: {stale[0].title} data from {oldest}"
        names = ", ".join(u.title for u in stale)
        return Severity.WARNING, f"▲ stale: {names} data from {oldest} · {len(stale)} of {total} sources"
    label = noun[:-1] if rows == 1 and noun.endswith("s") else noun
    if waiting or complete is False:
        more = "" if complete else ", more starting"
        shown = f" · {rows} {label}" if rows else ""
        return Severity.UNKNOWN, f"⧗ loading · {total - len(waiting)} of {_sources(total)}{more}{shown}"
    interval = min(u.interval for u in updates)
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

    @property
    def severity(self) -> Severity:
        """The state the line shows (the small-terminal strip repeats it)."""
        return self._shown[1] if self._shown else Severity.UNKNOWN

    def show(self, severity: Severity, state: str, focused: bool = False) -> bool:
        """Show this state; False when it is what the line says already (nothing repaints)."""
        key = (f"{focused}{state}", severity)
        if key == self._shown:
            return False
        self._shown = key
        for sev in (Severity.OK, Severity.WARNING, Severity.CRITICAL):
            self.set_class(severity == sev, f"-{sev.label}")
        marker = "▶ " if focused else "  "
        # One line, full width: a new state never changes the size, so no layout pass (one
        # per pane per refresh otherwise, and each re-arranges the whole screen).
        self.update(Text.assemble((marker + self.title, "bold"), "  ", state), layout=False)
        return True


class Pane(Vertical):
    """Base of every pane: header, optional filter input, body."""

    kind: ClassVar[PaneKind]
    title: ClassVar[str]
    noun: ClassVar[str] = "rows"
    # What the header says when the profile gives the pane no source: the keys that would.
    empty: ClassVar[str] = ""
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
        # Whether every source is known (see status_line): the app says so once it has built
        # them; a watcher or a replay never does, it knows only the sources it has heard of.
        self.sources_complete: bool | None = None
        self._conditions: dict[str, str | None] = {}  # source -> its rows' condition, as drawn
        self.boot_error: tuple[Severity, str] | None = None  # the sources could not be built
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

    def expect(self, updates: Sequence[SourceUpdate], complete: bool) -> None:
        """The sources this pane will show, answered or not yet (``hub.snapshot``s), and
        whether that is all of them: the header counts them and names the silent ones."""
        fresh = [u for u in updates if u.source_id not in self.updates]
        for u in fresh:
            self.updates[u.source_id] = u
        self.sources_complete = complete
        if any(u.records for u in fresh):
            self.render_records()
        self.refresh_status()

    def now(self) -> float:
        # A replay runs on the recording's clock, not the wall's, for staleness too.
        return getattr(self.app, "clock", time.time)()

    def refresh_status(self, now: float | None = None) -> None:
        now = self.now() if now is None else now
        if self._row_conditions(now) != self._conditions:
            self.render_records(now)  # a source failed, went stale or came back: its rows' glyphs
        sev, text = status_line(list(self.updates.values()), now, self.row_count(), self.noun,
                                complete=self.sources_complete, empty=self.empty)
        if self.boot_error is not None and not self.updates:
            sev, text = self.boot_error
        word = getattr(self.screen if self.is_attached else None, "live_word", None)
        if callable(word) and text.startswith("● live · "):  # a replay is not live: its clock
            text = f"{word()} · " + text.removeprefix("● live · ").rsplit(" · every ", 1)[0]
        if self.header.show(sev, text, self.has_focus_within):
            screen: Any = self.screen if self.is_attached else None
            if self.has_focus_within and hasattr(screen, "update_explain"):
                screen.update_explain()  # explain lists each source's state: keep it true

    def _row_conditions(self, now: float) -> dict[str, str | None]:
        return {sid: condition(u, now) for sid, u in self.updates.items() if u.records}

    def source_lines(self, now: float | None = None) -> tuple[str, ...]:
        """Each source of the pane and its state, one line each (for explain, `e`)."""
        now = self.now() if now is None else now
        out = []
        for u in self.updates.values():
            why = failure(u, now)
            if why:
                since = clock(u.error_since or u.deadline)
                retry = f", retry {clock(u.next_retry)}" if u.next_retry else ""
                hint = f" · {u.hint}" if u.hint else ""
                out.append(f"✖ {u.title}: {sanitize(why, 300)} (since {since}{retry}){hint}")
            elif u.records is None:
                out.append(f"⧗ {u.title}: no answer yet")
            elif u.is_stale(now):
                out.append(f"▲ {u.title}: stale, data from {clock(u.fetched_at)}")
            else:
                out.append(f"● {u.title}: {len(u.records)} rows at {clock(u.fetched_at)}")
        return tuple(out)

    def on_descendant_focus(self) -> None:
        self.refresh_status()

    def on_descendant_blur(self) -> None:
        self.refresh_status()

    def row_count(self) -> int:
        return 0

    def render_records(self, now: float | None = None) -> None:
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


def row_severity(record: PaneRecord) -> Severity:
    """A row's state: services carry ``status``, the rest ``severity``."""
    return record.status if isinstance(record, ServiceStatus) else record.severity


def _alerting(record: PaneRecord | None) -> bool:
    """Whether a row's record is in trouble."""
    return record is not None and row_severity(record) is not Severity.OK


def _healthy(record: PaneRecord) -> bool:
    """Whether a row shows as ok (green): what a failing or stale source must not claim."""
    return row_severity(record) is Severity.OK


def action_bindings(record_type: type) -> list[Binding]:
    """Row keys for the registry's actions on this record type (footer, help, keys)."""
    from cockpit.actions import REGISTRY

    return [
        Binding(spec.key, f"row_action('{spec.id}')", spec.title, id=f"action.{spec.id}")
        for spec in REGISTRY
        if spec.key and spec.target_type in (record_type, object)  # object: any row (shell: open)
    ]


# Whole or not at all: "lab-si" of "lab-simulated" reads as another estate's name.
ESTATE_COL = Col("estate", 6, 1, max=16, whole=True)


def split_estate_filter(text: str) -> tuple[str | None, str]:
    """``/estate:prod-us api`` -> (``prod-us``, ``api``): the estate a row must be in (None:
    any) and the text its cells must contain, both lower case (pure, tested)."""
    estate: str | None = None
    rest = []
    for word in text.split(" "):
        if word.lower().startswith("estate:"):
            estate = word[7:].lower()
        else:
            rest.append(word)
    return estate, " ".join(rest).strip().lower() if estate is not None else text.lower()


R = TypeVar("R", bound=PaneRecord)


class TablePane(Pane, Generic[R]):
    """A pane whose records (of its one ``record_type``) are rows of a ``KeyedTable``."""

    columns: ClassVar[Sequence[Col | tuple[str, int]]]
    record_type: type[R]
    # Where the estate column goes when the profile spans several estates (None: never).
    estate_at: ClassVar[int | None] = None
    BINDINGS = [
        Binding("d", "describe", "Describe", show=False, id="pane.describe"),  # footer room: ? lists them
        Binding("l", "row_logs", "Logs", show=False, id="pane.row_logs"),
    ]

    def __init__(self, *, estates: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        # Only a profile of several estates shows the column: one estate's panes look as ever.
        self.estate_index = self.estate_at if estates else None
        self.table = self._make_table()
        self.records: dict[str, Any] = {}
        self._row_cache: dict[Any, tuple[Any, tuple[str, list[Text]]]] = {}
        self._offered: tuple[bool | None, ...] | None = None  # row actions the footer shows
        self._offered_key: str | None = None  # ... for this row

    def _make_table(self) -> KeyedTable:
        columns = list(self.columns)
        if self.estate_index is not None:
            columns.insert(self.estate_index, ESTATE_COL)
        return KeyedTable(columns, classes="pane-table")

    def show_estates(self, estates: bool) -> None:
        """Show or hide the estate column after the pane was built: a watcher or a replay
        learns from the driver's ``hello`` that its rows come from several estates."""
        index = self.estate_at if estates else None
        if index == self.estate_index:
            return
        self.estate_index = index
        # DataTable cannot insert a column: a new table, which the rows are synced into again.
        old, self.table = self.table, self._make_table()
        self._row_cache = {}
        if old.sort_column and old.sort_column[0] in (c.label for c in self.table._cols):
            self.table.sort_column = old.sort_column
        if old.parent is None:  # not composed yet: composed with the new one
            return
        focused = old.has_focus
        mounting = self.mount(self.table, after=old)
        old.remove()
        if focused:
            self.table.focus()

        async def fill() -> None:  # rows go to a mounted table only (render_records)
            await mounting
            self.render_records()

        self.call_later(fill)

    def compose_body(self) -> ComposeResult:
        yield self.table

    def focus_body(self) -> None:
        self.table.focus()

    def all_records(self) -> list[R]:
        rt = self.record_type
        return [r for u in self.updates.values() for r in u.records or () if isinstance(r, rt)]

    def render_records(self, now: float | None = None) -> None:
        records = self.sort(self.all_records())
        estate, needle = split_estate_filter(self.filter_text)
        rows: list[Row] = []
        self.records = {}
        cache: dict[str, tuple[tuple[object, R], tuple[str, list[Text]]]] = {}
        theme = self.app.theme  # cells carry the theme's colours: another theme, new cells
        self._conditions = self._row_conditions(self.now() if now is None else now)
        # A failing or stale source's rows stay (its last good data) but never look healthy.
        doubtful = {id(r): c for sid, c in self._conditions.items() if c for r in self.updates[sid].records or ()}
        for rec in records:
            # Rendering a row (sparklines, ages) costs more than comparing two frozen records:
            # a record equal to last time's reuses last time's cells (1,000 rows, one changed).
            ident = rec.key
            hit = self._row_cache.get(ident)
            if hit is not None and hit[0] == (theme, rec):
                key, cells = hit[1]
            else:
                key, cells = self.row(rec)
                if self.estate_index is not None:
                    at = self.estate_index
                    cells = [*cells[:at], plain(getattr(rec, "estate", "") or "–", 40), *cells[at:]]
            cache[ident] = ((theme, rec), (key, cells))
            doubt = doubtful.get(id(rec))
            if doubt and _healthy(rec):
                cells = [self.doubt_cell(cells[0], doubt), *cells[1:]]
            if estate is not None and str(getattr(rec, "estate", "")).lower() != estate:
                continue
            if needle and not any(needle in c.plain.lower() for c in cells):
                continue
            rows.append((key, cells))
            self.records[key] = rec
        self._row_cache = cache
        if self.table.is_mounted:
            self.table.sync(rows)
            if self.table.selected_key != self._offered_key:
                # Another row came under the cursor without a move (rows added above it, a
                # re-sort): no RowHighlighted, so the footer's keys are checked here.
                self._refresh_offered()
            if self.has_focus_within and _alerting(self.selected):
                # The incident turned red on the very row under the cursor: seen.
                self._note_selected_for_drill()

    def on_mount(self) -> None:
        from cockpit.custom_actions import row_keys

        # The profile's own actions with a row key: bound on this pane, shown in its footer.
        for key, action_id, title in row_keys(getattr(self.app, "action_specs", ()), self.kind):
            self._bindings.bind(key, f"row_action('{action_id}')", title)
        self.render_records()
        self.refresh_status()

    def row_count(self) -> int:
        return len(self.records)

    @property
    def selected(self) -> R | None:
        key = self.table.selected_key
        return self.records.get(key) if key else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # A row key is offered only when the registry offers the action on the selected row
        # (its type, its backend, that backend's word on the row): hidden otherwise, so the
        # footer never offers what would be refused.
        if action != "row_action":
            return True
        from cockpit.actions import get_action
        from cockpit.registry import available_actions

        if getattr(self.app, "hub", None) is None:
            return False  # a watcher or a replay: no backend, so no action is even shown
        rec = self.selected
        if rec is None:
            return False
        extra = getattr(self.app, "action_specs", ())  # the profile's own actions too
        return get_action(str(parameters[0]), extra) in available_actions(rec, host(self).backend_for(rec), extra)

    def action_describe(self) -> None:
        """`d` (k9s): the row's detail, as Enter."""
        if self.selected is not None:
            self.post_message(self.OpenDetail(self.selected, self.title))

    def action_row_logs(self) -> None:
        """`l` (k9s): the row's logs (screens/habits.py)."""
        from screens.habits import show_row_logs

        if self.selected is not None and getattr(self.app, "hub", None) is not None:
            show_row_logs(cast(Any, self.app), self.selected)

    def action_row_action(self, action_id: str) -> None:
        from cockpit.actions import get_action

        rec = self.selected
        if rec is not None:
            host(self).request_action(get_action(action_id, getattr(self.app, "action_specs", ())), rec, "key")

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._refresh_offered()
        self._note_selected_for_drill()

    def _refresh_offered(self) -> None:
        # The footer rebuilds its keys on refresh_bindings (a layout pass, ~10 ms): only
        # when the new row offers other actions than the last one, not on every cursor move.
        offered = tuple(
            self.check_action("row_action", (b.action.split("'")[1],))
            for bs in self._bindings.key_to_bindings.values()
            for b in bs
            if b.action.startswith("row_action(")
        )
        self._offered_key = self.table.selected_key
        if offered != self._offered:
            self._offered = offered
            if self.is_attached:  # an update may land on a pane whose screen has gone (exit)
                self.refresh_bindings()

    def on_descendant_focus(self) -> None:
        # Focusing the pane whose cursor already sits on the incident's row is looking at it
        # too: no row is highlighted anew then. (Textual calls Pane's handler as well.) What
        # the row offers may have changed since it was highlighted (its source came up).
        self._refresh_offered()
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

    def sort(self, records: list[R]) -> list[R]:
        return records

    def row(self, record: R) -> tuple[str, list[Text]]:
        raise NotImplementedError

    # --- cell helpers shared by the panes -----------------------------------------------

    def severity_cell(self, severity: Severity, label: str) -> Text:
        loud = getattr(self.app, "loud_status", False)
        text = f"{severity.symbol} {label.upper() if loud else label}"
        return Text(text, style=self.severity_style(severity), no_wrap=True)

    def doubt_cell(self, cell: Text, doubt: str) -> Text:
        """The status cell of an ok row whose source fails (``? unknown``) or went stale
        (``▲ stale``); a glyph-only column keeps only the glyph."""
        severity = Severity.UNKNOWN if doubt == "unknown" else Severity.WARNING
        if len(cell.plain.strip()) <= 1:
            return Text(severity.symbol, style=self.severity_style(severity), no_wrap=True)
        return self.severity_cell(severity, doubt)

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
