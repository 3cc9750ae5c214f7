"""`incident: start`: title and severity (P1–P4, as the runbooks define them)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from cockpit.text import sanitize
from widgets.incident import SEVERITIES, Incident, clock_text

SEVERITY_HELP = {
    "P1": "P1 — critical: customer-facing outage or data loss",
    "P2": "P2 — high: major feature degraded for many users",
    "P3": "P3 — medium: partial degradation, workaround exists",
    "P4": "P4 — low: minor issue, no customer impact",
}


class IncidentStartScreen(ModalScreen[tuple[str, str] | None]):
    DEFAULT_CSS = """
    IncidentStartScreen { align: center middle; }
    IncidentStartScreen > Vertical { width: 70; height: auto; border: thick $error;
                                     background: $surface; padding: 1 2; }
    IncidentStartScreen Horizontal { height: auto; margin-top: 1; }
    IncidentStartScreen .consent { width: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="incident.cancel")]

    def __init__(self, posts_to: str = "", *, pages: bool = False) -> None:
        super().__init__()
        self.posts_to = posts_to  # the channel Start posts to (notify.post_on_start), if any
        self.pages = pages  # Start pages PagerDuty too (pagerduty.trigger_on_incident)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Start an incident")
            if self.posts_to:
                yield Label(Text(f"Start also posts the title and severity to {sanitize(self.posts_to, 80)} "
                                 "(notify.post_on_start)"), id="posts-to", classes="consent")
            if self.pages:
                yield Label(Text("Start also pages PagerDuty (pagerduty.trigger_on_incident)"), id="pages",
                            classes="consent")
            yield Input(placeholder="title, e.g. api 5xx errors after deploy", id="title")
            yield Select([(SEVERITY_HELP[s], s) for s in SEVERITIES], value="P2", allow_blank=False,
                         id="severity")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Start", id="start", variant="error")

    def on_mount(self) -> None:
        self.query_one("#title", Input).focus()

    def _start(self) -> None:
        title = self.query_one("#title", Input).value.strip()
        if not title:
            self.notify("give the incident a title", severity="warning")
            return
        self.dismiss((title, str(self.query_one("#severity", Select).value)))

    def on_input_submitted(self) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self._start()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def serious_open_incident(incident: Incident | None) -> bool:
    """A P1 or P2 incident still open: quitting then hides its clock from the war room."""
    return incident is not None and incident.resolved is None and incident.severity in ("P1", "P2")


class QuitScreen(ModalScreen[bool]):
    """`q` with a P1/P2 incident open: quit anyway, or stay (the default, and Esc)."""

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical { width: 70; height: auto; border: thick $error; background: $surface;
                            padding: 1 2; }
    QuitScreen Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "stay", "Stay", id="quit.stay")]

    def __init__(self, incident: Incident) -> None:
        super().__init__()
        self.incident = incident

    def compose(self) -> ComposeResult:
        inc = self.incident
        with Vertical():
            yield Label(Text(f"{inc.severity} incident open: {sanitize(inc.title, 200)} "
                             f"({clock_text(time.time() - inc.started)})"))
            yield Label(Text("Quit the cockpit anyway? The incident clock stops showing here."))
            with Horizontal():
                yield Button("Stay", id="stay")
                yield Button("Quit anyway", id="quit", variant="error")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()  # Enter right away keeps the cockpit open

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "quit")

    def action_stay(self) -> None:
        self.dismiss(False)
