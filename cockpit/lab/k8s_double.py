"""An in-process Kubernetes API server double that speaks the REST JSON of a real API server.

No kube-apiserver can be installed on the machines this project is built and tested on, so
tests and the lab talk to this double over real HTTP: the cockpit through its REST client
(cockpit/backends/kubernetes/rest.py, with kubeconfig resolved by the official ``kubernetes``
library), some tests through the official client itself. It keeps what clients rely on
faithful: complete objects with ``resourceVersion``,
list + ``?watch=true`` chunked event streams (with 410 Gone for a compacted version and
bookmarks), strategic-merge / merge / JSON patches, DELETE, the ``scale`` subresource,
``pods/{name}/log`` (follow, previous, tailLines, sinceTime, timestamps), ``Status`` objects
for errors and ``/api`` + ``/apis`` discovery for kubectl.

It is not a controller manager: a workload's status changes only when a test or the lab
says so (``set_workload_status``, ``reconcile``), which is what makes tests deterministic.
Every request is recorded (``state.requests``) so a test can assert the exact PATCH/DELETE
a client sent.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# plural -> (group/version prefix, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "namespaces": ("v1", "Namespace", False),
    "nodes": ("v1", "Node", False),
    "pods": ("v1", "Pod", True),
    "events": ("v1", "Event", True),
    "services": ("v1", "Service", True),
    "deployments": ("apps/v1", "Deployment", True),
    "statefulsets": ("apps/v1", "StatefulSet", True),
    "daemonsets": ("apps/v1", "DaemonSet", True),
    "replicasets": ("apps/v1", "ReplicaSet", True),
    "controllerrevisions": ("apps/v1", "ControllerRevision", True),
}
METRICS_GV = "metrics.k8s.io/v1beta1"
HISTORY = 50_000  # watch events kept for resuming; older versions get 410 Gone


def now_iso(t: datetime | None = None) -> str:
    return (t or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386 merge; also what a strategic merge does for the maps the cockpit patches.

    (A real strategic merge merges lists of containers by name; nothing here patches lists.)
    A strategic patch's ``"$patch": "replace"`` directive replaces the map it sits in whole,
    which is how ``kubectl rollout undo`` restores a StatefulSet's / DaemonSet's template.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if strategic and patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch" and v is not None}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v, strategic=strategic)
    return out


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add / replace / remove (what ``kubectl rollout undo`` sends)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                parent.pop(last, None)
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc


def _get_path(obj: dict[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _matches_labels(obj: dict[str, Any], selector: str) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term and term not in labels:
            return False
    return True


def _matches_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        neg = "!=" in term
        k, v = term.split("!=" if neg else "=", 1)
        actual = _get_path(obj, k.strip().rstrip("="))
        actual = "" if actual is None else str(actual)
        if (actual == v.strip().lstrip("=")) == neg:
            return False
    return True


class K8sState:
    """The mutable store behind the double, with helpers for tests and the lab."""

    def __init__(self, *, metrics: bool = False) -> None:
        self.cond = threading.Condition()
        self.rv = 100
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._hist: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self._hist_rv: list[int] = []
        self.floor = 0  # watches from a resourceVersion below this get 410 Gone
        self.logs: dict[tuple[str, str, str, bool], list[tuple[datetime, str]]] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=20_000)
        self.metrics = metrics
        self.pod_metrics: dict[tuple[str, str], tuple[str, str]] = {}
        self.drops = 0  # bumped by drop_watches(): open watch streams are cut
        self.stopping = False
        self.list_calls: dict[str, int] = {}

    # --- core store ------------------------------------------------------------------------

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, etype: str, plural: str, obj: dict[str, Any]) -> None:
        ns = obj["metadata"].get("namespace", "")
        rv = int(obj["metadata"]["resourceVersion"])
        self._hist.append((rv, plural, ns, etype, copy.deepcopy(obj)))
        self._hist_rv.append(rv)
        if len(self._hist) > HISTORY:
            cut = len(self._hist) // 2
            self.floor = self._hist_rv[cut]
            del self._hist[:cut]
            del self._hist_rv[:cut]
        self.cond.notify_all()

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (kind decides the resource); returns the stored copy."""
        plural = _plural_of(obj["kind"])
        group, kind, namespaced = RESOURCES[plural]
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", group)
        meta = obj.setdefault("metadata", {})
        if not namespaced:
            meta.pop("namespace", None)
        key = (plural, meta.get("namespace", ""), meta["name"])
        with self.cond:
            old = self.objects.get(key)
            if old is not None:
                meta["uid"] = old["metadata"]["uid"]
                meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_iso())
            meta.setdefault("generation", 1)
            meta["resourceVersion"] = self._bump()
            self.objects[key] = obj
            self._record("MODIFIED" if old is not None else "ADDED", plural, obj)
            return copy.deepcopy(obj)

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get((plural, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def modify(self, plural: str, ns: str, name: str, fn: Callable[[dict[str, Any]], Any]) -> dict:
        """Change an object in place with ``fn(obj)``; bumps its resourceVersion."""
        with self.cond:
            obj = self.objects[(plural, ns, name)]
            old_spec = copy.deepcopy(obj.get("spec"))
            fn(obj)
            if obj.get("spec") != old_spec:
                obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            obj["metadata"]["resourceVersion"] = self._bump()
            self._record("MODIFIED", plural, obj)
            return copy.deepcopy(obj)

    def delete(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.pop((plural, ns, name), None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = self._bump()
            self._record("DELETED", plural, obj)
            return copy.deepcopy(obj)

    def items(self, plural: str, ns: str = "") -> list[dict[str, Any]]:
        with self.cond:
            return [
                copy.deepcopy(o)
                for (p, n, _), o in self.objects.items()
                if p == plural and (not ns or n == ns)
            ]

    def compact(self) -> None:
        """Forget the watch history: a watch resuming from an older version gets 410 Gone."""
        with self.cond:
            self.floor = self.rv + 1
            self._hist.clear()
            self._hist_rv.clear()

    def drop_watches(self) -> None:
        """Cut every open watch and log stream mid-flight, as a load balancer or an
        apiserver restart does (no closing chunk: the client sees a broken stream)."""
        with self.cond:
            self.drops += 1
            self.cond.notify_all()

    def events_since(self, rv: int) -> list[tuple[int, str, str, str, dict[str, Any]]]:
        i = bisect.bisect_right(self._hist_rv, rv)
        return self._hist[i:]

    def mutations(self, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded PATCH/DELETE/POST/PUT requests (optionally of one method), oldest first."""
        with self.cond:
            return [
                r
                for r in self.requests
                if r["method"] != "GET" and (method is None or r["method"] == method)
            ]

    # --- builders ------------------------------------------------------------------------

    def add_namespace(self, name: str) -> dict[str, Any]:
        return self.put(
            {"kind": "Namespace", "metadata": {"name": name}, "spec": {}, "status": {"phase": "Active"}}
        )

    def add_node(self, name: str, *, ready: bool = True, unschedulable: bool = False,
                 pressure: tuple[str, ...] = ()) -> dict[str, Any]:
        conds = [
            _cond("Ready", "True" if ready else "Unknown",
                  "KubeletReady" if ready else "NodeStatusUnknown",
                  "kubelet is posting ready status" if ready else "Kubelet stopped posting node status."),
        ]
        for c in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            conds.append(_cond(c, "True" if c in pressure else "False", f"Kubelet{c}", ""))
        spec: dict[str, Any] = {"podCIDR": "10.244.0.0/24"}
        if unschedulable:
            spec["unschedulable"] = True
        return self.put({
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {
                "conditions": conds,
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "nodeInfo": _node_info(),
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            },
        })

    def add_deployment(self, ns: str, name: str, *, replicas: int = 2, image: str = "",
                       ready: int | None = None, stalled: bool = False,
                       containers: tuple[str, ...] = ("app",), revision: int = 1) -> dict:
        image = image or f"registry.example/{name}:1.0"
        labels = {"app": name}
        template = _template(labels, containers, image)
        ready = replicas if ready is None else ready
        dep = self.put({
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": template, "progressDeadlineSeconds": 600,
                     "revisionHistoryLimit": 10,
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
            "status": {},
        })
        self.add_replicaset(dep, revision=revision, replicas=replicas, ready=ready)
        self.set_workload_status(ns, name, ready=ready, stalled=stalled)
        return dep

    def add_replicaset(self, dep: dict[str, Any], *, revision: int, replicas: int,
                       ready: int, image: str | None = None) -> dict[str, Any]:
        name = dep["metadata"]["name"]
        ns = dep["metadata"]["namespace"]
        template = copy.deepcopy(dep["spec"]["template"])
        if image:
            for c in template["spec"]["containers"]:
                c["image"] = image
        h = f"{abs(hash((name, revision))) % 16**10:010x}"[:10]
        template["metadata"]["labels"]["pod-template-hash"] = h
        labels = dict(template["metadata"]["labels"])
        return self.put({
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name}-{h}", "namespace": ns, "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": str(revision),
                                "deployment.kubernetes.io/desired-replicas": str(replicas)},
                "ownerReferences": [_owner(dep)],
            },
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": template},
            "status": {"replicas": replicas, "readyReplicas": ready,
                       "availableReplicas": ready, "fullyLabeledReplicas": replicas,
                       "observedGeneration": 1},
        })

    def add_statefulset(self, ns: str, name: str, *, replicas: int = 1, ready: int | None = None,
                        image: str = "", containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
        ready = replicas if ready is None else ready
        labels = {"app": name}
        self.put({
            "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "serviceName": name,
                     "template": _template(labels, containers, image or f"registry.example/{name}:1"),
                     "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas,
                       "updatedReplicas": replicas, "availableReplicas": ready,
                       "currentRevision": f"{name}-1", "updateRevision": f"{name}-1",
                       "observedGeneration": 1},
        })
        self.record_revision("statefulsets", ns, name)
        return self.get("statefulsets", ns, name) or {}

    def add_daemonset(self, ns: str, name: str, *, desired: int = 1, ready: int | None = None,
                      image: str = "") -> dict[str, Any]:
        ready = desired if ready is None else ready
        labels = {"app": name}
        self.put({
            "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": _template(labels, ("app",), image or f"registry.example/{name}:1"),
                     "updateStrategy": {"type": "RollingUpdate"}},
            "status": {"desiredNumberScheduled": desired, "currentNumberScheduled": desired,
                       "numberReady": ready, "updatedNumberScheduled": desired,
                       "numberAvailable": ready, "numberMisscheduled": 0,
                       "observedGeneration": 1},
        })
        self.record_revision("daemonsets", ns, name)
        return self.get("daemonsets", ns, name) or {}

    def set_template_image(self, plural: str, ns: str, name: str, image: str) -> dict[str, Any]:
        """A new image in a StatefulSet's / DaemonSet's template, recorded as a new revision."""

        def fn(o: dict[str, Any]) -> None:
            for c in o["spec"]["template"]["spec"]["containers"]:
                c["image"] = image

        self.modify(plural, ns, name, fn)
        return self.record_revision(plural, ns, name)

    def controller_revisions(self, plural: str, ns: str, name: str) -> list[dict[str, Any]]:
        """The ControllerRevisions a StatefulSet / DaemonSet controls, oldest revision first."""
        wl = self.get(plural, ns, name)
        if wl is None:
            return []
        uid = wl["metadata"]["uid"]
        own = [r for r in self.items("controllerrevisions", ns)
               if any(o.get("uid") == uid and o.get("controller")
                      for o in r["metadata"].get("ownerReferences", []))]
        return sorted(own, key=lambda r: int(r.get("revision") or 0))

    def record_revision(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        """The controller's history bookkeeping for a StatefulSet / DaemonSet template.

        As the real controllers do: the template is stored as a ControllerRevision whose
        ``data`` is the strategic-merge patch that restores it (``{"spec": {"template":
        {..., "$patch": "replace"}}}``). A template equal to an older revision's (a rollback)
        reuses that revision, renumbered as the newest, instead of adding one.
        """
        wl = self.get(plural, ns, name)
        if wl is None:
            raise KeyError(name)
        data = {"spec": {"template": {**copy.deepcopy(wl["spec"]["template"]), "$patch": "replace"}}}
        history = self.controller_revisions(plural, ns, name)
        top = int(history[-1].get("revision") or 0) if history else 0
        same = next((r for r in history if r.get("data") == data), None)
        if same is None:
            h = uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(data, sort_keys=True) + name).hex[:10]
            labels = {**wl["spec"]["selector"].get("matchLabels", {}), "controller-revision-hash": h}
            cr = self.put({"kind": "ControllerRevision",
                           "metadata": {"name": f"{name}-{h}", "namespace": ns, "labels": labels,
                                        "ownerReferences": [_owner(wl)]},
                           "data": data, "revision": top + 1})
        elif int(same.get("revision") or 0) != top:
            cr = self.modify("controllerrevisions", ns, same["metadata"]["name"],
                             lambda o: o.update(revision=top + 1))
        else:
            cr = same
        rev = cr["metadata"]["name"]

        def observed(o: dict[str, Any]) -> None:
            o["status"]["observedGeneration"] = o["metadata"].get("generation", 1)
            if plural == "statefulsets":
                o["status"].update(currentRevision=rev, updateRevision=rev)

        self.modify(plural, ns, name, observed)
        return cr

    def set_workload_status(self, ns: str, name: str, *, ready: int | None = None,
                            updated: int | None = None, stalled: bool = False,
                            plural: str = "deployments") -> dict[str, Any]:
        """Set a Deployment's status as its controller would (observedGeneration = generation)."""

        def fn(d: dict[str, Any]) -> None:
            want = int(d["spec"].get("replicas", 1))
            r = want if ready is None else ready
            u = want if updated is None else updated
            cond_p = (_cond("Progressing", "False", "ProgressDeadlineExceeded",
                            f'ReplicaSet "{name}" has timed out progressing.')
                      if stalled else
                      _cond("Progressing", "True", "NewReplicaSetAvailable",
                            f'ReplicaSet "{name}" has successfully progressed.'))
            cond_a = _cond("Available", "True" if r >= max(1, want - 1) else "False",
                           "MinimumReplicasAvailable" if r else "MinimumReplicasUnavailable",
                           "Deployment has minimum availability." if r
                           else "Deployment does not have minimum availability.")
            d["status"] = {
                "observedGeneration": d["metadata"].get("generation", 1),
                "replicas": max(want, u), "updatedReplicas": u, "readyReplicas": r,
                "availableReplicas": r, "unavailableReplicas": max(0, want - r),
                "conditions": [cond_a, cond_p],
            }

        return self.modify(plural, ns, name, fn)

    def add_pod(self, ns: str, name: str, *, labels: dict[str, str] | None = None,
                owner: dict[str, Any] | None = None, phase: str = "Running",
                node: str = "node-1", containers: tuple[str, ...] = ("app",),
                waiting: str = "", restarts: int = 0, last_terminated: str = "",
                exit_code: int = 1, image: str = "registry.example/app:1",
                created: datetime | None = None) -> dict[str, Any]:
        """A complete Pod. ``waiting`` = CrashLoopBackOff / ImagePullBackOff / ...;
        ``last_terminated`` = OOMKilled / Error: the reason of the previous container exit."""
        created = created or datetime.now(UTC)
        statuses = []
        running = phase == "Running" and not waiting
        for c in containers:
            st: dict[str, Any]
            if waiting:
                st = {"waiting": {"reason": waiting, "message": _waiting_message(waiting, name, c)}}
            elif phase == "Running":
                st = {"running": {"startedAt": now_iso(created)}}
            else:
                st = {"waiting": {"reason": "ContainerCreating"}}
            last: dict[str, Any] = {}
            if last_terminated:
                last = {"terminated": {"reason": last_terminated, "exitCode": exit_code,
                                       "startedAt": now_iso(), "finishedAt": now_iso(),
                                       "containerID": f"containerd://{uuid.uuid4().hex}"}}
            statuses.append({
                "name": c, "image": image, "imageID": "", "ready": running,
                "started": running, "restartCount": restarts, "state": st, "lastState": last,
                "containerID": f"containerd://{uuid.uuid4().hex}" if running else None,
            })
        meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(labels or {}),
                                "creationTimestamp": now_iso(created)}
        if owner:
            meta["ownerReferences"] = [_owner(owner)]
        conds = [_cond("PodScheduled", "True" if node else "False",
                       "" if node else "Unschedulable",
                       "" if node else "0/3 nodes are available: 3 Insufficient cpu.")]
        if node:
            conds.append(_cond("Ready", "True" if running else "False",
                               "" if running else "ContainersNotReady", ""))
        return self.put({
            "kind": "Pod",
            "metadata": meta,
            "spec": {"containers": [{"name": c, "image": image} for c in containers],
                     "nodeName": node or None, "restartPolicy": "Always"},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": statuses,
                       "hostIP": "10.0.0.1" if node else None,
                       "podIP": "10.244.0.9" if running else None,
                       "startTime": now_iso(created) if node else None, "qosClass": "BestEffort"},
        })

    def pods_for(self, ns: str, workload: str, n: int, *, plural: str = "deployments",
                 **kw: Any) -> list[dict[str, Any]]:
        """``n`` pods owned by a workload (through its ReplicaSet for a Deployment)."""
        wl = self.get(plural, ns, workload)
        if wl is None:
            raise KeyError(workload)
        labels = dict(wl["spec"]["selector"]["matchLabels"])
        owner = wl
        prefix = workload
        if plural == "deployments":
            rss = [r for r in self.items("replicasets", ns)
                   if any(o["uid"] == wl["metadata"]["uid"]
                          for o in r["metadata"].get("ownerReferences", []))]
            if rss:
                owner = max(rss, key=_revision)
                prefix = owner["metadata"]["name"]
                labels = dict(owner["spec"]["selector"]["matchLabels"])
        out = []
        for _ in range(n):
            suffix = uuid.uuid4().hex[:5]
            out.append(self.add_pod(ns, f"{prefix}-{suffix}", labels=labels, owner=owner, **kw))
        return out

    def emit_event(self, ns: str, *, kind: str, name: str, reason: str, message: str,
                   type: str = "Warning", count: int = 1, event_name: str = "",
                   last_seen: datetime | None = None) -> dict[str, Any]:
        t = now_iso(last_seen)
        ev_name = event_name or f"{name}.{uuid.uuid4().hex[:16]}"
        existing = self.get("events", ns, ev_name)
        first = existing["firstTimestamp"] if existing else t
        return self.put({
            "kind": "Event",
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": {"kind": kind, "name": name, "namespace": ns,
                               "apiVersion": "v1" if kind in ("Pod", "Node") else "apps/v1"},
            "reason": reason, "message": message, "type": type, "count": count,
            "firstTimestamp": first, "lastTimestamp": t,
            "source": {"component": "kubelet"}, "reportingComponent": "kubelet",
        })

    def append_log(self, ns: str, pod: str, text: str, *, container: str = "app",
                   previous: bool = False, at: datetime | None = None) -> None:
        with self.cond:
            self.logs.setdefault((ns, pod, container, previous), []).append(
                (at or datetime.now(UTC), text)
            )
            self.cond.notify_all()

    def set_pod_metrics(self, ns: str, pod: str, cpu: str, memory: str) -> None:
        with self.cond:
            self.pod_metrics[(ns, pod)] = (cpu, memory)

    def reconcile(self, ns: str, name: str, *, crash: bool = False) -> None:
        """Act as the Deployment controller once: pods and status follow spec.replicas."""
        dep = self.get("deployments", ns, name)
        if dep is None:
            return
        want = int(dep["spec"].get("replicas", 1))
        rss = [r for r in self.items("replicasets", ns)
               if any(o["uid"] == dep["metadata"]["uid"]
                      for o in r["metadata"].get("ownerReferences", []))]
        current = max(rss, key=_revision) if rss else None
        tmpl_labels = {k: v for k, v in dep["spec"]["template"]["metadata"]["labels"].items()}
        cur_labels = ({k: v for k, v in current["spec"]["template"]["metadata"]["labels"].items()
                       if k != "pod-template-hash"} if current else None)
        if current is None or cur_labels != tmpl_labels or \
                current["spec"]["template"]["spec"] != dep["spec"]["template"]["spec"] or \
                current["spec"]["template"]["metadata"].get("annotations") != \
                dep["spec"]["template"]["metadata"].get("annotations"):
            rev = (_revision(current) + 1) if current else 1
            for r in rss:
                self.modify("replicasets", ns, r["metadata"]["name"],
                            lambda o: o["spec"].update(replicas=0))
            current = self.add_replicaset(dep, revision=rev, replicas=want, ready=want)
            self.modify("deployments", ns, name, lambda o: o["metadata"].setdefault(
                "annotations", {}).update({"deployment.kubernetes.io/revision": str(rev)}))
        rs_uid = current["metadata"]["uid"]
        pods = [p for p in self.items("pods", ns)
                if any(o["uid"] in (rs_uid,) for o in p["metadata"].get("ownerReferences", []))]
        old = [p for p in self.items("pods", ns)
               if p["metadata"].get("labels", {}).get("app") == tmpl_labels.get("app")
               and p not in pods]
        for p in old:
            self.delete("pods", ns, p["metadata"]["name"])
        for p in pods[want:]:
            self.delete("pods", ns, p["metadata"]["name"])
        kw: dict[str, Any] = {}
        if crash:
            kw = {"waiting": "CrashLoopBackOff", "restarts": 7, "last_terminated": "Error"}
        if len(pods) < want:
            self.pods_for(ns, name, want - len(pods), **kw)
        self.modify("replicasets", ns, current["metadata"]["name"],
                    lambda o: o["spec"].update(replicas=want))
        self.set_workload_status(ns, name, ready=0 if crash else want)


def _revision(obj: dict[str, Any] | None) -> int:
    if not obj:
        return 0
    return int((obj["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", 0))


def _plural_of(kind: str) -> str:
    for plural, (_, k, _) in RESOURCES.items():
        if k == kind:
            return plural
    raise KeyError(kind)


def _cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    t = now_iso()
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": t, "lastUpdateTime": t}


def _owner(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj.get("apiVersion", "apps/v1"), "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _template(labels: dict[str, str], containers: tuple[str, ...], image: str) -> dict:
    return {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": c, "image": image,
                                     "resources": {"limits": {"memory": "256Mi"}}}
                                    for c in containers],
                     "restartPolicy": "Always"}}


def _node_info() -> dict[str, str]:
    return {"kubeletVersion": "v1.30.0", "kubeProxyVersion": "v1.30.0",
            "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "containerd://1.7.0", "operatingSystem": "linux",
            "architecture": "amd64", "machineID": "x", "systemUUID": "x", "bootID": "x"}


def _waiting_message(reason: str, pod: str, container: str) -> str:
    if reason == "CrashLoopBackOff":
        return f"back-off 5m0s restarting failed container={container} pod={pod}"
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        return 'Back-off pulling image "registry.example/missing:9.9"'
    return ""


# --- HTTP --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    state: K8sState


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return None

    # --- plumbing ------------------------------------------------------------------------

    @property
    def state(self) -> K8sState:
        return self.server.state

    def _send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, reason: str, message: str, **details: Any) -> None:
        self._send_json(code, _status(code, reason, message, details))

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else None

    def _route(self) -> tuple[str, str, str, str, dict[str, str]] | None:
        """(plural, namespace, name, subresource, query) or None for a non-resource path."""
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segs = [unquote(s) for s in parts.path.strip("/").split("/") if s]
        if segs[:2] == ["api", "v1"]:
            rest = segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis":
            rest = segs[3:]
            gv = f"{segs[1]}/{segs[2]}"
            if gv == METRICS_GV:
                q["_metrics"] = "1"
        else:
            return None
        ns = ""
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        return plural, ns, name, sub, q

    def _log_request(self, body: Any = None) -> None:
        with self.state.cond:
            self.state.requests.append({
                "method": self.command,
                "path": urlsplit(self.path).path,
                "query": {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()},
                "content_type": self.headers.get("Content-Type", ""),
                "body": body,
            })

    # --- verbs ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._log_request()
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("/api", "/apis", "/version", "/api/v1", "/apis/apps/v1",
                    f"/apis/{METRICS_GV}"):
            return self._discovery(path)
        r = self._route()
        if r is None:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, q = r
        if q.get("_metrics"):
            return self._metrics(plural, ns, name, q)
        if plural not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        if not name:
            if q.get("watch") in ("true", "1"):
                return self._watch(plural, ns, q)
            return self._list(plural, ns, q)
        if sub == "log":
            return self._log(ns, name, q)
        obj = self.state.get(plural, ns, name)
        if obj is None:
            return self._not_found(plural, name)
        if sub == "scale":
            return self._send_json(200, _scale_of(obj))
        return self._send_json(200, obj)

    def do_PATCH(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, sub, _ = r
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in ("application/strategic-merge-patch+json", "application/merge-patch+json",
                         "application/json-patch+json"):
            return self._error(415, "UnsupportedMediaType",
                               f"the body of the request was in an unknown format - accepted "
                               f"media types include: application/json-patch+json, "
                               f"application/merge-patch+json, "
                               f"application/apply-patch+yaml, "
                               f"application/strategic-merge-patch+json (got {ctype})")
        if self.state.get(plural, ns, name) is None:
            return self._not_found(plural, name)

        def apply(doc: dict[str, Any]) -> dict[str, Any]:
            if ctype == "application/json-patch+json":
                return json_patch(doc, body or [])
            return merge_patch(doc, body or {},
                               strategic=ctype == "application/strategic-merge-patch+json")

        try:
            if sub == "scale":
                def fn(o: dict[str, Any]) -> None:
                    o["spec"]["replicas"] = int(apply(_scale_of(o))["spec"]["replicas"])

                obj = self.state.modify(plural, ns, name, fn)
                return self._send_json(200, _scale_of(obj))

            def fn2(o: dict[str, Any]) -> None:
                new = apply(o)
                o.clear()
                o.update(new)

            before = self.state.get(plural, ns, name)
            obj = self.state.modify(plural, ns, name, fn2)
            if plural in ("statefulsets", "daemonsets") and before is not None and \
                    before["spec"].get("template") != obj["spec"].get("template"):
                # What the StatefulSet / DaemonSet controller does at once for a new template.
                self.state.record_revision(plural, ns, name)
                obj = self.state.get(plural, ns, name) or obj
        except (KeyError, ValueError, IndexError, TypeError) as e:
            return self._error(422, "Invalid", f"patch could not be applied: {e}")
        self._send_json(200, obj)

    def do_DELETE(self) -> None:  # noqa: N802
        body = self._read_body()
        self._log_request(body)
        r = self._route()
        if r is None or not r[2] or r[0] not in RESOURCES:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        plural, ns, name, _, _ = r
        obj = self.state.delete(plural, ns, name)
        if obj is None:
            return self._not_found(plural, name)
        self._send_json(200, obj)

    # --- handlers ------------------------------------------------------------------------

    def _not_found(self, plural: str, name: str) -> None:
        group = RESOURCES.get(plural, ("v1",))[0]
        g = group.split("/")[0] if "/" in group else ""
        what = f"{plural}.{g}" if g else plural
        self._error(404, "NotFound", f'{what} "{name}" not found', name=name, kind=plural,
                    group=g)

    def _discovery(self, path: str) -> None:
        if path == "/version":
            return self._send_json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-double",
                                         "platform": "linux/amd64"})
        if path == "/api":
            return self._send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                         "serverAddressByClientCIDRs": [
                                             {"clientCIDR": "0.0.0.0/0",
                                              "serverAddress": "127.0.0.1:443"}]})
        if path == "/apis":
            groups = [("apps", "v1")] + ([("metrics.k8s.io", "v1beta1")] if self.state.metrics else [])
            return self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                for g, v in groups]})
        if path == f"/apis/{METRICS_GV}":
            if not self.state.metrics:
                return self._error(404, "NotFound", "the server could not find the requested resource")
            return self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                         "groupVersion": METRICS_GV, "resources": [
                {"name": n, "singularName": "", "namespaced": n == "pods", "kind": k,
                 "verbs": ["get", "list"]} for n, k in (("pods", "PodMetrics"),
                                                        ("nodes", "NodeMetrics"))]})
        gv = "v1" if path == "/api/v1" else "apps/v1"
        resources = []
        for plural, (group, kind, namespaced) in RESOURCES.items():
            if group != gv:
                continue
            resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                              "kind": kind, "verbs": ["get", "list", "watch", "patch", "delete"]})
            if plural == "pods":
                resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                  "kind": "Pod", "verbs": ["get"]})
            if plural in ("deployments", "statefulsets", "replicasets"):
                resources.append({"name": f"{plural}/scale", "singularName": "",
                                  "namespaced": True, "kind": "Scale",
                                  "group": "autoscaling", "version": "v1",
                                  "verbs": ["get", "patch", "update"]})
        self._send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                              "resources": resources})

    def _select(self, plural: str, ns: str, q: dict[str, str]) -> list[dict[str, Any]]:
        ls, fs = q.get("labelSelector", ""), q.get("fieldSelector", "")
        st = self.state
        return [
            o for (p, n, _), o in st.objects.items()
            if p == plural and (not ns or n == ns) and _matches_labels(o, ls)
            and (not fs or _matches_fields(o, fs))
        ]

    def _list(self, plural: str, ns: str, q: dict[str, str]) -> None:
        group, kind, _ = RESOURCES[plural]
        st = self.state
        with st.cond:
            st.list_calls[plural] = st.list_calls.get(plural, 0) + 1
            items = self._select(plural, ns, q)
            rv = str(st.rv)
            start = int(q.get("continue") or 0)
            limit = int(q.get("limit") or 0)
            page = items[start:start + limit] if limit else items[start:]
            cont = str(start + limit) if limit and start + limit < len(items) else None
            # Serialise under the lock: objects are replaced, never mutated, outside it.
            meta: dict[str, Any] = {"resourceVersion": rv}
            if cont:
                meta["continue"] = cont
                meta["remainingItemCount"] = len(items) - start - limit
            body = json.dumps({"kind": f"{kind}List", "apiVersion": group, "metadata": meta,
                               "items": page}, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _watch(self, plural: str, ns: str, q: dict[str, str]) -> None:
        st = self.state
        ls, fs = q.get("labelSelector", ""), q.get("fieldSelector", "")
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        deadline = time.monotonic() + timeout
        rv_param = q.get("resourceVersion", "")
        self._start_chunked("application/json")

        def send(etype: str, obj: dict[str, Any]) -> None:
            self._chunk(json.dumps({"type": etype, "object": obj},
                                   separators=(",", ":")).encode() + b"\n")

        try:
            with st.cond:
                drops = st.drops
                if rv_param in ("", "0"):
                    initial = [copy.deepcopy(o) for o in self._select(plural, ns, q)]
                    last = st.rv
                else:
                    last = int(rv_param)
                    initial = []
                    if last < st.floor:
                        gone = _status(410, "Expired",
                                       f"too old resource version: {last} ({st.floor})")
                        send("ERROR", gone)
                        self._end_chunks()
                        return
            for o in initial:
                send("ADDED", o)
            while True:
                with st.cond:
                    batch = [e for e in st.events_since(last)]
                    if not batch:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or st.stopping or st.drops != drops:
                            break
                        st.cond.wait(min(remaining, 1.0))
                        batch = [e for e in st.events_since(last)]
                    if st.drops != drops or st.stopping:
                        break
                for rv, p, n, etype, obj in batch:
                    last = rv
                    if p != plural or (ns and n != ns):
                        continue
                    if not _matches_labels(obj, ls) or (fs and not _matches_fields(obj, fs)):
                        continue
                    send(etype, obj)
                if time.monotonic() >= deadline:
                    break
            if st.drops != drops or st.stopping:
                # A dropped connection ends without the closing chunk, like a cut TCP stream.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if bookmarks:
                send("BOOKMARK", {"kind": RESOURCES[plural][1], "apiVersion": RESOURCES[plural][0],
                                  "metadata": {"resourceVersion": str(last)}})
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _log(self, ns: str, name: str, q: dict[str, str]) -> None:
        st = self.state
        pod = st.get("pods", ns, name)
        if pod is None:
            return self._not_found("pods", name)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = q.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            return self._error(400, "BadRequest",
                               f"a container name must be specified for pod {name}, "
                               f"choose one of: [{' '.join(names)}]")
        if container not in names:
            return self._error(400, "BadRequest",
                               f"container {container} is not valid for pod {name}")
        previous = q.get("previous") in ("true", "1")
        key = (ns, name, container, previous)
        if previous and key not in st.logs:
            return self._error(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{name}" '
                               f"not found")
        follow = q.get("follow") in ("true", "1") and not previous
        stamps = q.get("timestamps") in ("true", "1")
        since = q.get("sinceTime")
        since_t = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        if since_t is None and q.get("sinceSeconds"):
            since_t = datetime.now(UTC) - timedelta(seconds=int(q["sinceSeconds"]))
        tail = int(q["tailLines"]) if q.get("tailLines") else None

        def fmt(t: datetime, text: str) -> bytes:
            prefix = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ ") if stamps else ""
            return (prefix + text + "\n").encode()

        with st.cond:
            lines = list(st.logs.get(key, []))
            drops = st.drops
        sent = len(lines)
        if since_t is not None:
            lines = [ln for ln in lines if ln[0] >= since_t]
        if tail is not None:
            lines = lines[-tail:] if tail else []
        self._start_chunked("text/plain")
        try:
            if lines:
                self._chunk(b"".join(fmt(t, x) for t, x in lines))
            while follow:
                with st.cond:
                    cur = st.logs.get(key, [])
                    if st.drops != drops:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if len(cur) <= sent:
                        if st.stopping or (("pods", ns, name) not in st.objects):
                            break
                        st.cond.wait(1.0)
                        continue
                    new = cur[sent:]
                    sent = len(cur)
                if new:
                    self._chunk(b"".join(fmt(t, x) for t, x in new))
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _metrics(self, plural: str, ns: str, name: str, q: dict[str, str]) -> None:
        st = self.state
        if not st.metrics:
            return self._error(404, "NotFound", "the server could not find the requested resource")
        if plural == "pods":
            items = []
            with st.cond:
                pods = [copy.deepcopy(p) for p in self._select("pods", ns, q)]
            for pod in pods:
                m = pod["metadata"]
                cpu, mem = st.pod_metrics.get((m["namespace"], m["name"]), ("1m", "10Mi"))
                items.append({"metadata": {"name": m["name"], "namespace": m["namespace"],
                                           "labels": m.get("labels", {})},
                              "timestamp": now_iso(), "window": "15s",
                              "containers": [{"name": c["name"],
                                              "usage": {"cpu": cpu, "memory": mem}}
                                             for c in pod["spec"]["containers"]]})
            return self._send_json(200, {"kind": "PodMetricsList", "apiVersion": METRICS_GV,
                                         "metadata": {}, "items": items})
        if plural == "nodes":
            items = [{"metadata": {"name": n["metadata"]["name"]}, "timestamp": now_iso(),
                      "window": "15s", "usage": {"cpu": "250m", "memory": "2Gi"}}
                     for n in self.state.items("nodes")]
            return self._send_json(200, {"kind": "NodeMetricsList", "apiVersion": METRICS_GV,
                                         "metadata": {}, "items": items})
        return self._error(404, "NotFound", "the server could not find the requested resource")


def _scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj["metadata"]
    sel = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"].get("matchLabels", {}).items())
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                         "resourceVersion": m["resourceVersion"],
                         "creationTimestamp": m["creationTimestamp"]},
            "spec": {"replicas": int(obj["spec"].get("replicas", 1))},
            "status": {"replicas": int(obj.get("status", {}).get("replicas", 0)),
                       "selector": sel}}


