"""Alarms pane: what is firing now, worst first."""

from __future__ import annotations

from rich.text import Text

from cockpit.model import Alarm, PaneKind
from widgets.pane import TablePane, action_bindings, plain

_STATE_LABELS = {"ALARM": "alarm", "INSUFFICIENT_DATA": "no data", "OK": "ok"}


class AlarmsPane(TablePane):
    kind = PaneKind.ALARMS
    title = "Alarms"
    BINDINGS = action_bindings(Alarm)
    noun = "alarms"
    empty = ("no alarm sources: add aws.alarms, prometheus, alertmanager, health, kubernetes or hosts"
             " to the profile")
    columns = [
        ("severity", 9),
        ("alarm", 20),
        ("since", 5),
        ("reason", 20),
    ]

    def sort(self, records: list[Alarm]) -> list[Alarm]:
        return sorted(records, key=lambda a: (-a.severity, a.name))

    def row(self, a: Alarm) -> tuple[str, list[Text]]:
        since = a.since.astimezone().strftime("%H:%M") if a.since else "–"
        return a.key, [
            self.severity_cell(a.severity, _STATE_LABELS.get(a.state, a.state.lower())),
            plain(a.name, 60),
            Text(since),
            plain(a.reason, 200),
        ]
