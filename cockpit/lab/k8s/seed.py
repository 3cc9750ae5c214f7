"""The lab's cluster: the repo-scanner namespace seeded and animated like a live one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit.lab.k8s.builders import helm_release_secret
from cockpit.lab.k8s.controller import start_controller
from cockpit.lab.k8s.http import start_double, write_kubeconfig
from cockpit.lab.k8s.store import K8sState

LAB_NAMESPACE = "repo-scanner"
LAB_CONTEXT = "lab-simulated"
HELM_RELEASE = "repo-scanner"  # the runbook's `helm rollback repo-scanner N -n repo-scanner`
WORKER_IMAGE = "registry.example/scanner-worker:2.5.0"
WORKER_LAST_WORDS = ("INFO worker starting, concurrency=8",
                     "INFO loading signature database (1.9 GiB)",
                     "ERROR out of memory while mapping signatures")


def seed_repo_scanner(state: K8sState, *, ns: str = LAB_NAMESPACE) -> None:
    """The lab's namespace: a healthy deployment, a crash-looping one and Warning events."""
    state.add_namespace(ns)
    for i in (1, 2):
        state.add_node(f"lab-node-{i}")
    state.add_deployment(ns, "scanner-api", replicas=3, image="registry.example/scanner-api:2.4.1")
    seed_helm_release(state, ns)
    pods = [state.pods_for(ns, "scanner-api", 1, image="registry.example/scanner-api:2.4.1",
                           node=f"lab-node-{1 + i % 2}")[0] for i in range(3)]
    started = datetime.now(UTC) - timedelta(minutes=5)
    for i, p in enumerate(pods):
        name = p["metadata"]["name"]
        for j in range(5):
            state.append_log(ns, name, f"INFO GET /scan/{1000 + j * 7 + i} 200 {12 + j} ms",
                             at=started + timedelta(seconds=j * 11 + i))
    state.add_deployment(ns, "scanner-worker", replicas=2, ready=0, image=WORKER_IMAGE)
    crash = state.pods_for(ns, "scanner-worker", 2, waiting="CrashLoopBackOff", restarts=9,
                           last_terminated="OOMKilled", exit_code=137, node="lab-node-2",
                           image=WORKER_IMAGE)
    for p in crash:
        name = p["metadata"]["name"]
        for line in WORKER_LAST_WORDS:
            state.append_log(ns, name, line, previous=True, at=started)
        state.append_log(ns, name, "INFO worker starting, concurrency=8")
        backoff_event(state, ns, p, count=42)
    state.emit_event(ns, kind="Deployment", name="scanner-worker", reason="FailedCreate",
                     message="quota exceeded: requests.memory=4Gi, limited: 4Gi", count=3,
                     event_name="scanner-worker.quota")
    # Two containers (a picker to choose from) and two revisions (a rollback to try).
    containers = ("cache", "exporter")
    state.add_statefulset(ns, "scanner-cache", replicas=1, containers=containers,
                          image="registry.example/scanner-cache:7.0")
    state.set_template_image("statefulsets", ns, "scanner-cache", "registry.example/scanner-cache:7.2")
    for p in state.pods_for(ns, "scanner-cache", 1, plural="statefulsets", containers=containers,
                            image="registry.example/scanner-cache:7.2", node="lab-node-1"):
        name = p["metadata"]["name"]
        state.append_log(ns, name, "INFO cache warm, 1204 signatures", container="cache", at=started)
        state.append_log(ns, name, "INFO exporter listening on :9121", container="exporter", at=started)


# (chart version, app version, description) of each revision; the last one is deployed.
HELM_REVISIONS = (("0.1.0", "2.3.0", "Install complete"),
                  ("0.2.0", "2.4.0", "Upgrade complete"),
                  ("0.3.0", "2.4.1", "Upgrade complete"))


def _helm_manifest(ns: str, app_version: str) -> str:
    labels = (f"    app.kubernetes.io/instance: {HELM_RELEASE}\n"
              "    app.kubernetes.io/managed-by: Helm\n")
    return (f"---\n# Source: {HELM_RELEASE}/templates/service.yaml\n"
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: scanner-api\n"
            f"  labels:\n{labels}spec:\n  selector:\n    app: scanner-api\n"
            f"---\n# Source: {HELM_RELEASE}/templates/deployment.yaml\n"
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: scanner-api\n"
            f"  labels:\n{labels}spec:\n  replicas: 3\n  template:\n    spec:\n"
            f"      containers:\n      - name: app\n"
            f"        image: registry.example/scanner-api:{app_version}\n")


