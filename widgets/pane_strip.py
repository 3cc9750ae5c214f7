"""The one-line strip of the small-terminal layout: every pane's state, the shown one marked.

At 80x24 the cockpit shows one pane at a time, full width; this line keeps the others in
sight (``Services ✖1 · Alarms ✖8 ▲6 · Logs ● · Queues ▲1 · DB ●``). It repaints only when
what it says changes, never on a refresh that changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.widgets import Static

from cockpit.model import PaneKind, PaneRecord, Severity
from widgets.pane import Pane, TablePane, row_severity

SHORT = {PaneKind.DATABASE: "DB"}


def pane_state(severity: Severity, records: Iterable[PaneRecord] | None) -> list[tuple[str, Severity]]:
    """``[("✖1", CRITICAL), ("▲6", WARNING)]``: a table pane's rows in trouble, by severity;
    the pane's own state (``●`` live, ``✖`` failing, ...) when none are, or for the logs."""
    if severity in (Severity.CRITICAL, Severity.WARNING, Severity.UNKNOWN):
        own = [(severity.symbol, severity)]  # the source itself fails, is stale or loading
    else:
        own = []
    counts = {Severity.CRITICAL: 0, Severity.WARNING: 0}
    for rec in records or ():
        sev = row_severity(rec)
        if sev in counts:
            counts[sev] += 1
    marks = [(f"{sev.symbol}{n}", sev) for sev, n in counts.items() if n]
    if own and not (marks and severity is not Severity.UNKNOWN):
        marks = own + marks
    return marks or [(Severity.OK.symbol, Severity.OK)]


class PaneStrip(Static):
    """Every pane's state on one line; shown only in the small-terminal layout."""

    DEFAULT_CSS = """
    PaneStrip { height: 1; width: 1fr; padding: 0 1; display: none; background: $panel;
                text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._shown: Text | None = None

    def show(self, panes: Mapping[PaneKind, Pane], current: PaneKind, styles: dict[Severity, str]) -> bool:
        """Say each pane's state; False (nothing repaints) when the line says it already."""
        line = Text()
        for n, (kind, pane) in enumerate(panes.items(), 1):
            if n > 1:
                line.append(" · ", "dim")
            name = f"{n} {SHORT.get(kind, pane.title)}"
            line.append(name, "bold reverse" if kind is current else "bold")
            severity = pane.header.severity
            records = pane.records.values() if isinstance(pane, TablePane) else None
            for mark, sev in pane_state(severity, records):
                line.append(" ")
                line.append(mark, styles.get(sev, "dim"))
        if line == self._shown:
            return False
        self._shown = line
        self.update(line, layout=False)
        return True
