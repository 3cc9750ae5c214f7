"""The double's state: objects by kind, namespace and name, with resourceVersions, a watch
history for resuming, logs of containers, and the operations tests and the lab use to act
as controllers (``set_workload_status``, ``reconcile``, ``pods_for``).
"""

from __future__ import annotations

import bisect
import copy
import json
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cockpit.lab.k8s.builders import (
    HISTORY,
    RESOURCES,
    _cond,
    _node_info,
    _owner,
    _plural_of,
    _revision,
    _template,
    _waiting_message,
    now_iso,
)


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

    def put(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Create or replace an object (kind decides the resource); returns the stored copy
        (with ``dry_run``, the copy that would be stored: nothing changes)."""
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
            if dry_run:
                meta["resourceVersion"] = str(self.rv)
                return obj
            meta["resourceVersion"] = self._bump()
            self.objects[key] = obj
            self._record("MODIFIED" if old is not None else "ADDED", plural, obj)
            return copy.deepcopy(obj)

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.cond:
            obj = self.objects.get((plural, ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def modify(self, plural: str, ns: str, name: str, fn: Callable[[dict[str, Any]], Any], *,
               dry_run: bool = False) -> dict:
        """Change an object in place with ``fn(obj)``; bumps its resourceVersion. With
        ``dry_run``, returns what the change would give and stores nothing."""
        with self.cond:
            obj = self.objects[(plural, ns, name)]
            if dry_run:
                obj = copy.deepcopy(obj)
            old_spec = copy.deepcopy(obj.get("spec"))
            fn(obj)
            if obj.get("spec") != old_spec:
                obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            if dry_run:
                return obj
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
                       "podIP": f"10.244.{1 + zlib.crc32(name.encode()) % 250}.9" if running else None,
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
                   last_seen: datetime | None = None, field_path: str = "",
                   component: str = "kubelet") -> dict[str, Any]:
        t = now_iso(last_seen)
        ev_name = event_name or f"{name}.{uuid.uuid4().hex[:16]}"
        existing = self.get("events", ns, ev_name)
        # kubectl describe finds an object's events by its uid too.
        try:
            target = self.get(_plural_of(kind), "" if kind in ("Node", "Namespace") else ns, name)
        except KeyError:  # a kind the double does not store
            target = None
        uid = {"uid": target["metadata"]["uid"]} if target else {}
        first = existing["firstTimestamp"] if existing else t
        return self.put({
            "kind": "Event",
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": {"kind": kind, "name": name, "namespace": ns, **uid,
                               "apiVersion": "v1" if kind in ("Pod", "Node") else "apps/v1",
                               **({"fieldPath": field_path} if field_path else {})},
            "reason": reason, "message": message, "type": type, "count": count,
            "firstTimestamp": first, "lastTimestamp": t,
            "source": {"component": component}, "reportingComponent": component,
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
