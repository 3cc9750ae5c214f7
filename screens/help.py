"""`?`: every key, generated from the bindings and the action registry (never hand-kept)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from widgets.footer import KeyFooter

Sections = list[tuple[str, list[tuple[str, str]]]]


def help_sections(bindings: list, mode: str, extra: tuple = ()) -> Sections:
    """Every key once: the cockpit's own, then the row actions (a key that means something
    else off the row says so on the action's line), then what only the palette runs."""
    from cockpit.registry import REGISTRY

    general: dict[str, str] = {}
    for binding in bindings:
        b = binding if isinstance(binding, Binding) else Binding(*binding)
        key = b.key_display or b.key
        if b.description and key not in general:
            general[key] = b.description
    # The log pane's Enter is the same key doing the same thing: one line for both.
    general["enter"] = "Open the row's detail (the log line's in Logs)"
    general.setdefault("ctrl+p", "Command palette")
    keyed: list[tuple[str, str]] = []
    palette: list[tuple[str, str]] = []
    for spec in (*REGISTRY, *extra):  # the built-in actions, then the profile's own
        text = f"{spec.title} ({spec.risk.value}) — {spec.description}"
        if not spec.key:
            palette.append((spec.title, text))
            continue
        if spec.key in general:
            text += f" · elsewhere: {general.pop(spec.key)}"
        keyed.append((spec.key, text))
    return [("Cockpit", list(general.items())), (f"Actions on the focused row ({mode})", keyed),
            ("Actions in the palette only (ctrl+p, then the title)", palette)]


def bindings_table(title: str, rows: list[tuple[str, str]]) -> Table:
    t = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for key, desc in rows:
        t.add_row(Text(key), Text(desc))
    return t


class HelpScreen(Screen):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Back", id="help.back")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]], banner: Static) -> None:
        super().__init__()
        self.sections = sections
        self.banner = banner

    def compose(self) -> ComposeResult:
        yield self.banner
        with VerticalScroll():
            yield Static(Text("ops cockpit — keys", style="bold"))
            for title, rows in self.sections:
                yield Static(bindings_table(title, rows))
        yield KeyFooter()
