"""The incident banner of war-room mode: severity, title and a running clock.

The clock is the one thing in the cockpit that repaints every second, and only while an
incident is open: a war room wants to see it; a quiet shift pays nothing for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from cockpit.text import sanitize

SEVERITIES = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class Incident:
    title: str
    severity: str  # P1..P4
    started: float  # epoch seconds
    resolved: float | None = None


def clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


class IncidentBanner(Static):
    DEFAULT_CSS = """
    IncidentBanner { dock: top; height: 1; display: none; background: $error; color: $text;
                     text-style: bold; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    IncidentBanner.-shown { display: block; }
    IncidentBanner.-resolved { background: $success 60%; }
    """

    def __init__(self, marker: Text | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        # The profile it covers ("▲ PRODUCTION prodlab"): said first, never hidden by an incident.
        self.marker = marker
        self.incident: Incident | None = None
        self._timer: Timer | None = None
        self.oncall = ""  # "on call: Ada": the profile banner's end, which this one covers

    def on_mount(self) -> None:
        self._timer = self.set_interval(1, self.tick, pause=True)

    def start(self, incident: Incident) -> None:
        self.incident = incident
        self.set_class(True, "-shown")
        self.set_class(False, "-resolved")
        self.tick()
        if self._timer is not None:
            self._timer.resume()

    def resolve(self, when: float) -> None:
        if self.incident is None:
            return
        self.incident = Incident(self.incident.title, self.incident.severity, self.incident.started, when)
        if self._timer is not None:
            self._timer.pause()
        self.set_class(True, "-resolved")
        self.tick()

    def set_oncall(self, who: str) -> None:
        if who != self.oncall:
            self.oncall = who
            self.tick()

    def tick(self) -> None:
        inc = self.incident
        if inc is None:
            return
        end = inc.resolved if inc.resolved is not None else time.time()
        state = "RESOLVED after" if inc.resolved is not None else "open for"
        started = time.strftime("%H:%M", time.gmtime(inc.started))
        text = Text(f"{inc.severity} INCIDENT: {sanitize(inc.title, 200)} · {state} "
                    f"{clock_text(end - inc.started)} · since {started} UTC"
                    + (f" · {self.oncall}" if self.oncall else ""))
        self.update(Text.assemble(self.marker, " · ", text) if self.marker else text)
