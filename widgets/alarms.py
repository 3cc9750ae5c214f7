"""Alarms pane: what is firing now, worst first."""

from __future__ import annotations

from rich.text import Text

from cockpit.model import Alarm, PaneKind
from widgets.pane import TablePane, plain


class AlarmsPane(TablePane):
    kind = PaneKind.ALARMS
    title = "Alarms"
    noun = "alarms"
    columns = [
        ("severity", 9),
        ("alarm", 20),
        ("since", 8),
        ("source", 7),
        ("reason", 20),
    ]

    def sort(self, records: list[Alarm]) -> list[Alarm]:
        return sorted(records, key=lambda a: (-a.severity, a.name))

    def row(self, a: Alarm) -> tuple[str, list[Text]]:
        since = a.since.astimezone().strftime("%H:%M:%S") if a.since else "–"
        return a.key, [
            self.severity_cell(a.severity, a.state.lower().replace("_", " ")),
            plain(a.name, 60),
            Text(since),
            plain(a.source.split(":")[0], 10),
            plain(a.reason, 200),
        ]
