"""The real ``kubectl`` against the lab's cluster: what an on-call engineer types must work on
the double as on a cluster (short names, server-side columns, a deployment controller that
rolls, scales and replaces pods, history for undo, server dry-run, auth can-i, log limits).

The kubectl binary is the one on PATH (Debian's ``kubernetes-client``), or ``$KUBECTL``.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.lab.k8s import LAB_NAMESPACE, lab_kubernetes

from .conftest import skip_or_fail
from .helpers import wait_until_sync

pytestmark = pytest.mark.servers
NS = LAB_NAMESPACE


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path, home: Path) -> None:
        self.binary = binary
        # A private HOME: kubectl caches discovery under ~/.kube/cache.
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(home)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def __call__(self, *args: str, timeout: float = 60) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr.strip()}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def pods(self, app: str) -> dict[str, dict[str, Any]]:
        items = self.json("get", "pods", "-n", NS, "-l", f"app={app}")["items"]
        return {p["metadata"]["name"]: p for p in items}

    def running(self, app: str) -> set[str]:
        """Names of the app's pods that are Running and ready."""
        return {n for n, p in self.pods(app).items()
                if p["status"].get("phase") == "Running"
                and all(c.get("ready") for c in p["status"].get("containerStatuses") or [])}


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kubectl]:
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not binary:
        skip_or_fail("kubectl is not installed (Debian: apt-get install kubernetes-client)")
    kubeconfig, _context, stop = lab_kubernetes(tmp_path / "lab")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # for the cockpit's own client
    try:
        yield Kubectl(str(binary), kubeconfig, tmp_path)
    finally:
        stop()


def test_get_with_short_names_prints_the_server_side_columns(kubectl: Kubectl):
    out = kubectl("get", "deploy,po,ev", "-A")
    lines = out.splitlines()
    headers = [ln for ln in lines if ln.startswith("NAMESPACE")]
    assert any(all(c in h for c in ("READY", "UP-TO-DATE", "AVAILABLE")) for h in headers), out
    assert any(all(c in h for c in ("STATUS", "RESTARTS")) for h in headers), out
    assert any(all(c in h for c in ("TYPE", "REASON", "OBJECT", "MESSAGE")) for h in headers), out
    api = next(ln for ln in lines if "deployment.apps/scanner-api " in ln)
    assert api.split()[2:5] == ["3/3", "3", "3"], api
    worker = next(ln for ln in lines if "deployment.apps/scanner-worker " in ln)
    assert worker.split()[2:5] == ["0/2", "2", "0"], worker
    crashing = [ln for ln in lines if ln.split()[1:2] and ln.split()[1].startswith("pod/scanner-worker-")]
    assert len(crashing) == 2 and all("CrashLoopBackOff" in ln for ln in crashing), out
    assert all(ln.split()[4] == "9" for ln in crashing), "RESTARTS"
    # The category every engineer types first.
    every = kubectl("get", "all", "-n", NS)
    assert "statefulset.apps/scanner-cache" in every and "replicaset.apps/scanner-api-" in every
    nodes = kubectl("get", "no")
    assert "lab-node-1" in nodes and "Ready" in nodes and "VERSION" in nodes


