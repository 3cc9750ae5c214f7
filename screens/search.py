"""`logs: search`: the last N hours of the log groups, filtered server-side, cancellable."""

from __future__ import annotations

import asyncio
import shlex
import threading
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Select, Static

from widgets.footer import KeyFooter
from widgets.logview import LogView

HOURS = (1, 3, 6, 24)


class SearchPrompt(ModalScreen[tuple[str, float] | None]):
    DEFAULT_CSS = """
    SearchPrompt { align: center middle; }
    SearchPrompt > Vertical { width: 72; height: auto; border: thick $primary; background: $surface;
                              padding: 1 2; }
    SearchPrompt Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="search.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Search the logs (a CloudWatch filter pattern, e.g. ERROR or \"timeout\")")
            yield Input(placeholder="pattern (empty: everything)", id="pattern")
            yield Select([(f"last {h} h", h) for h in HOURS], value=1, allow_blank=False, id="hours")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Search", id="go", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#pattern", Input).focus()

    def _go(self) -> None:
        hours = self.query_one("#hours", Select).value
        self.dismiss((self.query_one("#pattern", Input).value.strip(),
                      float(hours) if isinstance(hours, (int, float, str)) else 1.0))

    def on_input_submitted(self) -> None:
        self._go()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._go() if event.button.id == "go" else self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(Screen):
    """Runs one search in a worker thread; Esc cancels it (between pages) and goes back."""

    BINDINGS = [Binding("escape", "back", "Cancel / back", id="search.back")]

    def __init__(self, source: Any, pattern: str, hours: float, banner: Static) -> None:
        super().__init__()
        self.source = source
        self.pattern = pattern
        self.hours = hours
        self.banner = banner
        self.status = Static("")
        self.view = LogView(capacity=10_000)
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield self.banner
        with Vertical():
            command = shlex.join(self.source.search_command(self.pattern, self.hours))
            yield Static(Text(f"search {self.source.title} · last {self.hours:g} h · "
                              f"pattern {self.pattern or '(all)'}\n{command}"))
            yield self.status
            yield self.view
        yield KeyFooter()

    def on_mount(self) -> None:
        self.status.update(Text("⧗ searching… (Esc cancels)"))
        self.run_search()

    def _progress(self, pages: int, found: int) -> None:
        self.app.call_from_thread(self.status.update,
                                  Text(f"⧗ searching… {pages} pages read, {found} matches (Esc cancels)"))

    @work(exclusive=True, exit_on_error=False)
    async def run_search(self) -> None:
        from cockpit.hub import describe_error

        try:
            records = await asyncio.to_thread(
                self.source.search_blocking, self.pattern, self.hours,
                progress=self._progress, cancelled=self._cancel.is_set)
        except Exception as e:
            message, hint = describe_error(e)
            self.status.update(Text(f"✖ search failed: {message}" + (f" · {hint}" if hint else "")))
            return
        self.view.add_records(records)
        cut = " (stopped)" if self._cancel.is_set() else ""
        self.status.update(Text(f"● {len(records)} matches{cut} · ↑↓ to read, Enter for a line, Esc back"))
        self.view.focus()

    def action_back(self) -> None:
        self._cancel.set()
        self.app.pop_screen()
