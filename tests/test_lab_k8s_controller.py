"""The lab double's cluster behaviour without kubectl: the deployment controller, server dry
run and Table output, through the official client and plain HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.lab.k8s import K8sState, start_controller, start_double, write_kubeconfig

from .helpers import wait_until_sync

NS = "shop"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, K8sState, object]]:
    from kubernetes import config

    st = K8sState()
    st.add_namespace(NS)
    st.add_node("node-1")
    st.add_deployment(NS, "api", replicas=3, image="registry.example/api:1")
    st.pods_for(NS, "api", 3, image="registry.example/api:1")
    url, stop, st = start_double(st)
    start_controller(st, pod_start=0.05)
    client = config.new_client_from_config(
        config_file=str(write_kubeconfig(tmp_path / "kubeconfig", url, "double", NS)))
    try:
        yield url, st, client
    finally:
        stop()


def _pods(st: K8sState) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in st.items("pods", NS)}


def test_a_new_image_rolls_every_pod_within_the_surge_limit(cluster):
    from kubernetes import client

    _url, st, api_client = cluster
    before = set(_pods(st))
    most = [0]

    def complete() -> bool:
        most[0] = max(most[0], len(_pods(st)))
        dep = st.get("deployments", NS, "api") or {}
        s = dep.get("status") or {}
        return (s.get("observedGeneration") == dep["metadata"]["generation"]
                and s.get("updatedReplicas") == s.get("readyReplicas") == s.get("replicas") == 3)

    client.AppsV1Api(api_client).patch_namespaced_deployment("api", NS, {"spec": {"template": {
        "spec": {"containers": [{"name": "app", "image": "registry.example/api:2"}]}}}})
    wait_until_sync(complete, 30)
    pods = _pods(st)
    assert not set(pods) & before
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"registry.example/api:2"}
    assert most[0] <= 4, "maxSurge 25% of 3 rounds up to one extra pod"
    dep = st.get("deployments", NS, "api")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    reasons = {c["type"]: c["reason"] for c in dep["status"]["conditions"]}
    assert reasons == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}


def test_dry_run_all_writes_nothing(cluster):
    from kubernetes import client

    _url, st, api_client = cluster
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    victim = sorted(_pods(st))[0]
    rv = st.rv
    core.delete_namespaced_pod(victim, NS, dry_run="All")
    apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 9}}, dry_run="All")
    apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 9}}, dry_run="All")
    assert st.rv == rv, "nothing was written"
    assert victim in _pods(st) and st.get("deployments", NS, "api")["spec"]["replicas"] == 3


def test_tables_carry_the_columns_kubectl_prints(cluster):
    url, _st, _client = cluster
    req = urllib.request.Request(
        f"{url}/apis/apps/v1/namespaces/{NS}/deployments",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc = json.load(resp)
    assert doc["kind"] == "Table"
    names = [c["name"] for c in doc["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    (row,) = doc["rows"]
    assert row["cells"][:4] == ["api", "3/3", 3, 3]
    assert row["object"]["metadata"]["namespace"] == NS
