"""The lab's Deployment and ReplicaSet controllers, so the double behaves like a cluster to
kubectl and the cockpit: a new pod template makes a new ReplicaSet (or revives an old one, as
``rollout undo`` needs), pods are replaced within maxSurge / maxUnavailable, scale creates and
deletes pods, a deleted pod comes back, and status (observedGeneration, ready counts,
conditions) follows the pods.

It is opt-in (``start_controller``): the tests' double keeps "status changes only when a test
says so". A pass runs under the store's lock, so each is atomic; the thread runs one on every
write and on a short tick, which is also how a new pod becomes ready ``pod_start`` seconds
after it was created.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from cockpit.lab.k8s.builders import _cond, _owner, _revision
from cockpit.lab.k8s.store import K8sState

REVISION = "deployment.kubernetes.io/revision"


def _prune(v: Any) -> Any:
    """Drop empty maps, lists and nulls: the API server's semantic equality treats an
    absent map and an empty one alike."""
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [])}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def same_template(rs: dict[str, Any], template: dict[str, Any]) -> bool:
    t = copy.deepcopy(rs["spec"]["template"])
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    return _prune(t) == _prune(template)


def _resolve(value: Any, desired: int, *, up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        x = desired * int(value[:-1]) / 100
        return math.ceil(x) if up else math.floor(x)
    return int(value or 0)


def limits(dep: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods, rounded as the controller rounds them."""
    desired = int(dep["spec"].get("replicas", 1))
    ru = (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = _resolve(ru.get("maxSurge", "25%"), desired, up=True)
    unavailable = _resolve(ru.get("maxUnavailable", "25%"), desired, up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _ready(pod: dict[str, Any]) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and all(
        c.get("ready") for c in st.get("containerStatuses") or [{}])


def _owned(items: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    uid = owner["metadata"]["uid"]
    return [o for o in items
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])]


class DeploymentController:
    """Reconciles every Deployment and its ReplicaSets' pods; see the module docstring."""

    def __init__(self, state: K8sState, *, pod_start: float = 0.5, tick: float = 0.2) -> None:
        self.state = state
        self.pod_start = pod_start
        self.tick = tick
        self.starting: dict[tuple[str, str], float] = {}  # pod -> when it becomes ready
        self.crashing: dict[str, list[str]] = {}  # image -> its last words (a crash loop)
        self._node = 0

    # --- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        st = self.state
        seen = -1
        while not st.stopping:
            with st.cond:
                if st.rv == seen:
                    st.cond.wait(self.tick)
                if st.stopping:
                    return
                self.sync_all()
                seen = st.rv

    def sync_all(self) -> bool:
        """Reconcile until nothing changes (a few rounds); True when anything did."""
        changed = False
        with self.state.cond:
            for _ in range(8):
                before = self.state.rv
                for dep in self.state.items("deployments"):
                    self.sync(dep)
                self.collect_garbage()
                if self.state.rv == before:
                    break
                changed = True
        return changed

    def collect_garbage(self) -> None:
        """The garbage collector: what a deleted owner owned goes too (background deletion,
        kubectl's default), ReplicaSets before their pods."""
        st = self.state
        for plural in ("replicasets", "controllerrevisions", "pods"):
            uids = {o["metadata"]["uid"] for o in st.objects.values()}
            for o in st.items(plural):
                owners = o["metadata"].get("ownerReferences") or []
                if owners and not any(r.get("uid") in uids for r in owners):
                    st.delete(plural, o["metadata"]["namespace"], o["metadata"]["name"])
                    self.starting.pop((o["metadata"]["namespace"], o["metadata"]["name"]), None)

    # --- one deployment ------------------------------------------------------------------

    def sync(self, dep: dict[str, Any]) -> None:
        st = self.state
        ns = dep["metadata"]["namespace"]
        rss = sorted(_owned(st.items("replicasets", ns), dep), key=_revision)
        top = _revision(rss[-1]) if rss else 0
        new = next((r for r in rss if same_template(r, dep["spec"]["template"])), None)
        if new is None:
            new = self._new_replicaset(dep, top + 1, rss)
            rss.append(new)
        elif _revision(new) < top:  # an older template again (rollout undo): newest revision
            new = self._annotate("replicasets", new, {REVISION: str(top + 1)})
            rss = [new if r["metadata"]["uid"] == new["metadata"]["uid"] else r for r in rss]
        if (dep["metadata"].get("annotations") or {}).get(REVISION) != str(_revision(new)):
            dep = self._annotate("deployments", dep, {REVISION: str(_revision(new))})
        olds = [r for r in rss if r["metadata"]["uid"] != new["metadata"]["uid"]]
        pods = {r["metadata"]["uid"]: self._sync_pods(r) for r in rss}
        self._scale(dep, new, olds, pods)
        for r in rss:  # the ReplicaSet controller: pods follow each one's spec.replicas
            cur = st.get("replicasets", ns, r["metadata"]["name"])
            if cur is not None:
                pods[r["metadata"]["uid"]] = self._sync_pods(cur)
        self._status(dep, new, olds, pods)

    def _scale(self, dep: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]],
               pods: dict[str, list[dict[str, Any]]]) -> None:
        """The rolling update: scale the new ReplicaSet up within maxSurge, the old ones down
        within maxUnavailable (unhealthy old pods first)."""
        desired = int(dep["spec"].get("replicas", 1))
        surge, unavailable = limits(dep)

        def want(r: dict[str, Any]) -> int:
            return int(r["spec"].get("replicas", 0))

        def ready(r: dict[str, Any]) -> int:
            return sum(1 for p in pods[r["metadata"]["uid"]] if _ready(p))

        live_olds = [r for r in olds if want(r) > 0]
        if not live_olds or (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
            for r in live_olds:
                self._set_replicas(r, 0)
            if not any(pods[r["metadata"]["uid"]] for r in olds) and want(new) != desired:
                self._set_replicas(new, desired)
            return
        total = want(new) + sum(want(r) for r in live_olds)
        up = min(desired + surge - total, desired - want(new))
        if up > 0:
            self._set_replicas(new, want(new) + up)
            total += up
        all_pods = sum(len(v) for v in pods.values())
        min_available = desired - unavailable
        new_unavailable = want(new) - ready(new)
        room = all_pods - min_available - new_unavailable
        for r in sorted(live_olds, key=_revision):  # unhealthy old pods cost no availability
            cut = min(room, want(r) - ready(r))
            if cut > 0:
                self._set_replicas(r, want(r) - cut)
                r["spec"]["replicas"] = want(r) - cut  # the second loop reads it
                room -= cut
        available = sum(ready(r) for r in [new, *olds])
        room = min(room, available - min_available)
        for r in sorted(live_olds, key=_revision):
            cut = min(room, want(r))
            if cut > 0:
                self._set_replicas(r, want(r) - cut)
                room -= cut

    def _status(self, dep: dict[str, Any], new: dict[str, Any], olds: list[dict[str, Any]],
                pods: dict[str, list[dict[str, Any]]]) -> None:
        st = self.state
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        cur = st.get("deployments", ns, name)
        if cur is None:
            return
        desired = int(cur["spec"].get("replicas", 1))
        _, unavailable = limits(cur)
        every = [p for v in pods.values() for p in v]
        updated = len(pods[new["metadata"]["uid"]])
        ready = sum(1 for p in every if _ready(p))
        old = cur.get("status") or {}
        conds = {c["type"]: c for c in old.get("conditions") or []}
        rs_name = new["metadata"]["name"]
        complete = updated == desired and len(every) == desired and ready == desired
        avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") \
            if ready >= desired - unavailable else \
            ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        progressed = (updated, ready) != (old.get("updatedReplicas"), old.get("readyReplicas")) \
            or old.get("observedGeneration") != cur["metadata"].get("generation")
        prev = conds.get("Progressing")
        if complete:
            prog = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif progressed or prev is None:
            prog = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        elif prev.get("reason") == "ReplicaSetUpdated" and _age(prev) > int(
                cur["spec"].get("progressDeadlineSeconds", 600)):
            prog = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.')
        else:
            prog = (prev["status"], prev["reason"], prev["message"])
        status = {
            "observedGeneration": cur["metadata"].get("generation", 1),
            "replicas": len(every), "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": ready, "unavailableReplicas": max(0, desired - ready),
            "conditions": [_keep(conds.get("Available"), "Available", *avail),
                           _keep(prev, "Progressing", *prog, touch=progressed)],
        }
        if status != old:
            st.modify("deployments", ns, name, lambda o: o.update(status=status))

    # --- replica sets and pods -----------------------------------------------------------

    def _new_replicaset(self, dep: dict[str, Any], revision: int,
                        olds: list[dict[str, Any]]) -> dict[str, Any]:
        template = copy.deepcopy(dep["spec"]["template"])
        h = hashlib.sha256(json.dumps(_prune(template), sort_keys=True).encode()).hexdigest()[:10]
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
        sel = {**dep["spec"]["selector"].get("matchLabels", {}), "pod-template-hash": h}
        name = dep["metadata"]["name"]
        # The first ReplicaSet of a deployment starts at full size; a later one grows as the
        # rolling update allows.
        replicas = 0 if any(int(r["spec"].get("replicas", 0)) for r in olds) else \
            int(dep["spec"].get("replicas", 1))
        rs = self.state.put({
            "kind": "ReplicaSet",
            "metadata": {"name": f"{name}-{h}", "namespace": dep["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {REVISION: str(revision),
                                         "deployment.kubernetes.io/desired-replicas":
                                             str(dep["spec"].get("replicas", 1))},
                         "ownerReferences": [_owner(dep)]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": sel},
                     "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        })
        self._event(dep, "ScalingReplicaSet", f"Scaled up replica set {rs['metadata']['name']} "
                                              f"to {replicas}")
        return rs

    def _annotate(self, plural: str, obj: dict[str, Any], ann: dict[str, str]) -> dict[str, Any]:
        return self.state.modify(plural, obj["metadata"]["namespace"], obj["metadata"]["name"],
                                 lambda o: o["metadata"].setdefault("annotations", {}).update(ann))

    def _set_replicas(self, rs: dict[str, Any], n: int) -> None:
        was = int(rs["spec"].get("replicas", 0))
        if was == n:
            return
        self.state.modify("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"],
                          lambda o: o["spec"].update(replicas=n))
        dep = next((r for r in rs["metadata"].get("ownerReferences") or []), None)
        if dep is not None:
            owner = self.state.get("deployments", rs["metadata"]["namespace"], dep["name"])
            if owner is not None:
                verb = "up" if n > was else "down"
                self._event(owner, "ScalingReplicaSet",
                            f"Scaled {verb} replica set {rs['metadata']['name']} to {n}")

    def _sync_pods(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        """Start, promote and delete the ReplicaSet's pods; returns them as they now are."""
        st = self.state
        ns = rs["metadata"]["namespace"]
        pods = _owned(st.items("pods", ns), rs)
        now = time.monotonic()
        for i, p in enumerate(pods):
            key = (ns, p["metadata"]["name"])
            if key in self.starting and self.starting[key] <= now:
                del self.starting[key]
                pods[i] = self._promote(rs, p)
        want = int(rs["spec"].get("replicas", 0))
        # Not-ready pods go first, then the newest: what the ReplicaSet controller prefers.
        pods.sort(key=lambda p: (_ready(p), p["metadata"].get("creationTimestamp", "")),
                  reverse=True)
        while len(pods) > want:
            gone = pods.pop()
            st.delete("pods", ns, gone["metadata"]["name"])
            self.starting.pop((ns, gone["metadata"]["name"]), None)
        while len(pods) < want:
            pods.append(self._spawn(rs, "Pending"))
        rs_status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                     "readyReplicas": sum(1 for p in pods if _ready(p)),
                     "availableReplicas": sum(1 for p in pods if _ready(p)),
                     "observedGeneration": rs["metadata"].get("generation", 1)}
        if rs.get("status") != rs_status:
            st.modify("replicasets", ns, rs["metadata"]["name"], lambda o: o.update(status=rs_status))
        return pods

    def _spawn(self, rs: dict[str, Any], phase: str, name: str = "", **kw: Any) -> dict[str, Any]:
        ns = rs["metadata"]["namespace"]
        spec = rs["spec"]["template"]["spec"]
        name = name or f"{rs['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        if phase == "Pending":
            self.starting[(ns, name)] = time.monotonic() + self.pod_start
        return self.state.add_pod(
            ns, name, labels=rs["spec"]["template"]["metadata"].get("labels") or {}, owner=rs,
            phase=phase, node=kw.pop("node", "") or self._pick_node(),
            containers=tuple(c["name"] for c in spec["containers"]),
            image=spec["containers"][0].get("image", ""), **kw)

    def _promote(self, rs: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
        """A started pod: running and ready, or crash-looping when its image crashes."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        image = rs["spec"]["template"]["spec"]["containers"][0].get("image", "")
        node = pod["spec"].get("nodeName") or ""
        if image in self.crashing:
            container = rs["spec"]["template"]["spec"]["containers"][0]["name"]
            for line in self.crashing[image]:
                self.state.append_log(ns, name, line, container=container, previous=True)
            return self._spawn(rs, "Running", name, node=node, waiting="CrashLoopBackOff",
                               restarts=1, last_terminated="Error")
        self.state.append_log(ns, name, f"INFO {image.rsplit('/', 1)[-1]} started")
        return self._spawn(rs, "Running", name, node=node)

    def _pick_node(self) -> str:
        nodes = [n["metadata"]["name"] for n in self.state.items("nodes")
                 if not (n.get("spec") or {}).get("unschedulable")]
        if not nodes:
            return "node-1"
        self._node += 1
        return sorted(nodes)[self._node % len(nodes)]

    def _event(self, dep: dict[str, Any], reason: str, message: str) -> None:
        self.state.emit_event(dep["metadata"]["namespace"], kind="Deployment",
                              name=dep["metadata"]["name"], reason=reason, message=message,
                              type="Normal", component="deployment-controller")


def _age(cond: dict[str, Any]) -> float:
    t = cond.get("lastUpdateTime") or cond.get("lastTransitionTime")
    if not t:
        return 0.0
    return (datetime.now(UTC) - datetime.fromisoformat(t.replace("Z", "+00:00"))).total_seconds()


def _keep(prev: dict[str, Any] | None, type_: str, status: str, reason: str, message: str, *,
          touch: bool = False) -> dict[str, Any]:
    """A condition that keeps its times while nothing about it changes (so status is stable)."""
    new = _cond(type_, status, reason, message)
    if prev is not None and (prev.get("status"), prev.get("reason"), prev.get("message")) == \
            (status, reason, message):
        new["lastTransitionTime"] = prev.get("lastTransitionTime", new["lastTransitionTime"])
        if not touch:
            new["lastUpdateTime"] = prev.get("lastUpdateTime", new["lastUpdateTime"])
    elif prev is not None and prev.get("status") == status:
        new["lastTransitionTime"] = prev.get("lastTransitionTime", new["lastTransitionTime"])
    return new


def start_controller(state: K8sState, *, pod_start: float = 0.5, tick: float = 0.2,
                     crashing: dict[str, list[str]] | None = None) -> DeploymentController:
    """Run a DeploymentController on ``state`` in a daemon thread until the double stops."""
    ctl = DeploymentController(state, pod_start=pod_start, tick=tick)
    ctl.crashing.update(crashing or {})
    ctl.sync_all()
    threading.Thread(target=ctl.run, name="k8s-lab-controller", daemon=True).start()
    return ctl
