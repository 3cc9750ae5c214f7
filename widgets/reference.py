"""The integrity oracle's reference: the screen a full, unoptimised repaint would show.

Only with ``COCKPIT_TEST_HOOKS=1`` (tests/test_integrity.py): SIGUSR1 asks the app for the
reference. Once no repaint is pending, the current state is laid out by a fresh, plain
Textual ``Compositor`` (not ``RowCroppedCompositor``) and every widget on the screen stack
renders with empty caches: a plain ``StylesCache`` instead of ``LineMemoStylesCache``, and
each widget's own line caches (``REFERENCE_CACHES``, e.g. LogView's strips by sequence
number, the steady scrollbar's strips) replaced for that one render and put back after, so
taking a reference changes nothing the next frame paints. The cells (character, colours,
bold, reverse) go to ``$COCKPIT_TEST_HOOKS_DIR/ref-N.json``; then ``ESC ] 7777 ; N BEL`` is
written through the driver, after every frame already queued, so a test that feeds the
terminal's bytes to an emulator up to that marker compares exactly what was painted before.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.color import Color as RichColor
from textual._compositor import Compositor
from textual._styles_cache import StylesCache
from textual.app import App
from textual.cache import LRUCache
from textual.widget import Widget

from widgets import textual_pin  # noqa: F401 (checks the Textual release first)

MARKER = "\x1b]7777;{}\x07"


def enabled() -> bool:
    return os.environ.get("COCKPIT_TEST_HOOKS") == "1"


def install(app: App) -> None:
    """SIGUSR1 -> a reference dump (only under COCKPIT_TEST_HOOKS=1)."""
    if not enabled():
        return
    out = Path(os.environ.get("COCKPIT_TEST_HOOKS_DIR", "."))
    count = 0

    def request() -> None:
        nonlocal count
        count += 1
        number = count
        tries = 0

        def when_painted() -> None:
            # A widget that refreshed posts its update to the screen only once its own queue
            # is idle: until every one has, the screen is not the state's picture yet.
            nonlocal tries
            tries += 1
            if tries < 100 and _pending(app):
                app.screen.call_after_refresh(when_painted)
                return
            _dump(app, out, number)

        app.screen.call_after_refresh(when_painted)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda: app.call_later(request))


def _pending(app: App) -> bool:
    """Whether the screen may still change without anything new happening (e.g. a screen
    just popped repaints on its ScreenResume, a message still queued)."""
    screen = app.screen
    if screen._layout_required or screen._repaint_required or screen._dirty_widgets:
        return True
    if app._batch_count or app._message_queue.qsize():
        return True
    return any(w._repaint_required or w._layout_required or w._message_queue.qsize()
               for w in screen.walk_children(with_self=True))


def _fresh(value: Any) -> Any:
    if isinstance(value, LRUCache):
        return LRUCache(value.maxsize)
    if isinstance(value, dict | set | list):
        return type(value)()
    return None


@contextmanager
def _without_caches(widgets: list[Widget]) -> Iterator[None]:
    saved: list[tuple[Widget, str, Any]] = []
    try:
        for widget in widgets:
            for name in ("_styles_cache", *getattr(widget, "REFERENCE_CACHES", ())):
                if not hasattr(widget, name):
                    continue
                value = getattr(widget, name)
                saved.append((widget, name, value))
                setattr(widget, name, StylesCache() if name == "_styles_cache" else _fresh(value))
        yield
    finally:
        for widget, name, value in reversed(saved):
            setattr(widget, name, value)


def _hex(color: RichColor | None) -> str | None:
    if color is None or color.is_default:
        return None
    return color.get_truecolor().hex[1:].lower()


def reference_rows(app: App) -> list[list[list[Any]]]:
    """Every cell of a full repaint of the current screen: [char, fg, bg, bold, reverse]."""
    screen = app.screen
    size = screen._compositor.size
    compositor = Compositor()
    widgets: list[Widget] = []
    for each in app.screen_stack:
        widgets.extend(each.walk_children(Widget, with_self=True))
        widgets.extend(each._compositor.widgets)
    compositor.reflow(screen, size)
    widgets.extend(compositor.widgets)
    rows: list[list[list[Any]]] = []
    with _without_caches(list(dict.fromkeys(widgets))):
        update = compositor.render_update(full=True, screen_stack=app._background_screens)
        for line in update.strips:  # type: ignore[union-attr]
            cells: list[list[Any]] = []
            for strip in line:
                for segment in strip:
                    if segment.control:
                        continue
                    style = segment.style
                    fg = bg = None
                    bold = reverse = False
                    if style is not None:
                        fg, bg = _hex(style.color), _hex(style.bgcolor)
                        bold, reverse = bool(style.bold), bool(style.reverse)
                    for char in segment.text:
                        cells.append([char, fg, bg, bold, reverse])
                        if cell_len(char) == 2:  # the emulator keeps an empty cell after it
                            cells.append(["", fg, bg, bold, reverse])
            rows.append(cells)
    return rows


def _dump(app: App, out: Path, number: int) -> None:
    rows = reference_rows(app)
    path = out / f"ref-{number}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"size": list(app.screen._compositor.size), "rows": rows}))
    tmp.replace(path)
    driver = app._driver
    if driver is not None:
        driver.write(MARKER.format(number))
        driver.flush()