def start_double(state: K8sState | None = None) -> tuple[str, Callable[[], None], K8sState]:
    """Serve ``state`` on 127.0.0.1 (a free port). Returns (base_url, stop, state)."""
    state = state or K8sState()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="k8s-double", daemon=True)
    thread.start()
    host, port = server.server_address[:2]

    def stop() -> None:
        with state.cond:
            state.stopping = True
            state.cond.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(5)

    return f"http://{host}:{port}", stop, state


def write_kubeconfig(path: Path, base_url: str, context: str = "lab",
                     namespace: str = "default") -> Path:
    """A kubeconfig with one cluster/user/context pointing at ``base_url`` (a bearer token)."""
    import yaml

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": base_url}}],
        "users": [{"name": context, "user": {"token": "lab-double"}}],
        "contexts": [{"name": context,
                      "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


LAB_NAMESPACE = "repo-scanner"
LAB_CONTEXT = "lab-simulated"


def seed_repo_scanner(state: K8sState, *, ns: str = LAB_NAMESPACE) -> None:
    """The lab's namespace: a healthy deployment, a crash-looping one and Warning events."""
    state.add_namespace(ns)
    for i in (1, 2):
        state.add_node(f"lab-node-{i}")
    state.add_deployment(ns, "scanner-api", replicas=3, image="registry.example/scanner-api:2.4.1")
    pods = [state.pods_for(ns, "scanner-api", 1, image="registry.example/scanner-api:2.4.1",
                           node=f"lab-node-{1 + i % 2}")[0] for i in range(3)]
    started = datetime.now(UTC) - timedelta(minutes=5)
    for i, p in enumerate(pods):
        name = p["metadata"]["name"]
        for j in range(5):
            state.append_log(ns, name, f"INFO GET /scan/{1000 + j * 7 + i} 200 {12 + j} ms",
                             at=started + timedelta(seconds=j * 11 + i))
    state.add_deployment(ns, "scanner-worker", replicas=2, ready=0,
                         image="registry.example/scanner-worker:2.5.0")
    crash = state.pods_for(ns, "scanner-worker", 2, waiting="CrashLoopBackOff", restarts=9,
                           last_terminated="OOMKilled", exit_code=137, node="lab-node-2",
                           image="registry.example/scanner-worker:2.5.0")
    for p in crash:
        name = p["metadata"]["name"]
        for line in ("INFO worker starting, concurrency=8",
                     "INFO loading signature database (1.9 GiB)",
                     "ERROR out of memory while mapping signatures"):
            state.append_log(ns, name, line, previous=True, at=started)
        state.append_log(ns, name, "INFO worker starting, concurrency=8")
        state.emit_event(ns, kind="Pod", name=name, reason="BackOff",
                         message=f"Back-off restarting failed container worker in pod {name}",
                         count=42, event_name=f"{name}.backoff")
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
                state.emit_event(ns, kind="Pod", name=name, reason="BackOff",
                                 message=f"Back-off restarting failed container worker in pod {name}",
                                 count=int(ev["count"]) + 1 if ev else 1,
                                 event_name=f"{name}.backoff")


def lab_kubernetes(workdir: Path) -> tuple[Path, str, Callable[[], None]]:
    """Start the double seeded with ``repo-scanner`` and animated; returns
    (kubeconfig path, context name, stop). The context name says "simulated" on screen."""
    url, stop_server, state = start_double(K8sState(metrics=False))
    seed_repo_scanner(state)
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
