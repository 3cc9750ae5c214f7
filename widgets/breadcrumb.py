"""The breadcrumb line (k9s): where the user is, on every screen, `prod › Services › api › pods`.

One line under the profile banner, mounted by the app into each full screen it shows (modal
dialogs keep the line of the screen under them). It is told the path when the screen or the
focused pane changes and repaints only when the path does: never on a tick or a cursor move.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from cockpit.text import sanitize

SEPARATOR = " › "


class Breadcrumb(Static):
    DEFAULT_CSS = """
    Breadcrumb {
        /* Docked widgets on one edge overlap: the banner takes the first line, this the second. */
        dock: top;
        margin-top: 1;
        height: 1;
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
        background: $surface;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path: tuple[str, ...] = ()

    def show(self, path: tuple[str, ...]) -> bool:
        """Show ``path``; False when it is what the line says already (nothing repaints)."""
        if path == self.path:
            return False
        self.path = path
        # Names come from the estate: a Text, never markup.
        self.update(Text(SEPARATOR.join(path), no_wrap=True), layout=False)
        return True


def _name(record: Any) -> str:
    return sanitize(str(getattr(record, "name", "") or ""), 80)


def screen_crumbs(screen: Screen, before: list[str]) -> list[str]:
    """The parts a screen adds to the path, given the parts before it."""
    own = getattr(screen, "breadcrumb", None)
    if callable(own):
        return list(own())
    kind = type(screen).__name__
    focused_pane = getattr(screen, "focused_pane", None)
    if callable(focused_pane) and hasattr(screen, "panes"):  # the cockpit (and a replay of it)
        pane = focused_pane()
        return [pane.title if pane is not None else "Cockpit"]
    record = getattr(screen, "record", None)
    title = str(getattr(screen, "title_text", "") or "")
    if kind == "DetailScreen":
        return ([] if before and before[-1] == title else [title]) + [_name(record)]
    if kind == "WorkloadPodsScreen":
        return ([] if before and before[-1] == "Services" else ["Services"]) + [_name(record), "pods"]
    if kind == "NodesScreen":
        return ["nodes"]
    if kind == "ActivityScreen":
        return ["Database", sanitize(str(getattr(screen, "database", "")), 80), "activity"]
    if kind == "SearchScreen":
        return ["Logs", "search"]
    if kind == "TimelineScreen":
        return ["timeline"]
    if kind == "HelpScreen":
        return ["help"]
    if title:
        return [sanitize(title, 80)]
    return [kind.removesuffix("Screen").lower()] if kind != "Screen" else []


def breadcrumb_path(app: App) -> tuple[str, ...]:
    profile = getattr(getattr(app, "profile", None), "name", "") or app.title
    parts: list[str] = [profile]
    for screen in app.screen_stack:
        if isinstance(screen, ModalScreen) or type(screen) is Screen:  # dialogs; Textual's default
            continue
        parts += [p for p in screen_crumbs(screen, parts) if p]
    return tuple(parts)


def update_breadcrumb(app: App) -> None:
    """Mount the line into the current full screen if it has none, and show the path."""
    if not app.screen_stack:  # the app is closing: a last focus event finds no screen
        return
    screen = app.screen
    if isinstance(screen, ModalScreen) or type(screen) is Screen:
        return
    if not screen.is_mounted:  # pushed just now: once its widgets are there
        screen.call_later(_if_current, app, screen)
        return
    found = screen.query(Breadcrumb)
    if found:
        crumb = found.first()
    else:
        crumb = Breadcrumb()
        screen.mount(crumb)
    crumb.show(breadcrumb_path(app))


def _if_current(app: App, screen: Screen) -> None:
    if app.screen is screen and screen.is_mounted:
        update_breadcrumb(app)


def install(app: App) -> None:
    """Follow screen changes; the app calls ``update_breadcrumb`` on focus changes too."""
    app.screen_change_signal.subscribe(app, lambda _screen: update_breadcrumb(app))
