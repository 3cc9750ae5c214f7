"""Logs pane: the merged, filterable stream of every log source."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult

from cockpit.hub import LogBatch, SourceUpdate
from cockpit.model import PaneKind, Severity
from widgets.logview import LogView
from widgets.pane import Pane, clock


class LogsPane(Pane):
    kind = PaneKind.LOGS
    title = "Logs"
    noun = "lines"

    def __init__(self, capacity: int = 10_000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = LogView(capacity=capacity, classes="pane-body")
        self.errors: dict[str, LogBatch] = {}
        self.sources: set[str] = set()
        self.server_filtered: list[str] = []  # log sources that also filter at the server
        self._server_filter_timer: Any = None

    def compose_body(self) -> ComposeResult:
        yield self.view

    def focus_body(self) -> None:
        self.view.focus()

    def on_mount(self) -> None:
        self.refresh_status()

    def add_batch(self, batch: LogBatch) -> None:
        self.sources.add(batch.source_id)
        if batch.error:
            self.errors[batch.source_id] = batch
        else:
            self.errors.pop(batch.source_id, None)
            self.view.add_records(batch.records)
        self.refresh_status()

    def clear(self) -> None:
        self.view.clear()
        self.errors.clear()

    def apply(self, update: SourceUpdate) -> None:  # logs come as batches, not snapshots
        self.refresh_status()

    def apply_filter(self, text: str) -> None:
        self.view.set_filter(text)
        # The same text goes to sources that can filter at the server (CloudWatch filter
        # patterns), once typing pauses: each change restarts their remote query.
        if self._server_filter_timer is not None:
            self._server_filter_timer.stop()
        self._server_filter_timer = self.set_timer(0.6, lambda: self._send_server_filter(text))
        self.refresh_status()

    def _send_server_filter(self, text: str) -> None:
        self._server_filter_timer = None
        hub = getattr(self.app, "hub", None)
        if hub is not None:
            self.server_filtered = hub.set_log_filter(text.strip() or None)
            self.refresh_status()

    def on_log_view_state_changed(self, event: LogView.StateChanged) -> None:
        self.refresh_status()

    def refresh_status(self, now: float | None = None) -> None:
        if len(self.errors) > 1:  # every failing follower is named, not only the first
            names = ", ".join(b.title for b in self.errors.values())
            retry = min((b.next_retry for b in self.errors.values() if b.next_retry), default=None)
            sev, text = Severity.CRITICAL, (f"✖ {len(self.errors)} of {len(self.sources)} log sources failing: "
                                            f"{names} · retry {clock(retry)}")
        elif self.errors:
            b = next(iter(self.errors.values()))
            hint = f" · {b.hint}" if b.hint else ""
            sev, text = Severity.CRITICAL, f"✖ {b.title}: {b.error} · retry {clock(b.next_retry)}{hint}"
        elif not self.sources:
            sev, text = Severity.UNKNOWN, "⧗ waiting for log sources…"
        else:
            sev, text = Severity.OK, f"● {self.view.position_text()}"
        if self.view.filter_text:
            text += f" · filter: {self.view.filter_text}"
            if self.server_filtered:
                # CloudWatch patterns match case-sensitively, unlike the local filter.
                text += f" (also at the server, case-sensitive: {len(self.server_filtered)} source(s))"
        self.header.show(sev, text, self.has_focus_within)
