"""Services pane: ECS services, Kubernetes workloads and host units as one kind of row."""

from __future__ import annotations

from rich.text import Text

from cockpit.model import PaneKind, ServiceStatus
from widgets.pane import TablePane, action_bindings, age, plain


class ServicesPane(TablePane):
    kind = PaneKind.SERVICES
    title = "Services"
    BINDINGS = action_bindings(ServiceStatus)
    noun = "services"
    columns = [
        ("status", 10),
        ("service", 16),
        ("run/des", 7),
        ("deployment", 14),
        ("backend", 7),
        ("revision", 10),
        ("age", 4),
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
            plain(s.backend, 10),
            plain(s.task_definition, 30),
            Text(age(s.created_at or (s.deployments[0].created_at if s.deployments else None))),
        ]
