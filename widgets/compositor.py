"""A compositor that renders, for a partial update, only the rows being updated.

For a partial update Textual takes the rectangle around *all* dirty regions, picks every
widget whose *clip* (its container's visible region) meets it, and renders each such
widget's whole visible region. A new log line therefore rendered the screen (48 rows), the
pane grid, all five panes, the banner and the footer: about a dozen widgets and 200 lines a
frame, for one changed row; and a changed cell at the top that went out with a log line at
the bottom rendered every row in between. Here a widget renders only when its own visible
region meets a dirty region, and only the rows from the first such region's to the last's.
Full updates (resize, a new screen) are unchanged.

What reaches the terminal is the same: the caller paints only the dirty rows either way,
from the same strips (a test compares both compositors' output for the same updates).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)


class RowCroppedCompositor(Compositor):
    _regions: list[Region] | None = None  # the dirty regions of the update being rendered

    def render_partial_update(self) -> ChopsUpdate | None:
        self._regions = list(self._dirty_regions)
        try:
            return super().render_partial_update()
        finally:
            self._regions = None

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        dirty = self._regions or [crop]
        width = max(self.size.width, crop.right)
        band = Region(0, crop.y, width, crop.height)
        covered: set[int] = set()  # the dirty regions a widget in front holds whole
        for widget, (region, clip) in self.visible_widgets.items():  # front to back
            visible = region.intersection(clip).intersection(band)
            if not visible:
                continue
            # From the widget's first dirty row to its last: one render call a widget (each
            # call has a cost of its own), and no rows of it outside that band. Only where a
            # dirty region meets the widget: Textual paints a row's dirty spans alone, so a
            # widget beside them on the same rows (the Alarms pane, when a Services row
            # changed) gives nothing that is painted. And not for a region a widget in front
            # holds whole: the front one's cells win (a new log line, or a Services table that
            # scrolled, rendered the pane, the grid and the screen behind it for nothing).
            top, bottom = visible.bottom, visible.y
            for index, dirty_region in enumerate(dirty):
                if index in covered or not visible.overlaps(dirty_region):
                    continue
                top, bottom = min(top, dirty_region.y), max(bottom, dirty_region.bottom)
                if visible.contains_region(dirty_region):
                    covered.add(index)
            if bottom <= top:
                continue
            rows = Region(0, top, width, bottom - top)
            x, y, w, h = visible.intersection(rows)
            yield (
                region,
                clip.intersection(rows),
                widget.render_lines(Region(x - region.x, y - region.y, w, h)),
            )
