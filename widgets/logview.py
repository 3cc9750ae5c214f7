"""The merged log stream: a bounded ring, rendered line by line, cheap over SSH.

A Textual ``Log`` in a five-pane grid writes ~710 KB/min at one line a second, because
every new line scrolls (repaints) the whole pane. This view uses *jump scroll* instead, as
xterm does: while following, a new line is drawn on the next free row (one line repainted),
and only when the view is full does it jump by half a page (one full repaint per half page).
Lines are only rendered when visible; ingest is by batch, never one message per line.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from cockpit.model import LogLevel, LogRecord
from cockpit.text import sanitize
from widgets.columns import middle_cut
from widgets.paint import LineMemoStylesCache

_LEVEL_WORDS = {
    LogLevel.DEBUG: ("DEBUG",),
    LogLevel.INFO: ("INFO",),
    LogLevel.WARN: ("WARN", "WARNING"),
    LogLevel.ERROR: ("ERROR", "ERR"),
}
_LEVEL_NAMES = {LogLevel.DEBUG: "DEBUG", LogLevel.INFO: "INFO ", LogLevel.WARN: "WARN ", LogLevel.ERROR: "ERROR"}


class LogLine:
    """One line of the ring. A plain slotted class with its sort key computed once: a flood
    makes 50,000 of these a second, and each insert compares keys (a frozen dataclass and a
    key property recomputing ``timestamp()`` were a fifth of the UI thread's time)."""

    __slots__ = ("record", "seq", "sort_key", "text")

    def __init__(self, record: LogRecord, text: str, seq: int) -> None:
        self.record = record
        self.text = text  # sanitised once, at ingest
        self.seq = seq
        self.sort_key: tuple[float, int] = (record.time.timestamp(), seq)


class LogView(Widget, can_focus=True):
    """Newest at the bottom; follow mode on by default; ``/`` filter applied by the pane."""

    COMPONENT_CLASSES = {
        "logview--time",
        "logview--source",
        "logview--debug",
        "logview--info",
        "logview--warn",
        "logview--error",
        "logview--cursor",
    }
    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > .logview--time { color: $text-muted; }
    LogView > .logview--source { color: $secondary; }
    LogView > .logview--debug { color: $text-muted; }
    LogView > .logview--info { color: $text; }
    LogView > .logview--warn { color: $warning; text-style: bold; }
    LogView > .logview--error { color: $error; text-style: bold; }
    LogView > .logview--cursor { background: $accent 40%; }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, id="logs.up"),
        Binding("down", "move(1)", "Down", show=False, id="logs.down"),
        Binding("pageup", "move(-10)", "Page up", show=False, id="logs.pageup"),
        Binding("pagedown", "move(10)", "Page down", show=False, id="logs.pagedown"),
        Binding("home", "home", "Oldest", show=False, id="logs.home"),
        Binding("end,f", "follow", "Follow", id="logs.follow"),
        Binding("enter", "open", "Line detail", show=False, id="logs.open"),
    ]

    # What renders lines besides the data: emptied for the integrity oracle's reference.
    REFERENCE_CACHES = ("_strips", "_blank", "_styles")

    class StateChanged(Message):
        """Follow mode or position changed (the pane's status line shows it)."""

    class OpenLine(Message):
        def __init__(self, line: LogLine) -> None:
            super().__init__()
            self.line = line

    def __init__(self, capacity: int = 10_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.capacity = capacity
        self._all: list[LogLine] = []
        self._view: list[LogLine] = []
        self._seq = 0
        self._filter: re.Pattern[str] | None = None
        self._filter_text = ""
        self.follow = True
        self._top = 0
        self._cursor = 0
        self.keep_fraction = 0.5  # of the view kept on screen after a jump (low bandwidth: less)
        self.min_level = LogLevel.DEBUG  # low bandwidth shows WARN and above
        self.repaints = 0  # whole-view repaints, for tests and the bench
        # Rendered lines by sequence number: following, each new line shifts the view by a
        # row and every visible line is asked for again. About two screens' worth.
        self._strips: LRUCache[tuple[int, int, bool], Strip] = LRUCache(256)
        self._blank: Strip | None = None  # the rows below the last line, until styles change
        # Component styles by name, until styles change: Textual works each one out from the
        # CSS of the widget and its ancestors on every call, and a new line asks for four.
        self._styles: dict[str, Style] = {}
        self.line_refreshes = 0
        self._styles_cache = LineMemoStylesCache()  # a jump restyles only the rows it brings in

    # --- data -----------------------------------------------------------------------

    @property
    def lines(self) -> list[LogLine]:
        """What the view shows (after the filter), oldest first."""
        return self._view

    @property
    def total(self) -> int:
        return len(self._all)

    def add_records(self, records: Iterable[LogRecord]) -> None:
        first = len(self._view)  # the first view index whose line changed (a late record moves lines down)
        added = 0
        for rec in records:
            self._seq += 1
            line = LogLine(rec, sanitize(rec.text), self._seq)
            self._insert(self._all, line)
            if self._matches(line):
                first = min(first, self._insert(self._view, line))
                added += 1
        top = self._top
        dropped = self._trim()
        if added or dropped:
            # Lines the view showed left the ring when the view's top was among them: what
            # the rows show changed although no new line is in view (paused at the oldest).
            shown_left = not self.follow and dropped > top
            self._after_growth(0 if shown_left else max(0, first - dropped), dropped)

    def clear(self) -> None:
        self._all.clear()
        self._view.clear()
        self._top = self._cursor = 0
        self._full_repaint()

    def set_filter(self, text: str) -> None:
        self._filter_text = text
        self._filter = re.compile(re.escape(text), re.IGNORECASE) if text else None
        self._view = [ln for ln in self._all if self._matches(ln)]
        self._top = max(0, len(self._view) - self._page())
        self._cursor = max(0, len(self._view) - 1)
        self._full_repaint()
        self.post_message(self.StateChanged())

    @property
    def filter_text(self) -> str:
        return self._filter_text

    def _matches(self, line: LogLine) -> bool:
        if line.record.level < self.min_level:
            return False
        if self._filter is None:
            return True
        return bool(self._filter.search(line.text) or self._filter.search(line.record.source))

    @staticmethod
    def _insert(target: list[LogLine], line: LogLine) -> int:
        """Append, or insert by time when a record arrives late; returns its index."""
        if not target or target[-1].sort_key <= line.sort_key:
            target.append(line)
            return len(target) - 1
        index = bisect.bisect_right(target, line.sort_key, key=lambda ln: ln.sort_key)
        target.insert(index, line)
        return index

    def _trim(self) -> int:
        """Drop the oldest lines past the capacity; returns how many left the view."""
        # Trim in chunks so a steady stream does not shift the list on every line.
        slack = max(self.capacity // 10, 1)
        vdrop = 0
        if len(self._all) > self.capacity + slack:
            drop = len(self._all) - self.capacity
            cut = self._all[drop - 1]
            del self._all[:drop]
            vdrop = bisect.bisect_right(self._view, cut.sort_key, key=lambda ln: ln.sort_key)
            del self._view[:vdrop]
            self._top = max(0, self._top - vdrop)
            self._cursor = max(0, self._cursor - vdrop)
        return vdrop

    # --- scrolling --------------------------------------------------------------------

    def _page(self) -> int:
        return max(1, self.size.height)

    def _after_growth(self, first: int, dropped: int) -> None:
        """Show lines just added (from view index ``first`` on); ``dropped`` left the ring."""
        n = len(self._view)
        page = self._page()
        if not self.follow:
            # _trim kept the same lines in view (unless they left the ring: first is 0 then);
            # a late line above the bottom moved them.
            if first < self._top + page:
                self._full_repaint()
            return
        if not dropped and n - self._top <= page:
            # The new lines fit below what is shown: repaint just the rows from the first
            # changed one down (a record a second late moves only the last lines).
            for idx in range(max(first, self._top), n):
                self.refresh(Region(0, idx - self._top, self.size.width, 1))
                self.line_refreshes += 1
        else:
            # Jump scroll: keep the newest part of a page in view, free space below it.
            self._top = max(0, n - max(1, int(page * self.keep_fraction)))
            self._full_repaint()

    def _full_repaint(self) -> None:
        self.repaints += 1
        self.refresh()

    def _scroll_view_to(self, top: int) -> None:
        top = max(0, min(top, max(0, len(self._view) - self._page())))
        if top != self._top:
            self._top = top
            self._full_repaint()

    def action_move(self, delta: int) -> None:
        if not self._view:
            return
        if self.follow:
            self.follow = False
            self._cursor = min(len(self._view) - 1, self._top + self._page() - 1)
        old = self._cursor
        self._cursor = max(0, min(len(self._view) - 1, self._cursor + delta))
        if self._cursor < self._top:
            self._scroll_view_to(self._cursor)
        elif self._cursor >= self._top + self._page():
            self._scroll_view_to(self._cursor - self._page() + 1)
        else:
            for idx in {old, self._cursor}:
                self.refresh(Region(0, idx - self._top, self.size.width, 1))
        self.post_message(self.StateChanged())

    def action_home(self) -> None:
        self.follow = False
        self._cursor = 0
        self._scroll_view_to(0)
        self._full_repaint()
        self.post_message(self.StateChanged())

    def action_follow(self) -> None:
        self.follow = True
        n = len(self._view)
        self._top = max(0, n - self._page())
        self._full_repaint()
        self.post_message(self.StateChanged())

    # Textual's own scroll_home/scroll_end scroll a virtual size this view does not have:
    # here they mean the oldest line and following, as Home and End do.
    def scroll_home(self, *args, **kwargs) -> None:
        self.action_home()

    def scroll_end(self, *args, **kwargs) -> None:
        self.action_follow()

    def action_open(self) -> None:
        if self._view and not self.follow:
            self.post_message(self.OpenLine(self._view[self._cursor]))
        elif self._view:
            self.post_message(self.OpenLine(self._view[-1]))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_move(-3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_move(3)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Which lines show depends on the height: fit them here, before the frame of the new
        # layout is painted (a Resize handler runs after it, and the pane kept showing the
        # lines of the old height: the lines above the old top stayed blank after a `z`).
        resized = self._size != size
        changed = super()._size_updated(size, virtual_size, container_size, layout)
        if resized:
            self._fit_to_height()  # no refresh needed: a new size repaints the whole widget
        return changed

    def _fit_to_height(self) -> None:
        page = self._page()
        n = len(self._view)
        if self.follow:
            self._top = max(0, n - page)
            return
        top = min(self._top, max(0, n - page))
        if self._cursor >= top + page:
            top = self._cursor - page + 1
        self._top = max(0, min(top, self._cursor))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    # --- rendering --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        idx = self._top + y
        if idx >= len(self._view) or width <= 0:
            if self._blank is None or self._blank.cell_length != width:
                self._blank = Strip.blank(width, self.rich_style)
            return self._blank
        line = self._view[idx]
        on_cursor = not self.follow and idx == self._cursor
        key = (line.seq, width, on_cursor)
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        base = self._style("")
        cursor = self._style("logview--cursor") if on_cursor else None
        segments = []
        for part, style in self._line_parts(line):
            # Segments straight from the parts: the text is one sanitised line (no tabs, no
            # controls), so a rich Text and its render pass would only add cost.
            style = base + style if style else base
            segments.append(Segment(part, style + cursor if cursor else style))
        strip = Strip(segments).crop_extend(0, width, base)
        self._strips[key] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # a theme or focus change: other colours for the same lines
        self._styles.clear()
        self._blank = None

    def _style(self, component: str) -> Style:
        """A component's style, or the widget's own for ``""``."""
        style = self._styles.get(component)
        if style is None:
            style = self.get_component_rich_style(component) if component else self.rich_style
            self._styles[component] = style
        return style

    def _line_parts(self, line: LogLine) -> list[tuple[str, Style | None]]:
        rec = line.record
        level = rec.level
        level_style = self._level_style(level)
        body = line.text
        # The level has its own column: drop the same word when the line starts with it.
        first, _, rest = body.partition(" ")
        if first.rstrip(":").upper() in _LEVEL_WORDS.get(level, ()):
            body = rest
        return [
            (rec.time.astimezone().strftime("%H:%M:%S "), self._style("logview--time")),
            # Clean already (a record's names are, from the estate boundary on): a long pod
            # name keeps its distinguishing end, as in the tables.
            (f"{middle_cut(rec.source, 16):<16} ", self._style("logview--source")),
            (_LEVEL_NAMES.get(level, "INFO ") + " ", level_style),
            (body, level_style if level >= LogLevel.WARN else None),
        ]

    def _level_style(self, level: LogLevel) -> Style:
        name = {LogLevel.DEBUG: "debug", LogLevel.WARN: "warn", LogLevel.ERROR: "error"}.get(level, "info")
        return self._style(f"logview--{name}")

    def position_text(self) -> str:
        quiet = f" · {_LEVEL_NAMES[self.min_level].strip()} and above" if self.min_level > LogLevel.DEBUG else ""
        if self.follow:
            return "following" + quiet
        below = len(self._view) - 1 - self._cursor
        return f"paused · line {self._cursor + 1} of {len(self._view)} · {below} newer below · f to follow"