def test_get_watch_prints_each_change_as_a_row(kubectl: Kubectl):
    proc = subprocess.Popen([kubectl.binary, "get", "po", "-w", "-n", NS, "-l", "app=scanner-api"],
                            env=kubectl.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout or ()], daemon=True).start()

    def until(pred, what: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                ln = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(ln):
                return ln
        raise AssertionError(f"kubectl get -w never printed {what}")

    try:
        assert "STATUS" in until(lambda ln: ln.startswith("NAME"), "its header")
        victim = sorted(kubectl.pods("scanner-api"))[0]
        kubectl("delete", "pod", victim, "-n", NS, "--wait=false")
        new = until(lambda ln: "ContainerCreating" in ln, "a new pod").split()[0]
        assert until(lambda ln: ln.startswith(new + " ") and "Running" in ln, "it running")
    finally:
        proc.kill()
        proc.wait()


def test_rollout_restart_replaces_every_pod_and_the_rollout_completes(kubectl: Kubectl):
    before = kubectl.running("scanner-api")
    assert len(before) == 3
    assert "restarted" in kubectl("rollout", "restart", "deployment/scanner-api", "-n", NS)
    out = kubectl("rollout", "status", "deployment/scanner-api", "-n", NS, "--timeout=60s",
                  timeout=90)
    assert "successfully rolled out" in out
    after = kubectl.running("scanner-api")
    assert len(after) == 3 and not after & before, (before, after)
    assert set(kubectl.pods("scanner-api")) == after, "old pods are gone"
    dep = kubectl.json("get", "deploy", "scanner-api", "-n", NS)
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_scale_creates_and_deletes_pods(kubectl: Kubectl):
    assert "scaled" in kubectl("scale", "deployment/scanner-api", "--replicas=4", "-n", NS)
    wait_until_sync(lambda: len(kubectl.running("scanner-api")) == 4, 30)
    kubectl("rollout", "status", "deployment/scanner-api", "-n", NS, "--timeout=60s", timeout=90)
    kubectl("scale", "deployment/scanner-api", "--replicas=1", "-n", NS)
    wait_until_sync(lambda: len(kubectl.pods("scanner-api")) == 1, 30)
    dep = kubectl.json("get", "deploy", "scanner-api", "-n", NS)
    assert dep["status"]["replicas"] == 1 and dep["status"]["readyReplicas"] == 1
    described = kubectl("describe", "deployment", "scanner-api", "-n", NS)
    assert "ScalingReplicaSet" in described and "to 1" in described, described


def test_deleting_a_deployment_takes_its_replicasets_and_pods(kubectl: Kubectl):
    kubectl("delete", "deployment", "scanner-api", "-n", NS)
    wait_until_sync(lambda: not kubectl.pods("scanner-api"), 30)
    assert "scanner-api" not in kubectl("get", "rs", "-n", NS)


def test_a_deleted_pod_is_replaced_and_status_does_not_lie(kubectl: Kubectl):
    first = sorted(kubectl.running("scanner-api"))[0]
    kubectl("delete", "pod", first, "-n", NS)
    wait_until_sync(lambda: len(kubectl.running("scanner-api")) == 3, 30)
    assert first not in kubectl.pods("scanner-api")
    dep = kubectl.json("get", "deploy", "scanner-api", "-n", NS)
    assert dep["status"]["readyReplicas"] == 3 and dep["status"]["availableReplicas"] == 3


def test_rollout_undo_goes_back_to_the_previous_replicaset(kubectl: Kubectl):
    kubectl("set", "image", "deployment/scanner-api", "app=registry.example/scanner-api:2.5.0", "-n", NS)
    kubectl("rollout", "status", "deployment/scanner-api", "-n", NS, "--timeout=60s", timeout=90)
    images = {p["spec"]["containers"][0]["image"] for p in kubectl.pods("scanner-api").values()}
    assert images == {"registry.example/scanner-api:2.5.0"}
    history = kubectl("rollout", "history", "deployment/scanner-api", "-n", NS)
    assert "1 " in history and "2 " in history, history
    assert "rolled back" in kubectl("rollout", "undo", "deployment/scanner-api", "-n", NS)
    kubectl("rollout", "status", "deployment/scanner-api", "-n", NS, "--timeout=60s", timeout=90)
    pods = kubectl.pods("scanner-api")
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {
        "registry.example/scanner-api:2.4.1"}
    assert len(kubectl.running("scanner-api")) == 3
    dep = kubectl.json("get", "deploy", "scanner-api", "-n", NS)
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_server_dry_run_changes_nothing(kubectl: Kubectl):
    pods = kubectl.pods("scanner-api")
    victim = sorted(pods)[0]
    out = kubectl("delete", "pod", victim, "-n", NS, "--dry-run=server")
    assert "server dry run" in out
    kubectl("scale", "deployment/scanner-api", "--replicas=5", "-n", NS, "--dry-run=server")
    kubectl("create", "deployment", "intruder", "--image=registry.example/x:1", "-n", NS,
            "--dry-run=server")
    kubectl("patch", "deployment/scanner-api", "-n", NS, "--dry-run=server", "-p",
            json.dumps({"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}))
    assert set(kubectl.pods("scanner-api")) == set(pods)
    dep = kubectl.json("get", "deploy", "scanner-api", "-n", NS)
    assert dep["spec"]["replicas"] == 3 and dep["metadata"]["generation"] == 1
    assert "x" not in (dep["spec"]["template"]["metadata"].get("annotations") or {})
    assert kubectl.run("get", "deploy", "intruder", "-n", NS).returncode != 0


def test_logs_previous_limit_bytes_and_tail(kubectl: Kubectl):
    worker = sorted(kubectl.pods("scanner-worker"))[0]
    assert "out of memory" in kubectl("logs", worker, "-n", NS, "--previous")
    api = sorted(kubectl.pods("scanner-api"))[0]
    full = kubectl("logs", api, "-n", NS)
    assert len(full) > 20
    assert kubectl("logs", api, "-n", NS, "--limit-bytes=12") == full[:12]
    assert kubectl("logs", api, "-n", NS, "--tail=1") == full.splitlines(keepends=True)[-1]


def test_auth_can_i_answers(kubectl: Kubectl):
    assert kubectl("auth", "can-i", "delete", "pods", "-n", NS).strip() == "yes"
    assert kubectl("auth", "can-i", "patch", "deployments", "-n", NS).strip() == "yes"
    listed = kubectl("auth", "can-i", "--list", "-n", NS)
    assert "*.*" in listed and "[*]" in listed, listed


def test_events_name_the_pods_real_container(kubectl: Kubectl):
    events = kubectl.json("get", "ev", "-n", NS)["items"]
    backoff = [e for e in events if e["reason"] == "BackOff"]
    assert backoff
    pods = kubectl.pods("scanner-worker")
    for e in backoff:
        pod = pods[e["involvedObject"]["name"]]
        (container,) = (c["name"] for c in pod["spec"]["containers"])
        assert f"container {container} " in e["message"], e["message"]
        assert e["involvedObject"].get("fieldPath") == f"spec.containers{{{container}}}"


async def test_the_cockpits_actions_do_what_kubectl_then_sees(kubectl: Kubectl, tmp_path: Path):
    """Restart, scale, rollback and delete pod through the cockpit's backend and its action
    runner; kubectl is the judge of what happened on the cluster."""
    from cockpit.actions import ActionRunner, get_action
    from cockpit.audit import AuditLog
    from cockpit.backends.kubernetes import KubeContext, KubernetesServicesSource
    from cockpit.lab.k8s import LAB_CONTEXT
    from cockpit.profile import Profile

    async def confirm(req):
        return req.expected if req.typed else True

    services = KubernetesServicesSource(KubeContext(LAB_CONTEXT), NS)
    runner = ActionRunner(profile=Profile(name="lab"), audit=AuditLog(tmp_path / "audit.jsonl"),
                          resolve_backend=lambda sid: services, confirm=confirm)

    async def row(image: str = ""):
        """The services row, once the cockpit's watch cache shows ``image`` (within 10 s)."""
        deadline = time.monotonic() + 10
        while True:
            r = {r.name: r for r in await services.fetch()}["deployment/scanner-api"]
            if r.task_definition.endswith(image) or time.monotonic() > deadline:
                return r
            await asyncio.sleep(0.05)

    def rollout_done() -> str:
        return kubectl("rollout", "status", "deployment/scanner-api", "-n", NS, "--timeout=60s",
                       timeout=90)

    try:
        before = kubectl.running("scanner-api")
        outcome = await runner.request(get_action("service.restart"), await row())
        assert outcome.ok, outcome.message
        assert "successfully rolled out" in rollout_done()
        after = kubectl.running("scanner-api")
        assert len(after) == 3 and not after & before

        kubectl("set", "image", "deployment/scanner-api", "app=registry.example/scanner-api:2.5.0",
                "-n", NS)
        rollout_done()
        target = await row("2.5.0")
        outcome = await runner.request(get_action("service.rollback"), target)
        assert outcome.ok and "revision 3 to 2" in outcome.message, outcome.message
        rollout_done()
        images = {p["spec"]["containers"][0]["image"] for p in kubectl.pods("scanner-api").values()}
        assert images == {"registry.example/scanner-api:2.4.1"}
        assert "4 " in kubectl("rollout", "history", "deployment/scanner-api", "-n", NS)

        outcome = await runner.request(get_action("service.scale"), await row(), {"desired": 2})
        assert outcome.ok, outcome.message
        wait_until_sync(lambda: len(kubectl.pods("scanner-api")) == 2, 30)
        rollout_done()
    finally:
        await services.close()
