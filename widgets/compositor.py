"""A compositor that renders, for a partial update, only the rows being updated.

For a partial update Textual takes the rectangle around *all* dirty regions, picks every
widget whose *clip* (its container's visible region) meets it, and renders each such
widget's whole visible region. A new log line therefore rendered the screen (48 rows), the
pane grid, all five panes, the banner and the footer: about a dozen widgets and 200 lines a
frame, for one changed row; and a changed cell at the top that went out with a log line at
the bottom rendered every row in between. Here a widget renders only when its own visible
region meets a dirty row, and only the rows from its first dirty one to its last. Full
updates (resize, a new screen) are unchanged.

What reaches the terminal is the same: the caller paints only the dirty rows either way,
from the same strips (a test compares both compositors' output for the same updates).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip


class RowCroppedCompositor(Compositor):
    _rows: list[int] | None = None  # the dirty rows of the update being rendered, sorted

    def render_partial_update(self) -> ChopsUpdate | None:
        self._rows = sorted({y for region in self._dirty_regions for y in range(region.y, region.bottom)})
        try:
            return super().render_partial_update()
        finally:
            self._rows = None

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        dirty = self._rows or list(range(crop.y, crop.bottom))
        width = max(self.size.width, crop.right)
        band = Region(0, crop.y, width, crop.height)
        for widget, (region, clip) in self.visible_widgets.items():
            visible = region.intersection(clip).intersection(band)
            if not visible:
                continue
            # From the widget's first dirty row to its last: one render call a widget (each
            # call has a cost of its own), and no rows of it outside that band. Whole rows,
            # as Textual cuts them: the columns of a row still come from every widget on it,
            # front to back.
            first = bisect_left(dirty, visible.y)
            last = bisect_left(dirty, visible.bottom) - 1
            if last < first:
                continue
            rows = Region(0, dirty[first], width, dirty[last] + 1 - dirty[first])
            x, y, w, h = visible.intersection(rows)
            yield (
                region,
                clip.intersection(rows),
                widget.render_lines(Region(x - region.x, y - region.y, w, h)),
            )
