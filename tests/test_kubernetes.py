"""Kubernetes backend against the in-repo API double, through the official client over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cockpit.backends.kubernetes import (
    KubeContext,
    KubernetesAlarmsSource,
    KubernetesLogSource,
    KubernetesServicesSource,
)
from cockpit.model import ServiceStatus, Severity
from tests.fixtures.kubernetes import K8sDouble

NS = "shop"


async def until(cond: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``cond`` (sync or async) until it is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def rows_by_name(rows: list[ServiceStatus]) -> dict[str, ServiceStatus]:
    return {r.name: r for r in rows}


@pytest.fixture
async def services(k8s: K8sDouble):
    ctx = KubeContext(k8s.context)
    src = KubernetesServicesSource(ctx, NS)
    yield src
    await src.close()


async def test_workloads_become_service_rows(k8s: K8sDouble, services: KubernetesServicesSource):
    st = k8s.state
    st.add_namespace(NS)
    st.add_deployment(NS, "api", replicas=3, image="registry.example/api:1.4")
    st.add_deployment(NS, "worker", replicas=2, ready=0)
    st.add_deployment(NS, "billing", replicas=2, ready=1, stalled=True)
    st.add_statefulset(NS, "db", replicas=1)
    st.add_daemonset(NS, "agent", desired=3, ready=2)

    rows = rows_by_name(await services.fetch())
    assert set(rows) == {"deployment/api", "deployment/worker", "deployment/billing",
                         "statefulset/db", "daemonset/agent"}
    api = rows["deployment/api"]
    assert (api.status, api.status_text, api.running, api.desired) == (Severity.OK, "healthy", 3, 3)
    assert api.backend == "kubernetes" and api.cluster == NS
    assert api.task_definition == "api:1.4"
    assert api.deployment.startswith("complete")
    assert rows["deployment/worker"].status_text == "down"
    billing = rows["deployment/billing"]
    assert (billing.status, billing.status_text) == (Severity.CRITICAL, "stalled")
    assert "ProgressDeadlineExceeded" in billing.deployment
    assert rows["daemonset/agent"].status_text == "degraded"
    assert rows["statefulset/db"].status_text == "healthy"
