"""Queues pane: SQS queues with their dead-letter queues, Redis lists and streams, and the
Celery, RQ and BullMQ queues that ``queues: auto`` detects."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from cockpit.model import PaneKind, QueueStatus
from cockpit.units import sparkline
from widgets.keyed_table import Col
from widgets.pane import TablePane, action_bindings, num, plain


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class QueuesPane(TablePane[QueueStatus]):
    kind = PaneKind.QUEUES
    record_type = QueueStatus
    title = "Queues"
    BINDINGS: ClassVar[list[BindingType]] = [*action_bindings(QueueStatus)]
    noun = "queues"
    empty = "no queue sources: add aws.sqs or redis to the profile (redis with queues:)"
    estate_at = 2  # after the name, with several estates
    columns = [
        # Depth and the dead-letter count stay longest: what a queue incident is about.
        Col("", 2, 0),
        Col("queue", 18, 0, max=40, middle=True),
        Col("kind", 7, 4),
        Col("depth", 7, 1),
        Col("in flight", 9, 3),
        Col("dead letters", 16, 5, max=40, middle=True),
        Col("dlq", 6, 1),
        Col("oldest", 6, 2),
        Col("depth trend", 11, 6),
    ]

    def sort(self, records: list[QueueStatus]) -> list[QueueStatus]:
        return sorted(records, key=lambda q: (q.backend, q.name))

    def row(self, q: QueueStatus) -> tuple[str, list[Text]]:
        return q.key, [
            Text(q.severity.symbol, style=self.severity_style(q.severity)),
            plain(q.name, 60),
            # The Redis type, or the convention queues: auto matched (celery, rq, bullmq).
            plain(q.kind or q.backend, 10),
            num(q.depth),
            num(q.in_flight),
            plain(q.dlq_name or "–", 60),
            num(q.dlq_depth),
            Text(_age(q.oldest_age_s), justify="right"),
            # Depth over the last refreshes, scaled from zero: a filling queue climbs.
            Text(sparkline(q.history, width=11, lo=0), no_wrap=True),
        ]
