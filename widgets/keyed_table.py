"""A DataTable updated by key, repainting only the cells that changed.

``DataTable.update_cell`` repaints the whole widget (every visible row: ~16 KB over SSH for
one changed number). ``sync`` diffs the new rows against what is shown and, when only cell
values changed, refreshes just those cells' regions (measured: 477 -> ~4 KB/min).
Rows are positions, so records that come, go or move change only the cells whose text differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.binding import Binding
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import _EMPTY_TEXT, default_cell_formatter
from textual.widgets.data_table import ColumnKey

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)
from widgets.columns import Col, as_col, fit_columns, middle_cut  # noqa: F401 (re-exported)
from widgets.paint import LineMemoStylesCache, steady_vertical_scrollbar, text_key
from widgets.table_sort import DOWN, UP, assign_letters, header_label, keys_around, sorted_rows

Row = tuple[str, Sequence[Text]]  # (row key, one Text per column)


_NOWHERE = Coordinate(-10, -10)  # a cursor on no row, not even the header (-1)


class KeyedTable(DataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    """

    # k9s and htop habits: Home/End go to the first/last row (DataTable's scroll sideways);
    # sideways is Shift+arrows.
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False, id="table.first"),
        Binding("end", "scroll_bottom", "Last row", show=False, id="table.last"),
        Binding("shift+left", "sideways(-1)", "Scroll left", show=False, id="table.left"),
        Binding("shift+right", "sideways(1)", "Scroll right", show=False, id="table.right"),
    ]

    _cell_refresh_only = False  # class default: DataTable.__init__ already calls refresh()
    # Until the user moves the cursor it stays on the first row: rows that arrive later (the
    # lab's AWS side, seconds after its local processes) must not carry it off with its record.
    user_moved = False
    _syncing = False
    # (column label, descending): remembered by the table, so per pane, across refreshes.
    sort_column: tuple[str, bool] | None = None
    sort_letters: dict[str, str] = {}  # noqa: RUF012 (replaced, never mutated)
    _given: Sequence[Row] = ()  # the rows as the pane gave them, to sort again
    _growth_pending = False
    paints_own_growth = True  # rows added or removed are refreshed here (widgets/output.py)
    # Ours and DataTable's: emptied for the integrity oracle's reference (widgets/reference.py).
    REFERENCE_CACHES = ("_lines", "_cell_lines", "_cell_bodies", "_text_bodies", "_header_lines", "_base_style",
                        "_row_render_cache", "_row_renderable_cache", "_cell_render_cache", "_line_cache", "_offset_cache",
                        "_ordered_row_cache")

    def __init__(self, columns: Sequence[Col | tuple[str, int]], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._cols = [as_col(c, i == len(columns) - 1) for i, c in enumerate(columns)]
        # Each column's widest cell so far: a high-water mark, so a count that goes 99 ->
        # 100 -> 99 widens its column once, not a relayout (a full repaint) every refresh.
        self._prefs = [len(c.label) for c in self._cols]
        self._shown = list(range(len(self._cols)))  # the columns on screen, by spec index
        self._index = {c.label: i for i, c in enumerate(self._cols)}
        self._keys: list[str] = []
        self._cells: list[tuple[Text, ...]] = []  # what each position shows
        # Rendered cells and lines by content rather than by DataTable's counters (see
        # _render_line): a version per cell, bumped when it changes, and one for the look.
        # A row's version is its newest cell's: versions only grow, never reused.
        self._cell_versions: list[list[int]] = []
        self._versions = itertools.count()
        self._look = 0
        # Room for a 1,000-row pane scrolled end to end while its rows change; each line is
        # a Strip with caches of its own, so twice this (the first size) only grew the
        # process: the soak test saw +15 % RSS in the second half of twelve hours.
        self._lines: LRUCache[tuple, Strip] = LRUCache(2048)
        self._cell_lines: LRUCache[tuple, list] = LRUCache(4096)
        self._cell_bodies: LRUCache[tuple, tuple[list[Segment], bool]] = LRUCache(4096)
        self._text_bodies: LRUCache[tuple, tuple[list[Segment], bool]] = LRUCache(1024)
        self._header_lines: LRUCache[tuple, Strip] = LRUCache(16)
        self._styles_cache = LineMemoStylesCache()  # a scroll restyles only the new rows

    @property
    def vertical_scrollbar(self):
        return steady_vertical_scrollbar(self)

    def on_mount(self) -> None:
        for col in self._cols:
            self.add_column(col.label, width=col.min, key=col.label)
        self.sort_letters = assign_letters([col.label for col in self._cols], keys_around(self))
        self._label_columns()

    # --- sorting (widgets/table_sort.py) and the cursor ------------------------------------

    def _label_columns(self) -> None:
        letters = {label: letter for letter, label in self.sort_letters.items()}
        for col in self._cols:  # the shown ones: a hidden column has no header to label
            column = self.columns.get(ColumnKey(col.label))
            if column is None:
                continue
            arrow = ""
            if self.sort_column and self.sort_column[0] == col.label:
                arrow = DOWN if self.sort_column[1] else UP
            column.label = header_label(col.label, letters.get(col.label), column.width or col.min, arrow)

    def sort_by(self, label: str) -> None:
        """Sort by ``label``'s column; by the same again: the other way round."""
        if self.sort_column and self.sort_column[0] == label:
            self.sort_column = (label, not self.sort_column[1])
        else:
            self.sort_column = (label, False)
        self._label_columns()
        self._clear_caches()  # the header and every row change: one full repaint, once
        follow, self.user_moved = self.user_moved, True  # the cursor stays on its record
        try:
            self.sync(self._given)
        finally:
            self.user_moved = follow or self.cursor_row != 0
        self.refresh()

    def on_key(self, event) -> None:
        label = self.sort_letters.get(event.character or "") if event.character else None
        if label is not None and event.character.isupper():
            event.stop()
            event.prevent_default()
            self.sort_by(label)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._syncing:
            self.user_moved = True

    def action_sideways(self, direction: int) -> None:
        # A column's worth at a time: one cell per press crawls, a page skips columns.
        self.scroll_to(x=self.scroll_x + direction * 12, animate=False)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):
        # While patching single cells, drop the whole-widget refresh that update_cell asks
        # for; the cell's own region is refreshed explicitly right after.
        if not regions and not recompose and layout and self._growth_pending:
            # The new scrollable size set on idle after rows came or went (or remove_row's
            # own layout call): lay out again, but the rows involved were refreshed by sync.
            return super().refresh(repaint=False, layout=True)
        if self._cell_refresh_only and not regions and not recompose and not layout:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _update_dimensions(self, new_rows) -> None:
        # DataTable sets the new virtual size here, on idle after rows came or went.
        try:
            super()._update_dimensions(new_rows)
        finally:
            self._growth_pending = False

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        # DataTable caches a rendered line under the cursor's *coordinate*, so every cursor
        # move missed the cache for every visible line, and a scroll by one row re-rendered
        # all of them cell by cell. With a row cursor a line only depends on whether the
        # cursor (or hover) is on its own row: other rows share one key across moves.
        if self.cursor_type == "row":
            row_index = self._row_locations.get(row_key)
            row_index = -1 if row_index is None else row_index
            if cursor_location.row != row_index:
                cursor_location = _NOWHERE
            if hover_location.row != row_index:
                hover_location = _NOWHERE
            row = self.rows.get(row_key)
            if (row is not None and row.height == 1 and 0 <= row_index < len(self._cell_versions)
                    and len(self._cell_versions[row_index]) >= len(self.columns)
                    and not (self.fixed_columns or self.fixed_rows or self._labelled_row_exists)):
                return self._row_cursor_line(row_index, base_style, cursor_location.row == row_index,
                                             hover_location.row == row_index)
        return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)

    def _row_cursor_line(self, row_index: int, base_style: Style, cursor: bool, hover: bool) -> tuple[list, list]:
        # DataTable's own for a one-line body row under a row cursor, with no fixed or
        # labelled parts, looking up once a line what DataTable looks up for every cell
        # (reactives, the column list, styles): a row with one changed number cost ~0.33 ms,
        # the larger part of a frame in which a few rows change. Same segments
        # (tests/test_widgets.py compares them with DataTable's).
        pad = 2 * self.cell_padding  # Column.get_render_width, without a reactive read a column
        widths = [pad + (column.content_width if column.auto_width else column.width)
                  for column in self.ordered_columns]
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )
        styles = (component_style, post_style)
        cells = [self._cached_cell(row_index, column_index, base_style, width, cursor, hover, styles)[0]
                 for column_index, width in enumerate(widths)]
        remaining = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        # DataTable's extend style: the same component style, without the priorities' post style.
        extend_style = base_style + component_style + Style.from_meta(
            {"row": row_index, "column": 0, "out_of_bounds": True})
        cells.append([Segment(" " * remaining, extend_style)])
        return [], cells

    _frame_style: Style | None = None
    _frame: tuple | None = None  # (cursor row, hover row, the rest of a line's key) of this render
    _base_style: tuple[int, Style] | None = None  # (look, rich_style)

    def render_lines(self, crop: Region) -> list[Strip]:
        # DataTable.render_line looks up the widget's rich_style (a walk up the DOM for
        # background colours) for every line. It changes only with the table's look (styles,
        # focus, theme: notify_style_update), so it is looked up once a look. What a line's
        # cache key holds besides its row is looked up once a render, not once a line (each
        # reactive read has a cost: ~30 us a line, half a frame that scrolls a row in).
        cached = self._base_style
        if cached is None or cached[0] != self._look:
            cached = self._base_style = (self._look, self.rich_style)
        self._frame_style = base_style = cached[1]
        self._frame = self._line_context(base_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = self._frame = None

    def _line_context(self, base_style: Style) -> tuple:
        """(cursor row, hover row, the rest of a line's cache key besides its row)."""
        return (
            self.cursor_coordinate.row, self.hover_coordinate.row,
            (self.size.width, base_style, self.cursor_type, self._show_hover_cursor,
             self._pseudo_class_state, self._look),
        )

    def render_line(self, y: int) -> Strip:
        base_style = self._frame_style
        if base_style is None or self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        # DataTable caches a line under its y, the cursor's coordinate and a counter that
        # every update_cell bumps (and update_cell empties all its caches): a scroll by one
        # row, a cursor move, or any refresh that changed one number re-rendered every
        # visible line. A line here depends on the row it shows, that row's cells, whether
        # the cursor or hover is on it, and the table's look.
        try:
            row_key, line_in_row = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        if row_key is self._header_row_key and self.cursor_type == "row":
            return self._header_line(y, x1, x2, base_style)
        if row_index is None or row_index >= len(self._cell_versions):
            return super()._render_line(y, x1, x2, base_style)  # a row being added
        frame = self._frame
        if frame is None or frame[2][1] is not base_style:  # called outside render_lines
            frame = self._line_context(base_style)
        cursor_row, hover_row, look = frame
        key = (row_index, max(self._cell_versions[row_index], default=-1), line_in_row, x1, x2,
               cursor_row == row_index, hover_row == row_index, look)
        strip = self._lines.get(key)
        if strip is None:
            fixed, scrollable = self._render_line_in_row(
                row_key, line_in_row, base_style, self.cursor_coordinate, self.hover_coordinate)
            if fixed:
                strip = super()._render_line(y, x1, x2, base_style)
            else:  # DataTable's assembly, without its cache (this one replaces it)
                width = self.size.width
                segments = line_crop(list(itertools.chain.from_iterable(scrollable)), x1, x2, width)
                strip = Strip(segments).adjust_cell_length(width, base_style).simplify()
            self._lines[key] = strip
        return strip

    def _header_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        # DataTable keys its header line by the cursor's coordinate and its count of cell
        # updates too, so every cursor move and every refresh with a new number drew the
        # header again (~0.3 ms a frame). Under a row cursor the header looks different only
        # when the cursor or the hover is on it (row -1), or when the columns change.
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        pad = 2 * self.cell_padding
        key = (
            y, x1, x2, self.scrollable_content_region.width, base_style, self._look, self._pseudo_class_state,
            self.show_cursor, self._show_hover_cursor, self.fixed_columns, self._labelled_row_exists,
            cursor if cursor.row < 0 else None, hover if hover.row < 0 else None,
            tuple((column.label.plain, str(column.label.style), tuple(column.label.spans),
                   pad + (column.content_width if column.auto_width else column.width))
                  for column in self.ordered_columns),
            self.hidden_columns,
        )
        strip = self._header_lines.get(key)
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
            if self.hidden_columns:
                # Said where the missing columns would be (z, maximise, or the detail has
                # them), over the end of the header (left blank for it: see _relayout).
                mark = self._mark([None] * self.hidden_columns)
                width = self.scrollable_content_region.width  # not under the scrollbar
                if strip.cell_length >= width > len(mark):
                    style = strip._segments[-1].style if strip._segments else None
                    strip = Strip.join([strip.crop(0, width - len(mark)), Strip([Segment(mark, style)])])
            self._header_lines[key] = strip
        return strip

    @staticmethod
    def _mark(widths: Sequence[int | None]) -> str:
        hidden = sum(w is None for w in widths)
        return f"+{hidden} col{'s' if hidden > 1 else ''} →"

    def _blank_end(self, widths: Sequence[int | None], room: int) -> int:
        """How many cells at the end of the header are blank with these widths."""
        shown = {i: w for i, w in enumerate(widths) if w is not None}
        used = sum(w + 2 * self.cell_padding for w in shown.values())
        last = max(shown) if shown else None
        label_room = 0 if last is None else shown[last] - len(self._cols[last].label) + self.cell_padding
        return room - used + label_room

    @property
    def hidden_columns(self) -> int:
        """How many columns the pane is too narrow to show."""
        return len(self._cols) - len(self._shown)

    def _render_cell(self, row_index, column_index, base_style, width, cursor=False, hover=False):
        # A data cell here is one line of Text. DataTable renders it through Styled(Padding(
        # cell)) and two console.render_lines passes: ~40 % of a frame that scrolls a row in.
        # Same segments (tests/test_widgets.py compares them), one render_lines pass.
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # Keyed by the cell's own version: DataTable's key holds a counter that any cell's
        # change bumps, so a row with one new number rendered all its cells again.
        versions = self._cell_versions[row_index] if row_index < len(self._cell_versions) else None
        if versions is None or column_index >= len(versions):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return self._cached_cell(row_index, column_index, base_style, width, cursor, hover)

    def _cached_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool, hover: bool, styles: tuple[Style, Style] | None = None) -> list[list[Segment]]:
        """A one-line body cell whose version exists, from the cache or rendered once.

        ``styles``: the cell's (component, post) styles, when the caller has them (they are
        the same for every cell of a row).
        """
        cache_key = (row_index, column_index, self._cell_versions[row_index][self._shown[column_index]], width, base_style,
                     cursor, hover, self._show_hover_cursor, self._pseudo_class_state, self._look)
        lines = self._cell_lines.get(cache_key)
        if lines is None:
            lines = self._cell_lines[cache_key] = self._render_one_line_cell(
                row_index, column_index, base_style, width, cursor, hover, styles)
        return lines

    def _render_one_line_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                              cursor: bool, hover: bool, styles: tuple[Style, Style] | None = None,
                              ) -> list[list[Segment]]:
        if styles is None:
            styles = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
            )
        component_style, post_style = styles
        pad = self.cell_padding
        inner = max(0, width - 2 * pad)
        body, body_is_plain = self._cell_body(row_index, column_index, inner)
        blank = [Segment(" " * pad)] if pad else []
        where = Style.from_meta({"row": row_index, "column": column_index})
        if not body_is_plain:  # DataTable's order: a segment's own meta wins over row and column
            pre_style = base_style + where + component_style
            return [list(Segment.apply_style([*blank, *body, *blank], pre_style, post_style))]
        # The same styles as DataTable's (base + where + component) + segment + post: the
        # colours and attributes do not depend on where the meta-only ``where`` is added, and
        # adding it last lets rich's cache of additions serve the rest across rows (an added
        # style with a row's meta in it is new for every row: ~60 us a cell).
        pre_style = base_style + component_style
        return [[Segment(text, (pre_style + style + post_style if style else pre_style + post_style) + where)
                 for text, style, _control in (*blank, *body, *blank)]]

    def _cell_body(self, row_index: int, column_index: int, inner: int) -> tuple[list[Segment], bool]:
        """The cell's text rendered in ``inner`` cells, apart from the cursor's colours; and
        whether its segments are plain (no meta of their own, no control codes)."""
        spec = self._cols[self._shown[column_index]]
        body_key = (row_index, column_index, self._cell_versions[row_index][self._shown[column_index]], inner,
                    self._look)
        cached = self._cell_bodies.get(body_key)
        if cached is None:
            # The one cell, as DataTable formats a one-line row's (_get_row_renderables
            # formats the whole row for it).
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            row = self._data.get(row_key, {}) if row_key is not None else {}
            datum = row.get(column_key) if column_key is not None else None
            cell = _EMPTY_TEXT if datum is None else default_cell_formatter(datum, wrap=False, height=1) or _EMPTY_TEXT
            if spec.middle and type(cell) is Text and cell.cell_len > inner:
                cell = Text(middle_cut(cell.plain, inner), style=cell.style, no_wrap=True)
            # By content too: a row scrolled into view mostly repeats its neighbours' texts
            # (status, counts, deployment state), each ~35 us to render.
            by_text = text_key(cell, inner, self._look)
            cached = self._text_bodies.get(by_text) if by_text is not None else None
            if cached is None:
                options = self.app.console_options.update_dimensions(inner, 1).update(no_wrap=True)
                body = self.app.console.render_lines(cell, options, pad=True)[0] if inner else []
                cached = (body, not any(seg.control or (seg.style is not None and seg.style._meta) for seg in body))
                if by_text is not None:
                    self._text_bodies[by_text] = cached
            self._cell_bodies[body_key] = cached
        return cached

    def _forget_lines(self) -> None:
        self._look += 1
        self._lines.clear()
        self._cell_lines.clear()
        self._cell_bodies.clear()
        self._text_bodies.clear()
        self._header_lines.clear()

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._forget_lines()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_lines()

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        """Fit the columns to the pane's width and their content (see ``fit_columns``): the
        grow column (reason, query, ...) takes what is left, so no horizontal scrollbar is
        drawn; a cut text is whole in the row's detail. Repaints only when a width changed."""
        room = self.scrollable_content_region.width
        if not self.columns or room <= 0:
            return
        widths = fit_columns(self._cols, self._prefs, room, self.cell_padding)
        mark = len(self._mark(widths)) + 2  # and a gap after the last label
        if None in widths and self._blank_end(widths, room) < mark:
            # Room for the "+3 cols →" mark at the end of the header, not over a label (the
            # last column's right padding is part of the gap).
            widths = fit_columns(self._cols, self._prefs, room - mark + self.cell_padding, self.cell_padding)
        shown = [i for i, w in enumerate(widths) if w is not None]
        if shown != self._shown:
            self._show_columns(shown, widths)
            return
        changed = False
        for i in shown:
            column = self.columns.get(ColumnKey(self._cols[i].label))
            width = widths[i]
            if column is not None and width is not None and column.width != width:
                column.width = width
                changed = True
        if changed:
            self._label_columns()  # a label is fitted to its column's width
            self._forget_lines()
            self._repaint_all()

    def _repaint_all(self) -> None:
        # Every line moved: past refresh()'s filters for a sync's cell patches and growth.
        DataTable.refresh(self, repaint=True, layout=True)

    def _show_columns(self, shown: list[int], widths: list[int | None]) -> None:
        # DataTable cannot hide a column: the table is built again with the ones that fit
        # (rare: a resize, or a cell wider than any before it).
        cursor = self.cursor_row
        moved = self.user_moved  # building the table again is not the user moving the cursor
        self._growth_pending = False
        self.clear(columns=True)
        self._shown = shown
        for i in shown:
            self.add_column(self._cols[i].label, width=widths[i] or 0, key=self._cols[i].label)
        for row_index, cells in enumerate(self._cells):
            self.add_row(*(cells[i] for i in shown), key=str(row_index))
        self._label_columns()  # the sort letters and arrow on the headers built again
        self._forget_lines()
        if self._cells and cursor >= 0:
            self.move_cursor(row=min(cursor, len(self._cells) - 1), animate=False)
        self.user_moved = moved
        self._repaint_all()

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    @property
    def selected_key(self) -> str | None:
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def _visible(self, cell: Text, label: str) -> Text:
        # A reason or message that changed past the column's edge looks the same on screen
        # (an event's count, a latency): only what fits is compared. (A name cut in the
        # middle keeps its end: always compared whole.)
        column = self.columns.get(ColumnKey(label))
        if column is None or cell.cell_len <= column.width or self._cols[self._index[label]].middle:
            return cell
        clipped = cell.copy()
        clipped.truncate(column.width)
        return clipped

    def key_at(self, row_index: int) -> str | None:
        """The record key shown on a row (table rows are positions, not records)."""
        return self._keys[row_index] if 0 <= row_index < len(self._keys) else None

    def sync(self, rows: Sequence[Row]) -> int:
        """Show exactly ``rows``; return how many cells were repainted (-1: the table grew
        from empty, or rows were added or removed and the table was laid out again).

        Table rows are positions: a record that moves (a new alarm above it, one that
        clears) is a change of cell text at the positions involved, so only the cells whose
        text differs are sent to the terminal, not the whole table.
        """
        self._given = rows
        if self.sort_column is not None:
            index = [col.label for col in self._cols].index(self.sort_column[0])
            rows = sorted_rows(rows, index, self.sort_column[1])
        keys = [k for k, _ in rows]
        selected = self.selected_key
        old_count = len(self._keys)
        changed = 0
        columns = [c.label for c in self._cols]
        shown = {spec: vis for vis, spec in enumerate(self._shown)}
        prefs = self._prefs
        grew = False
        self._cell_refresh_only = True
        self._syncing = True
        self._growth_pending = bool(old_count) and old_count != len(rows)
        try:
            for row_index, (_key, cells) in enumerate(rows[:old_count]):
                old = self._cells[row_index]
                new = tuple(cells)
                if old == new:
                    continue
                for col_index, (a, b) in enumerate(zip(old, new, strict=True)):
                    if a != b:
                        self._cell_versions[row_index][col_index] = next(self._versions)
                        if b.cell_len > prefs[col_index]:
                            prefs[col_index] = b.cell_len
                            grew = True
                        vis = shown.get(col_index)
                        if vis is None:
                            continue  # a dropped column: kept for when the pane widens
                        self.update_cell(str(row_index), columns[col_index], b)
                        if self._visible(a, columns[col_index]) != self._visible(b, columns[col_index]):
                            self.refresh_coordinate(Coordinate(row_index, vis))
                            changed += 1
                self._cells[row_index] = new
            for row_index in range(old_count, len(rows)):
                cells = tuple(rows[row_index][1])
                for col_index, cell in enumerate(cells):
                    if cell.cell_len > prefs[col_index]:
                        prefs[col_index] = cell.cell_len
                        grew = True
                self.add_row(*(cells[i] for i in self._shown), key=str(row_index))
                self._cells.append(cells)
                self._cell_versions.append([next(self._versions) for _ in cells])
            for row_index in range(old_count - 1, len(rows) - 1, -1):
                self.remove_row(str(row_index))
                self._cells.pop()
                self._cell_versions.pop()
        finally:
            self._cell_refresh_only = False
            self._syncing = False
        if old_count and old_count != len(rows):
            # Only the rows that appeared or went blank; the compositor is told not to
            # repaint the whole table for its new scrollable size (widgets/output.py).
            top = self.header_height if self.show_header else 0
            first, last = sorted((old_count, len(rows)))
            width = max(self.virtual_size.width, self.size.width)
            region = Region(0, top + first, width, last - first)
            self.refresh(region.translate(-self.scroll_offset))
        elif not old_count:
            self.refresh()
        self._keys = keys
        if grew:
            self._relayout()
        if self.user_moved and selected in keys and keys.index(selected) != self.cursor_row:
            # The cursor stays on its record, wherever the record moved.
            self._syncing = True
            try:
                self.move_cursor(row=keys.index(selected), animate=False)
            finally:
                self._syncing = False
        return -1 if old_count != len(rows) else changed
