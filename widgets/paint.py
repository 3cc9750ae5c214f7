"""Styling a line once while it shows, and a scrollbar that draws again only when it moved.

When a table scrolls by one row (a Down press at the bottom of the view, a new log line),
Textual marks the whole widget dirty and runs every visible line through its StylesCache
again: background, opacity, tint and filters, then the compositor divides each new strip
and renders it to escape codes. The lines themselves come from the widgets' own caches
(KeyedTable, LogView) as the *same* Strip objects, only at other rows. For a widget with
no border, outline, padding or hatch, the styled line depends on the content line and the
widget's look alone, not on its row; ``LineMemoStylesCache`` keeps it by the content
strip, so a line that only moved comes back as the same styled Strip, whose division and
escape codes Strip caches too.

The table's scrollbar widget was rendered again on every scroll too (~0.8 ms a frame), while
its thumb moves a cell only every ~70 rows of a 1,000-row table. ``SteadyScrollBar`` keeps
the strips it drew while the segments it would draw are the same.

Measured headless on a 1,000-row Services pane, CPU of the frame after a Down that scrolls
(median of 100 presses, three alternating runs): 2.36/2.27 ms without these, 1.89/1.81/1.65
ms with them.
"""

from __future__ import annotations

from rich.color import Color as RichColor
from rich.text import Text
from textual._styles_cache import StylesCache
from textual.cache import LRUCache
from textual.color import Color
from textual.geometry import Region, Size, Spacing
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip
from textual.widget import Widget

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)

_NO_SPACING = Spacing(0, 0, 0, 0)


class LineMemoStylesCache(StylesCache):
    """A StylesCache that styles each content strip once, wherever the widget shows it."""

    def __init__(self, size: int = 512) -> None:
        super().__init__()
        # id(content strip) -> (content strip, styled strip). The entry holds the content
        # strip, so its id cannot be reused by another while the entry exists.
        self._styled: LRUCache[int, tuple[Strip, Strip]] = LRUCache(size)
        self._look: tuple | None = None  # what the styled strips were made with
        self._plain = False  # this render: no border, outline, padding or hatch

    def render(self, styles, size: Size, base_background: Color, background: Color,  # type: ignore[override]
               render_content_line, filters, border_title, border_subtitle,
               content_size: Size | None = None, padding: Spacing | None = None,
               crop: Region | None = None, opacity: float = 1.0, **kwargs):
        pad = styles.padding if padding is None else padding
        self._plain = (
            pad == _NO_SPACING
            and not any(edge for edge, _ in styles.border)
            and not any(edge for edge, _ in styles.outline)
            and not (styles.has_rule("hatch") and styles.hatch != "none")
        )
        if self._plain:
            look = (size.width, content_size, base_background, background, opacity, styles.tint, styles.text_opacity,
                    id(kwargs.get("ansi_theme")), kwargs.get("native_ansi"))
            if look != self._look:
                self._styled.clear()
                self._look = look
        return super().render(styles, size, base_background, background, render_content_line, filters,
                              border_title, border_subtitle, content_size=content_size, padding=padding,
                              crop=crop, opacity=opacity, **kwargs)

    def render_line(self, styles, y, size, content_size, padding, base_background, background,
                    render_content_line, *args):
        if not self._plain or not 0 <= y < content_size.height:
            return super().render_line(styles, y, size, content_size, padding, base_background,
                                       background, render_content_line, *args)
        content = render_content_line(y)
        hit = self._styled.get(id(content))
        if hit is not None and hit[0] is content:
            return hit[1]
        strip = super().render_line(styles, y, size, content_size, padding, base_background,
                                    background, lambda _y: content, *args)
        self._styled[id(content)] = (content, strip)
        return strip


class SteadyScrollBar(ScrollBar):
    """A ScrollBar that gives the same strips while its segments stay the same."""

    _drawn: tuple[tuple, list[Strip]] | None = None
    REFERENCE_CACHES = ("_drawn",)  # emptied for the integrity oracle's reference

    def render_lines(self, crop: Region) -> list[Strip]:
        renderable = self.render()
        if type(renderable) is not ScrollBarRender:
            return super().render_lines(crop)
        width, height = self.size
        style = self.app.console.get_style(renderable.style)
        # The arguments ScrollBarRender.__rich_console__ passes, for a widget of this size.
        bar = renderable.render_bar(
            size=height if renderable.vertical else width,
            window_size=renderable.window_size,
            virtual_size=renderable.virtual_size,
            position=renderable.position,
            vertical=renderable.vertical,
            thickness=width if renderable.vertical else height,
            back_color=style.bgcolor or RichColor.parse("#555555"),
            bar_color=style.color or RichColor.parse("bright_magenta"),
        )
        key = (crop, self.size, tuple(bar.segments), bar.new_lines)
        drawn = self._drawn
        if drawn is not None and drawn[0] == key:
            return drawn[1]
        strips = super().render_lines(crop)
        self._drawn = (key, strips)
        return strips


def steady_vertical_scrollbar(widget: Widget) -> ScrollBar:
    """``Widget.vertical_scrollbar`` with a SteadyScrollBar (created on first use)."""
    if widget._vertical_scrollbar is None:
        scroll_bar = SteadyScrollBar(vertical=True, name="vertical", thickness=widget.scrollbar_size_vertical)
        scroll_bar.display = False
        widget._vertical_scrollbar = scroll_bar
        widget.app._start_widget(widget, scroll_bar)
    return widget._vertical_scrollbar


def text_key(cell: object, width: int, look: int) -> tuple | None:
    """What a one-line Text cell renders from, to share its rendering between equal cells."""
    if type(cell) is not Text:
        return None
    return (cell.plain, cell.style, tuple(cell.spans), cell.justify, cell.overflow, cell.no_wrap,
            cell.end, cell.tab_size, width, look)
