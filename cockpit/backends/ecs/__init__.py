"""ECS services of one cluster -> ``ServiceStatus`` rows; restart, scale, roll back, deploy.

A refresh costs ceil(N/100) ListServices + ceil(N/10) DescribeServices (in a listed cluster of
more than ``DESCRIBE_ALL_UP_TO`` services, fewer: see ``EcsServicesSource._to_describe``), plus, at most once a
``metrics_interval``, ceil((2N + 3L)/500) GetMetricData for every service's CPU and memory
and, for the L services with a load balancer configured, its requests, target 5xx and p95
response time (the error rate is 5xx / requests, computed here: metric math is not needed
and moto lacks it). Task
definitions (images, log configuration, the latest revision of a family) are looked up a
few per refresh and cached: a ``family:revision`` never changes, so its image is fetched
once; the latest revision of a family is re-read every ``LATEST_TTL_S``.

The package's rooms: ``records`` (answers -> rows, task definitions), ``source`` (the source
and its refresh), ``metrics``, ``detail`` and ``actions`` (the source's other rooms).
"""

from __future__ import annotations

from cockpit.backends.ecs.records import (  # noqa: F401 (re-exported)
    TaskDefinitionCache,
    TaskDefinitionInfo,
    lb_series,
    service_status,
    short_task_definition,
    split_task_definition,
    task_definition_info,
)
from cockpit.backends.ecs.source import EcsServicesSource

__all__ = ["EcsServicesSource"]
