"""The Kubernetes backend against a real cluster, when one is configured.

Set ``COCKPIT_TEST_KUBECONFIG`` (and optionally ``COCKPIT_TEST_K8S_CONTEXT`` and
``COCKPIT_TEST_K8S_NAMESPACE``, default ``default``). Only reads: nothing is changed on the
cluster. Without it these tests skip; they are not server-backed skips (CI has no cluster),
so they use a plain ``pytest.skip``.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from cockpit.backends.kubernetes import (
    KubeContext,
    KubernetesAlarmsSource,
    KubernetesLogSource,
    KubernetesServicesSource,
)
from cockpit.model import Alarm, ServiceStatus

KUBECONFIG = os.environ.get("COCKPIT_TEST_KUBECONFIG")
CONTEXT = os.environ.get("COCKPIT_TEST_K8S_CONTEXT") or None
NAMESPACE = os.environ.get("COCKPIT_TEST_K8S_NAMESPACE", "default")


@pytest.fixture
def ctx(monkeypatch: pytest.MonkeyPatch) -> KubeContext:
    if not KUBECONFIG:
        pytest.skip("COCKPIT_TEST_KUBECONFIG is not set: no real cluster to test against")
    monkeypatch.setenv("KUBECONFIG", KUBECONFIG)
    return KubeContext(CONTEXT)


async def test_real_cluster_workloads_and_their_pods(ctx: KubeContext):
    src = KubernetesServicesSource(ctx, NAMESPACE)
    try:
        rows = await src.fetch()
        assert all(isinstance(r, ServiceStatus) and r.cluster == NAMESPACE for r in rows)
        if rows:
            sections = await src.detail(rows[0])
            assert sections[0].title.startswith("pods (")
    finally:
        await src.close()


async def test_real_cluster_alarms_and_nodes(ctx: KubeContext):
    src = KubernetesAlarmsSource(ctx, (NAMESPACE,))
    try:
        alarms = await src.fetch()
        assert all(isinstance(a, Alarm) for a in alarms)
        nodes = await src.nodes_detail()
        assert nodes.columns[0] == "node"
    finally:
        await src.close()


async def test_real_cluster_log_follow_starts(ctx: KubeContext):
    src = KubernetesLogSource(ctx, NAMESPACE, max_streams=3)
    agen = src.follow()
    try:
        # A quiet namespace may have nothing to say: only a failure to start is an error.
        try:
            batch = await asyncio.wait_for(agen.__anext__(), 20)
            assert isinstance(batch, list)
        except TimeoutError:
            pass
    finally:
        await agen.aclose()
        await src.close()
