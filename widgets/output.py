"""Fewer bytes per frame: what Textual writes to the terminal, trimmed before it is written.

The cockpit stays open all shift over SSH, so every byte of a partial repaint counts.
Two measured wastes in Textual 8's output (bench/README.md, "Where the bytes go"):

1. ``ChopsUpdate.render_segments`` writes a changed region from the *left edge of the
   widget* up to the region's right end: one changed number in a table's fifth column
   re-sends the four columns before it. ``_render_spans`` starts at the segment that
   holds the region's first cell instead (segment boundaries are cell boundaries in our
   tables, and starting on one never splits a double-width character).
2. Rich renders every segment as ``SGR text SGR0``, so a row of cells sharing one style
   re-sends the same colour codes once per cell. ``compact_sgr`` drops a reset that is
   followed (possibly after cursor moves only) by the very style that was in effect,
   and folds a reset into the next style (``ESC[0;…m``).

3. A widget whose scrollable (virtual) size changes is repainted whole by the compositor's
   reflow, so one alarm more in a table re-sends every visible row. A widget that sets
   ``paints_own_growth = True`` (KeyedTable) refreshes the rows it added or removed itself,
   and ``_reflow`` drops the whole-widget region when nothing but its virtual size changed.

``install()`` patches Textual once; everything else is untouched.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.control import Control
from textual import _compositor
from textual.strip import Strip

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
# Cursor positioning does not touch the graphic rendition, so a pending reset survives it.
_ONLY_CURSOR_MOVES = re.compile(r"(?:\x1b\[\d*(?:;\d*)?H)*")


def compact_sgr(data: str) -> str:
    """The same screen with fewer SGR bytes (see the module docstring)."""
    pieces = _SGR.split(data)
    if len(pieces) < 3:
        return data
    out: list[str] = []
    append = out.append
    active: str | None = ""  # the SGR in effect after the last emitted code; None = unknown
    pending_reset = False
    # pieces alternate: text, params, text, params, ..., text
    for i, piece in enumerate(pieces):
        if i % 2 == 0:  # text between SGR codes
            if not piece:
                continue
            if pending_reset and not _ONLY_CURSOR_MOVES.fullmatch(piece):
                append("\x1b[0m")
                active = ""
                pending_reset = False
            append(piece)
            continue
        params = piece
        if params in ("", "0"):
            pending_reset = True
            continue
        if pending_reset:
            pending_reset = False
            if params == active:
                continue  # reset + the same style again: the terminal is already there
            append(f"\x1b[0;{params}m")
            active = params
        elif active == "":
            append(f"\x1b[{params}m")
            active = params
        else:
            # Added on top of a style: the state is now a combination we do not track.
            append(f"\x1b[{params}m")
            active = None
    if pending_reset:
        append("\x1b[0m")
    return "".join(out)


def _render_spans(self: Any, console: Console) -> str:
    """``ChopsUpdate.render_segments``, starting each span at its own first cell."""
    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    chops = self.chops
    chop_ends = self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items(), strict=False):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(move_to(x, y).segment.text)
                append(strip.render(console))
                continue
            start = x
            if x < x1:
                # Skip whole segments left of the span; cropping inside one could split a
                # wide character, so the first one written may start a little before x1.
                for segment in strip:
                    width = segment.cell_length
                    if start + width > x1:
                        break
                    start += width
            cropped: Strip = strip.crop(start - x, min(end, x2) - x)
            append(move_to(start, y).segment.text)
            append(cropped.render(console))
        if y != last_y:
            append("\n")
    return compact_sgr("".join(sequences))


_installed = False


def install() -> None:
    """Patch Textual's partial and full updates (idempotent)."""
    global _installed
    if _installed:
        return
    chops = _compositor.ChopsUpdate
    layout = _compositor.LayoutUpdate
    chops.render_segments = _render_spans  # type: ignore[method-assign]
    layout_render = layout.render_segments

    def render_layout(self: Any, console: Console) -> str:
        return compact_sgr(layout_render(self, console))

    layout.render_segments = render_layout  # type: ignore[method-assign]
    compositor = _compositor.Compositor
    reflow = compositor.reflow

    def _reflow(self: Any, parent: Any, size: Any) -> Any:
        old_map = self._full_map
        dirty_before = set(self._dirty_regions)
        result = reflow(self, parent, size)
        new_map = self._full_map
        for widget, new in new_map.items():
            if not getattr(widget, "paints_own_growth", False):
                continue
            old = old_map.get(widget)
            if old is None or old == new or old._replace(virtual_size=new.virtual_size) != new:
                continue
            region = new.clip.intersection(new.region)
            if region not in dirty_before:
                self._dirty_regions.discard(region)
        return result

    compositor.reflow = _reflow  # type: ignore[method-assign]
    _installed = True
