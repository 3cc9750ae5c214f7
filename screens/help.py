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
