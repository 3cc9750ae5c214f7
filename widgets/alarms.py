"""Alarms pane: what is firing now, worst first."""

from __future__ import annotations

from rich.text import Text

from cockpit.model import Alarm, PaneKind
from widgets.keyed_table import Col
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
        # The whole alarm name first; the reason has what is left (whole in the detail).
        Col("severity", 9, 0, max=14),
        Col("alarm", 20, 0, max=60),
        Col("since", 5, 3),
        Col("reason", 16, 2, grow=True),
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
