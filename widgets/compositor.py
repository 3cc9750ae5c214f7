"""A compositor that renders, for a partial update, only the rows being updated.

For a partial update Textual picks every widget whose *clip* (its container's visible
region) meets the rectangle around the dirty regions, then renders each such widget's whole
visible region. A new log line therefore rendered the screen (48 rows), the pane grid, all
five panes, the banner and the footer: about a dozen widgets and 200 lines a frame, for one
changed row. Here a widget renders only when its own visible region meets that rectangle,
and only the rectangle's rows of it. Full updates (resize, a new screen) are unchanged.

What reaches the terminal is the same: the caller paints only the dirty rows either way,
from the same strips (a test compares both compositors' output for the same updates).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip


class RowCroppedCompositor(Compositor):
    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        # Whole rows, as Textual cuts them: the columns of each row still come from every
        # widget on it, front to back.
        rows = Region(0, crop.y, max(self.size.width, crop.right), crop.height)
        for widget, (region, clip) in self.visible_widgets.items():
            visible = region.intersection(clip).intersection(rows)
            if not visible:
                continue
            x, y, width, height = visible
            yield (
                region,
                clip.intersection(rows),
                widget.render_lines(Region(x - region.x, y - region.y, width, height)),
            )