def seed_helm_release(state: K8sState, ns: str = LAB_NAMESPACE) -> None:
    """The release ``repo-scanner`` that installed scanner-api: three revisions in helm's own
    storage (revision 3 deployed, 1 and 2 superseded), and the labels and annotations helm
    puts on what it installs."""
    first = datetime.now(UTC) - timedelta(days=3)
    for i, (chart_version, app_version, description) in enumerate(HELM_REVISIONS, start=1):
        deployed = first + timedelta(days=i - 1, hours=2 * (i - 1))
        release = {
            "name": HELM_RELEASE, "namespace": ns, "version": i,
            "info": {"first_deployed": first.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                     "last_deployed": deployed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                     "deleted": "", "description": description,
                     "status": "deployed" if i == len(HELM_REVISIONS) else "superseded"},
            "chart": {"metadata": {"name": HELM_RELEASE, "version": chart_version,
                                   "appVersion": app_version, "apiVersion": "v2",
                                   "type": "application"},
                      "templates": [], "values": {"replicaCount": 3}},
            "config": {"replicaCount": 3},
            "manifest": _helm_manifest(ns, app_version),
        }
        state.put(helm_release_secret(release, created=deployed))

    def stamp(d: dict[str, Any]) -> None:
        meta = d["metadata"]
        # New dicts: the stored labels may be the very dict the selector holds.
        meta["labels"] = {**meta["labels"], "app.kubernetes.io/instance": HELM_RELEASE,
                          "app.kubernetes.io/managed-by": "Helm"}
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               "meta.helm.sh/release-name": HELM_RELEASE,
                               "meta.helm.sh/release-namespace": ns}

    state.modify("deployments", ns, "scanner-api", stamp)


def backoff_event(state: K8sState, ns: str, pod: dict[str, Any], *, count: int) -> None:
    """The kubelet's BackOff event, naming the pod's own (first) container."""
    name = pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]["name"]
    state.emit_event(ns, kind="Pod", name=name, reason="BackOff",
                     message=f"Back-off restarting failed container {container} in pod "
                             f"{name}_{ns}({pod['metadata']['uid']})",
                     count=count, event_name=f"{name}.backoff",
                     field_path=f"spec.containers{{{container}}}")


def animate_repo_scanner(state: K8sState, stopped: threading.Event, *, ns: str = LAB_NAMESPACE,
                         tick: float = 1.0) -> None:
    """Keep the lab alive: healthy pods log requests; crash-looping pods restart and back off."""
    n = 0
    # The lab's log rate (COCKPIT_LAB_LOG_RATE, 0 pauses it) covers this namespace too: one
    # request line every few seconds from one pod in turn, so Kubernetes adds a trickle to
    # the ECS stream instead of tripling it.
    rate = float(os.environ.get("COCKPIT_LAB_LOG_RATE", "1") or 0)
    every = max(1, round(4 / rate)) if rate > 0 else 0
    while not stopped.wait(tick):
        n += 1
        api_pods = [p for p in state.items("pods", ns)
                    if p["metadata"].get("labels", {}).get("app") == "scanner-api"]
        speaker = api_pods[(n // max(every, 1)) % len(api_pods)]["metadata"]["name"] if api_pods else ""
        for pod in state.items("pods", ns):
            name = pod["metadata"]["name"]
            app = pod["metadata"].get("labels", {}).get("app", "")
            if app == "scanner-api":
                if not every or n % every or name != speaker:
                    continue
                ms = 9 + (n * 7 + len(name)) % 40
                status = 200 if n % 17 else 503
                level = "INFO" if status == 200 else "WARN"
                state.append_log(ns, name, f"{level} GET /scan/{1000 + n} {status} {ms} ms")
            elif app == "scanner-worker" and n % 20 == 0:
                def restart(p: dict[str, Any]) -> None:
                    for cs in p["status"]["containerStatuses"]:
                        cs["restartCount"] = int(cs.get("restartCount") or 0) + 1

                state.modify("pods", ns, name, restart)
                state.append_log(ns, name, "INFO worker starting, concurrency=8")
                ev = state.get("events", ns, f"{name}.backoff")
                backoff_event(state, ns, pod, count=int(ev["count"]) + 1 if ev else 1)


def lab_kubernetes(workdir: Path, *, pod_start: float = 1.0) -> tuple[Path, str, Callable[[], None]]:
    """Start the double seeded with ``repo-scanner``, animated, with a deployment controller
    (a new pod is ready ``pod_start`` seconds after it is created; the worker's image keeps
    crashing); returns (kubeconfig path, context name, stop). The context name says
    "simulated" on screen."""
    url, stop_server, state = start_double(K8sState(metrics=False))
    seed_repo_scanner(state)
    start_controller(state, pod_start=pod_start,
                     crashing={WORKER_IMAGE: list(WORKER_LAST_WORDS)})
    stopped = threading.Event()
    animator = threading.Thread(target=animate_repo_scanner, args=(state, stopped),
                                name="k8s-lab-animate", daemon=True)
    animator.start()
    kubeconfig = write_kubeconfig(Path(workdir) / "kubeconfig-lab.yaml", url, LAB_CONTEXT,
                                  LAB_NAMESPACE)

    def stop() -> None:
        stopped.set()
        animator.join(5)
        stop_server()

    return kubeconfig, LAB_CONTEXT, stop
