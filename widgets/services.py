"""Services pane: ECS services, Kubernetes workloads and host units as one kind of row."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType

from cockpit.model import PaneKind, ServiceStatus
from cockpit.units import age, sparkline
from widgets.keyed_table import Col
from widgets.pane import TablePane, action_bindings, plain

SPARK_WIDTH = 6


def metric_cell(record: ServiceStatus, name: str = "cpu") -> str:
    """``▃▄▄▅▇▆  62``: the last hour of a percentage metric and its latest value."""
    values = dict(record.metrics).get(name, ())
    if not values:
        return ""
    return f"{sparkline(values, SPARK_WIDTH, lo=0, hi=100)}{values[-1]:>4.0f}"


def latest(record: ServiceStatus, *names: str) -> float | None:
    """The newest value of the first of ``names`` the row carries (the load balancer's
    "5xx%" / "p95ms", or Prometheus' "error_rate" / "p95_ms")."""
    metrics = dict(record.metrics)
    for name in names:
        if metrics.get(name):
            return metrics[name][-1]
    return None


def errors_cell(record: ServiceStatus) -> str:
    """``0.8% 240``: the latest 5xx rate and p95 in ms; the detail draws their last hour."""
    err = latest(record, "5xx%", "error_rate")
    p95 = latest(record, "p95ms", "p95_ms")
    if err is None and p95 is None:
        return ""
    rate = f"{err:.1f}%" if err is not None else "–"
    if p95 is None:
        ms = "–"
    elif p95 < 10_000:
        ms = f"{p95:.0f}"
    else:
        ms = f"{p95 / 1000:.0f}s"
    return f"{rate:>5} {ms:>4}"


class ServicesPane(TablePane[ServiceStatus]):
    kind = PaneKind.SERVICES
    record_type = ServiceStatus
    title = "Services"
    BINDINGS: ClassVar[list[BindingType]] = [*action_bindings(ServiceStatus)]
    noun = "services"
    empty = "no service sources: add aws.ecs, kubernetes or hosts to the profile"
    estate_at = 2  # after the name, with several estates
    columns = [
        # Status and name first, whole (a cut name is cut in the middle: its suffix tells
        # pods apart); the rest drops out, last first by priority, as the pane narrows. The
        # backend shows in the names (deployment/…) and in the row's detail and explain panel.
        Col("status", 10, 0, max=20),
        Col("service", 16, 0, max=28, middle=True),
        Col("run/des", 7, 1),
        Col("deployment", 11, 2, max=16),
        Col("revision", 10, 5, max=30, middle=True),
        Col("cpu% 1h", SPARK_WIDTH + 4, 4),
        Col("5xx% p95", 10, 3),
        Col("age", 4, 6),
    ]

    def sort(self, records: list[ServiceStatus]) -> list[ServiceStatus]:
        # Stable by name: rows that jump around when a status changes cost a full repaint
        # and cost the on-call their place; the status column carries the urgency.
        return sorted(records, key=lambda s: (s.cluster, s.name))

    def row(self, s: ServiceStatus) -> tuple[str, list[Text]]:
        return s.key, [
            self.severity_cell(s.status, s.status_text),
            plain(s.name, 40),
            Text(f"{s.running}/{s.desired}", justify="right"),
            plain(s.deployment, 30),
            plain(s.task_definition, 30),
            Text(metric_cell(s)),
            Text(errors_cell(s)),
            Text(age(s.created_at or (s.deployments[0].created_at if s.deployments else None))),
        ]
