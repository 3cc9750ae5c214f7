"""What every room of ``EcsServicesSource`` shares: the state its ``__init__`` sets, the
boto3 client, and which cluster a row belongs to."""

from __future__ import annotations

import threading
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.backends.ecs.records import TaskDefinitionCache
from cockpit.model import ServiceStatus
from cockpit.profile import EcsCluster


class _Room:
    # Set by EcsServicesSource.__init__.
    ctx: AwsContext
    cluster: EcsCluster
    id: str
    task_definitions: TaskDefinitionCache
    metrics_interval: float
    metrics_error: str
    _metrics: dict[str, tuple[tuple[str, tuple[float, ...]], ...]]
    _metrics_at: float | None
    _metrics_job: threading.Thread | None
    _no_percentiles: bool
    _last_names: list[str]
    _reread: set[str]

    @property
    def client(self) -> Any:
        """The boto3 ECS client (created on first use); tests hook its events."""
        return self.ctx.client("ecs")

    def _cluster_of(self, target: ServiceStatus) -> str:
        return target.cluster or self.cluster.cluster
