"""A DataTable updated by key, repainting only the cells that changed.

``DataTable.update_cell`` repaints the whole widget (every visible row: ~16 KB over SSH for
one changed number). ``sync`` diffs the new rows against what is shown and, when only cell
values changed, refreshes just those cells' regions (measured: 477 -> ~4 KB/min).
Rows added, removed or reordered rebuild the table, which is rare.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

Row = tuple[str, Sequence[Text]]  # (row key, one Text per column)


class KeyedTable(DataTable):
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    """

    _cell_refresh_only = False  # class default: DataTable.__init__ already calls refresh()

    def __init__(self, columns: Sequence[tuple[str, int]], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._column_spec = list(columns)
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}

    def on_mount(self) -> None:
        for label, width in self._column_spec:
            self.add_column(label, width=width, key=label)

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):  # type: ignore[override]
        # While patching single cells, drop the whole-widget refresh that update_cell asks
        # for; the cell's own region is refreshed explicitly right after.
        if self._cell_refresh_only and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def on_resize(self) -> None:
        # The last column (reason, query, ...) takes whatever width the pane has left, so
        # no horizontal scrollbar is drawn; its full text is in the row's detail.
        if not self.columns:
            return
        *fixed, (last_label, last_min) = self._column_spec
        used = sum(width + 2 * self.cell_padding for _, width in fixed) + 2 * self.cell_padding
        width = max(last_min, self.scrollable_content_region.width - used)
        column = self.columns.get(ColumnKey(last_label))
        if column is not None and column.width != width:
            column.width = width
            self.refresh(layout=True)

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    @property
    def selected_key(self) -> str | None:
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def sync(self, rows: Sequence[Row]) -> int:
        """Show exactly ``rows``; return how many cells were repainted (for tests/bench)."""
        keys = [k for k, _ in rows]
        if keys != self._keys:
            self._rebuild(rows)
            return -1
        changed = 0
        columns = [label for label, _ in self._column_spec]
        self._cell_refresh_only = True
        try:
            for row_index, (key, cells) in enumerate(rows):
                old = self._cells[key]
                new = tuple(cells)
                if old == new:
                    continue
                for col_index, (a, b) in enumerate(zip(old, new, strict=True)):
                    if a != b:
                        self.update_cell(key, columns[col_index], b)
                        self.refresh_coordinate(Coordinate(row_index, col_index))
                        changed += 1
                self._cells[key] = new
        finally:
            self._cell_refresh_only = False
        return changed

    def _rebuild(self, rows: Sequence[Row]) -> None:
        selected = self.selected_key
        self.clear()
        self._keys = []
        self._cells = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._keys.append(key)
            self._cells[key] = tuple(cells)
        if selected in self._keys:
            self.move_cursor(row=self._keys.index(selected), animate=False)
