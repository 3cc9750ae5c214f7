"""Workloads as Services rows: deployments, statefulsets and daemonsets, their pods and
nodes as rows of their own, and the actions on them (restart, scale, rollback, delete pod).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.context import KubeContext, _load
from cockpit.backends.kubernetes.helm_reader import HelmReleases
from cockpit.backends.kubernetes.history import (
    already_at,
    image_of,
    revision_number,
    rollback_choice,
    selector_string,
    template_patch,
)
from cockpit.backends.kubernetes.history import history as revision_history
from cockpit.backends.kubernetes.informer import Informer
from cockpit.backends.kubernetes.logs import KubernetesLogSource, previous_log_lines
from cockpit.backends.kubernetes.records import (
    HISTORY_KINDS,
    METRICS_PREFIX,
    WORKLOAD_KINDS,
    _event_time,
    _images,
    _meta,
    _revision,
    age,
    last_termination,
    parse_time,
    pod_ready,
    pod_restarts,
    pod_status_text,
    replicaset_deployments,
    selector_matches,
    split_ref,
    workload_status,
)
from cockpit.backends.kubernetes.rest import resource_path
from cockpit.errors import BackendError, CockpitError
from cockpit.k8smodel import NODE_COLUMNS, PodView
from cockpit.model import (
    Alarm,
    DetailSection,
    PaneKind,
    ServiceStatus,
    Severity,
)

if TYPE_CHECKING:
    pass


def pod_view(pod: dict[str, Any], now: datetime | None = None) -> PodView:
    m, st = _meta(pod), pod.get("status") or {}
    return PodView(
        namespace=str(m.get("namespace", "")), name=str(m.get("name", "")),
        status=pod_status_text(pod), ready=pod_ready(pod), restarts=pod_restarts(pod),
        last_termination=last_termination(pod) or "-",
        node=str((pod.get("spec") or {}).get("nodeName") or "-"),
        age=age(parse_time(m.get("creationTimestamp")), now),
        containers=tuple(str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or []),
        terminated=tuple(str(c.get("name", "")) for c in st.get("containerStatuses") or []
                         if (c.get("lastState") or {}).get("terminated")),
    )


class _PodActions:
    """``pod: delete`` for any Kubernetes source, on an alarm-shaped reference to a pod.

    The registry's pod and node actions take an ``Alarm`` whose ``resource`` names the
    object (``NS/pod/NAME``, ``node/NAME``): a real alarm, or one made by ``pod_ref`` /
    ``node_ref`` for a pod or node the user picked on a screen of its own.
    """

    ctx: KubeContext
    id: str
    namespace = ""  # the namespace the source's pod watch covers ("" = all of them)

    @staticmethod
    def pod_of(target: Alarm) -> tuple[str, str]:
        ns, _, rest = target.resource.partition("/")
        kind, _, name = rest.partition("/")
        if kind != "pod" or not name:
            raise BackendError(f"{target.name} does not concern a pod", "choose a pod's alarm")
        return ns, name

    @staticmethod
    def node_of(target: Alarm) -> str:
        kind, _, name = target.resource.partition("/")
        if kind != "node" or not name or "/" in name:
            raise BackendError(f"{target.name} does not concern a node", "choose a node's alarm")
        return name

    def pod_ref(self, namespace: str, pod: str) -> Alarm:
        """A reference to one pod that ``pod: delete`` accepts, owned by this source."""
        return Alarm(name=f"pod {namespace}/{pod}", source=self.id, severity=Severity.UNKNOWN,
                     state="pod", reason="", resource=f"{namespace}/pod/{pod}")

    def node_ref(self, node: str) -> Alarm:
        """A reference to one node that ``node: cordon`` / ``uncordon`` accept."""
        return Alarm(name=f"node {node}", source=self.id, severity=Severity.UNKNOWN,
                     state="node", reason="", resource=f"node/{node}")

    # --- WatchChanges ---------------------------------------------------------------------

    def watch_changes(self, plural: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from the watch's thread) on each change the watch of ``plural``
        (``pods``, ``nodes``) sees: the informer this source reads its pods and nodes from.
        Returns what stops it."""
        informer = self.ctx.informer(plural, "" if plural == "nodes" else self.namespace)

        def listener(*_: Any) -> None:
            callback()

        informer.listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                informer.listeners.remove(listener)

        return stop

    # --- PodDeletable --------------------------------------------------------------------

    def delete_pod_command(self, target: Alarm) -> list[str]:
        ns, name = self.pod_of(target)
        return self.ctx.cli("delete", "pod", name, namespace=ns)

    async def delete_pod(self, target: Alarm) -> str:
        ns, name = self.pod_of(target)

        def call() -> str:
            # The DeleteOptions the official client sent (kubectl's default propagation).
            _load(self.ctx.rest().delete(self.ctx.path("pods", ns, name),
                                         {"propagationPolicy": "Background"}))
            return f'pod "{name}" deleted'

        return await self.ctx.run(f"delete pod {name}", call)

    # --- the crashed container's log -------------------------------------------------------

    def previous_log_command(self, namespace: str, pod: str, container: str) -> list[str]:
        return self.ctx.cli("logs", pod, "-c", container, "--previous", namespace=namespace)

    async def previous_log(self, namespace: str, pod: str, container: str) -> list[str]:
        """``kubectl logs POD -c C --previous``: the last lines of the container's previous run."""
        return await previous_log_lines(self.ctx, namespace, pod, container)


class KubernetesServicesSource(_PodActions, HelmReleases):
    """Deployments, StatefulSets and DaemonSets of one namespace (or all) as services rows.

    Restartable, Scalable, RollbackCapable, DetailProvider and Explainable; PodDeletable for
    the pods of its workloads (``pod_ref``), which a pods screen lists (``workload_pods``);
    HelmRollbackable, with the helm history of a workload in its detail (``HelmReleases``).
    """

    pane = PaneKind.SERVICES

    def __init__(self, ctx: KubeContext, namespace: str) -> None:
        self.ctx = ctx
        self.namespace = namespace
        self.id = f"k8s:{ctx.name}:{namespace or 'all'}"
        self.title = f"k8s {ctx.name}/{namespace or 'all namespaces'}"
        ctx.acquire(self)

    def _informers(self) -> list[Informer]:
        return [self.ctx.informer(p, self.namespace) for p in (*WORKLOAD_KINDS, "events")]

    async def fetch(self) -> list[ServiceStatus]:
        infs = self._informers()
        await self.ctx.ready(infs)
        # ReplicaSets and ControllerRevisions only name a rollback's from -> to revision:
        # wait for their first list, but a missing RBAC grant for them costs no rows.
        with contextlib.suppress(CockpitError):
            await self.ctx.ready([self.ctx.informer(p, self.namespace) for p in HISTORY_KINDS])
        await self.refresh_helm()
        # Off the event loop: building rows from big caches must not stall the UI.
        return await asyncio.to_thread(self.records, infs)

    def records(self, infs: list[Informer]) -> list[ServiceStatus]:
        events_by_obj: dict[tuple[str, str, str], list[tuple[datetime, str]]] = {}
        for e in infs[-1].snapshot():
            obj = e.get("involvedObject") or {}
            when = _event_time(e)
            if when is None or obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
                continue
            k = (str(obj.get("namespace") or ""), str(obj["kind"]).lower(), str(obj.get("name")))
            events_by_obj.setdefault(k, []).append(
                (when, f"{e.get('type', '')} {e.get('reason', '')}: {e.get('message', '')}"))
        rows = []
        for inf in infs[:-1]:
            for o in inf.snapshot():
                m = _meta(o)
                evs = sorted(events_by_obj.get((m.get("namespace", ""), WORKLOAD_KINDS[inf.plural],
                                                m.get("name", "")), []), reverse=True)
                rows.append(workload_status(inf.plural, o, source=self.id, events=evs,
                                            estate=self.ctx.estate))
        rows.sort(key=lambda r: (r.cluster, r.name))
        return rows

    def explain_command(self) -> list[str]:
        ns = ["-n", self.namespace] if self.namespace else ["-A"]
        return self.ctx.cli("get", "deployments,statefulsets,daemonsets", *ns, "-o", "wide")

    def _ns(self, target: ServiceStatus) -> str:
        return target.cluster or self.namespace or "default"

    # --- Restartable -------------------------------------------------------------------

    def restart_command(self, target: ServiceStatus) -> list[str]:
        split_ref(target.name)
        return self.ctx.cli("rollout", "restart", target.name, namespace=self._ns(target))

    async def restart(self, target: ServiceStatus) -> str:
        plural, name = split_ref(target.name)
        ns = self._ns(target)
        # What kubectl rollout restart sends: a pod-template annotation, so a new rollout starts.
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": stamp}}}}}

        def call() -> str:
            _load(self.ctx.rest().patch(self.ctx.path(plural, ns, name), body,
                                        "application/strategic-merge-patch+json"))
            return f"{target.name} restarted (rollout started at {stamp})"

        return await self.ctx.run(f"restart {target.name}", call)

    # --- Scalable ----------------------------------------------------------------------

    def scale_command(self, target: ServiceStatus, desired: int) -> list[str]:
        plural, _ = split_ref(target.name)
        if plural == "daemonsets":
            raise BackendError(f"{target.name} cannot be scaled",
                               "a DaemonSet runs one pod per matching node")
        return self.ctx.cli("scale", target.name, f"--replicas={desired}", namespace=self._ns(target))

    async def scale(self, target: ServiceStatus, desired: int) -> str:
        self.scale_command(target, desired)
        plural, name = split_ref(target.name)
        if desired < 0:
            raise BackendError(f"cannot scale {target.name} to {desired}", "use a count >= 0")
        ns = self._ns(target)

        def call() -> str:
            # kubectl scale sends a merge patch to the scale subresource.
            _load(self.ctx.rest().patch(self.ctx.path(plural, ns, name, "scale"),
                                        {"spec": {"replicas": desired}},
                                        "application/merge-patch+json"))
            return f"{target.name}: replicas {target.desired} -> {desired}"

        return await self.ctx.run(f"scale {target.name}", call)

    # --- RollbackCapable ---------------------------------------------------------------

    def rollback_command(self, target: ServiceStatus) -> list[str]:
        split_ref(target.name)
        return self.ctx.cli("rollout", "undo", target.name, namespace=self._ns(target))

    def revision_change(self, target: ServiceStatus, to: str | None = None) -> dict[str, str]:
        """``{"from": "revision 3 (api:2)", "to": "revision 2 (api:1)"}`` for a rollback's
        confirmation, from the watch caches; empty when they do not know (yet). A rollback
        goes to the previous revision: ``to`` is for backends that deploy a chosen one."""
        try:
            return self._revision_change(target)
        except CockpitError:
            return {}

    def _revision_change(self, target: ServiceStatus) -> dict[str, str]:
        plural, name = split_ref(target.name)
        ns = self._ns(target)
        wl_inf = self.ctx.informer(plural, self.namespace)
        with wl_inf.lock:
            wl = wl_inf.items.get(f"{ns}/{name}")
        if wl is None:
            return {}
        if plural == "deployments":
            rss = self.ctx.informer("replicasets", self.namespace)
            if not rss.synced.is_set():
                return {}
            uid = _meta(wl).get("uid")
            own = sorted((r for r in rss.snapshot() if _meta(r).get("namespace") == ns and any(
                o.get("uid") == uid for o in _meta(r).get("ownerReferences") or [])),
                key=_revision, reverse=True)
            current = _revision(wl)
            previous = next((r for r in own if _revision(r) < current), None)
            if previous is None:
                return {"from": f"revision {current} ({_images(wl)})"}  # no "to": nothing to roll back to
            return {"from": f"revision {current} ({_images(wl)})",
                    "to": f"revision {_revision(previous)} ({_images(previous)})"}
        crs = self.ctx.informer("controllerrevisions", self.namespace)
        if not crs.synced.is_set():
            return {}
        try:
            cur, prev = rollback_choice(target.name, wl, [r for r in crs.snapshot()
                                                          if _meta(r).get("namespace") == ns])
        except CockpitError:
            return {"from": f"current ({_images(wl)})"}
        to = f"revision {revision_number(prev)} ({image_of(prev.get('data') or {})})"
        return {"from": f"revision {revision_number(cur)} ({image_of(cur.get('data') or {})})",
                "to": to + (" — already running it: nothing to do" if already_at(wl, prev) else "")}

    def _history_rollback(self, plural: str, name: str, ns: str) -> str:
        """``kubectl rollout undo`` of a StatefulSet / DaemonSet: PATCH the previous revision's data."""
        rest, path = self.ctx.rest(), self.ctx.path
        ref = f"{WORKLOAD_KINDS[plural]}/{name}"
        wl = _load(rest.get(path(plural, ns, name)))
        crs = _load(rest.get(path("controllerrevisions", ns), {
            "labelSelector": selector_string((wl.get("spec") or {}).get("selector"))}))["items"]
        current, previous = rollback_choice(ref, wl, crs)
        to = revision_number(previous)
        if already_at(wl, previous):
            return f"{ref}: skipped rollback (current template already matches revision {to})"
        # The revision's data verbatim, as a strategic merge: kubectl sends nothing else.
        _load(rest.patch(path(plural, ns, name), previous.get("data") or {},
                         "application/strategic-merge-patch+json"))
        return f"{ref}: rolled back from revision {revision_number(current)} to {to}"

    def _rollback_patch(self, name: str, ns: str) -> tuple[list[dict[str, Any]], int, int]:
        """What ``kubectl rollout undo`` computes: the previous ReplicaSet's template."""
        rest, path = self.ctx.rest(), self.ctx.path
        dep = _load(rest.get(path("deployments", ns, name)))
        sel = dep["spec"]["selector"].get("matchLabels") or {}
        rss = _load(rest.get(path("replicasets", ns), {
            "labelSelector": ",".join(f"{k}={v}" for k, v in sel.items())}))["items"]
        uid = _meta(dep).get("uid")
        own = sorted((r for r in rss if any(o.get("uid") == uid for o in _meta(r).get("ownerReferences") or [])),
                     key=_revision, reverse=True)
        current = _revision(dep)
        previous = next((r for r in own if _revision(r) < current), None) if current else (
            own[1] if len(own) > 1 else None)
        if previous is None:
            raise BackendError(f"deployment/{name} has no previous revision to roll back to",
                               "deploy a fixed image instead")
        template = json.loads(json.dumps(previous["spec"]["template"]))
        (template.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
        skip = {"kubectl.kubernetes.io/last-applied-configuration",
                "deployment.kubernetes.io/revision", "deployment.kubernetes.io/revision-history",
                "deployment.kubernetes.io/desired-replicas", "deployment.kubernetes.io/max-replicas",
                "deprecated.deployment.rollback.to"}
        dep_ann = _meta(dep).get("annotations") or {}
        annotations = {k: v for k, v in dep_ann.items() if k in skip}
        annotations.update({k: v for k, v in (_meta(previous).get("annotations") or {}).items()
                            if k not in skip})
        patch = [{"op": "replace", "path": "/spec/template", "value": template},
                 {"op": "replace", "path": "/metadata/annotations", "value": annotations}]
        return patch, current, _revision(previous)

    async def rollback(self, target: ServiceStatus) -> str:
        self.rollback_command(target)
        plural, name = split_ref(target.name)
        ns = self._ns(target)
        if plural != "deployments":
            return await self.ctx.run(f"roll back {target.name}", self._history_rollback,
                                      plural, name, ns)

        def call() -> str:
            patch, current, previous = self._rollback_patch(name, ns)
            _load(self.ctx.rest().patch(self.ctx.path("deployments", ns, name), patch,
                                        "application/json-patch+json"))
            return f"{target.name}: rolled back from revision {current} to {previous}"

        return await self.ctx.run(f"roll back {target.name}", call)

    # --- DetailProvider ----------------------------------------------------------------

    async def detail(self, record: Any) -> Sequence[DetailSection]:
        if not isinstance(record, ServiceStatus):
            return []
        plural, _name = split_ref(record.name)
        ns = self._ns(record)
        wl, pods = await self._workload_and_pods(record)
        if wl is None:
            return [DetailSection("pods", lines=(f"{record.name} no longer exists in {ns}",))]
        metrics, note = await self._pod_metrics(ns)
        sections = [pods_section(pods, metrics, note)]
        if plural == "deployments":
            try:
                rss = await self.ctx.run("list replicasets", lambda: _load(
                    self.ctx.rest().get(self.ctx.path("replicasets", ns)))["items"])
                revs = replicaset_deployments(wl, rss)
                sections.append(DetailSection(
                    "revisions (kubectl rollout history)",
                    ("revision", "state", "image", "desired", "ready", "age"),
                    tuple((d.id, d.status, d.task_definition, str(d.desired), str(d.running),
                           age(d.created_at)) for d in revs)))
            except CockpitError as e:
                sections.append(DetailSection("revisions", lines=(str(e),)))
        else:
            crs = self.ctx.informer("controllerrevisions", self.namespace)
            if crs.synced.is_set():
                own = revision_history(wl, [r for r in crs.snapshot() if _meta(r).get("namespace") == ns])
                current = template_patch(wl)
                sections.append(DetailSection(
                    "revisions (kubectl rollout history)", ("revision", "state", "image", "name", "age"),
                    tuple((str(revision_number(r)),
                           "CURRENT" if r.get("data") == current else "-",
                           image_of(r.get("data") or {}), str(_meta(r).get("name", "")),
                           age(parse_time(_meta(r).get("creationTimestamp"))))
                          for r in reversed(own))))
        helm = await self.helm_section(record)
        if helm is not None:
            sections.append(helm)
        return sections

    def log_source(self, target: ServiceStatus, container: str | None = None) -> KubernetesLogSource:
        """A stern-like follower of one workload's pods (for a "follow this service" view)."""
        split_ref(target.name)
        return KubernetesLogSource(self.ctx, self._ns(target), workload=target.name,
                                   container=container)

    async def _workload_and_pods(self, record: ServiceStatus) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        plural, name = split_ref(record.name)
        ns = self._ns(record)
        wl_inf = self.ctx.informer(plural, self.namespace)
        pods_inf = self.ctx.informer("pods", self.namespace)
        await self.ctx.ready([wl_inf, pods_inf])
        with wl_inf.lock:
            wl = wl_inf.items.get(f"{ns}/{name}")
        if wl is None:
            return None, []
        selector = (wl.get("spec") or {}).get("selector")
        return wl, [p for p in pods_inf.snapshot()
                    if _meta(p).get("namespace") == ns and selector_matches(selector, _meta(p).get("labels"))]

    async def workload_pods(self, record: ServiceStatus) -> list[PodView]:
        """The workload's pods now (from the pod watch), sorted by name."""
        _, pods = await self._workload_and_pods(record)
        now = datetime.now(UTC)
        return sorted((pod_view(p, now) for p in pods), key=lambda v: v.name)

    async def workload_containers(self, record: ServiceStatus) -> list[str]:
        """Container names of the workload's pod template (what a log follower can choose)."""
        wl, _ = await self._workload_and_pods(record)
        if wl is None:
            raise BackendError(f"{record.name} no longer exists", "refresh")
        spec = ((wl.get("spec") or {}).get("template") or {}).get("spec") or {}
        return [str(c.get("name", "")) for c in spec.get("containers") or []]

    async def _pod_metrics(self, ns: str) -> tuple[dict[str, tuple[str, str]], str]:
        return await pod_metrics(self.ctx, ns)

    async def close(self) -> None:
        await self.ctx.release(self)


async def pod_metrics(ctx: KubeContext, ns: str) -> tuple[dict[str, tuple[str, str]], str]:
    """{pod: (cpu, memory)} from metrics.k8s.io, or ({}, why there are none)."""

    def call() -> dict[str, tuple[str, str]]:
        body = _load(ctx.rest().get(resource_path(METRICS_PREFIX, "pods", ns), timeout=(5, 10)))
        out = {}
        for it in body.get("items") or []:
            usage = [c.get("usage") or {} for c in it.get("containers") or []]
            out[_meta(it).get("name", "")] = (
                "+".join(str(u.get("cpu", "?")) for u in usage),
                "+".join(str(u.get("memory", "?")) for u in usage),
            )
        return out

    try:
        return await ctx.run("pod metrics", call), ""
    except CockpitError as e:
        if "not found" in e.message or "HTTP 503" in e.message:
            return {}, "metrics-server not installed"
        return {}, f"metrics unavailable: {e.message}"


def pods_section(pods: Sequence[dict[str, Any]], metrics: dict[str, tuple[str, str]] | None = None,
                 note: str = "", now: datetime | None = None) -> DetailSection:
    """The pods of a workload as ``kubectl get pods -o wide`` shows them, plus metrics."""
    metrics = metrics or {}
    rows = []
    for p in sorted(pods, key=lambda p: _meta(p).get("name", "")):
        m = _meta(p)
        cpu, mem = metrics.get(m.get("name", ""), (note or "-", note or "-"))
        rows.append((
            str(m.get("name", "")), pod_status_text(p), pod_ready(p), str(pod_restarts(p)),
            last_termination(p) or "-", str((p.get("spec") or {}).get("nodeName") or "-"),
            age(parse_time(m.get("creationTimestamp")), now), cpu, mem,
        ))
    return DetailSection(
        f"pods ({len(rows)})",
        ("pod", "status", "ready", "restarts", "last termination", "node", "age", "cpu", "memory"),
        tuple(rows),
    )


def nodes_section(nodes: Sequence[dict[str, Any]], metrics: dict[str, tuple[str, str]] | None = None,
                  note: str = "") -> DetailSection:
    """Nodes: Ready, pressure conditions, cordoned, version, age, usage."""
    metrics = metrics or {}
    rows = []
    for n in sorted(nodes, key=lambda n: _meta(n).get("name", "")):
        m, st = _meta(n), n.get("status") or {}
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        pressure = [t for t in ("MemoryPressure", "DiskPressure", "PIDPressure") if conds.get(t) == "True"]
        cpu, mem = metrics.get(m.get("name", ""), (note or "-", note or "-"))
        rows.append((
            str(m.get("name", "")), "Ready" if conds.get("Ready") == "True" else "NotReady",
            ",".join(pressure) or "-",
            "cordoned" if (n.get("spec") or {}).get("unschedulable") else "-",
            str((st.get("nodeInfo") or {}).get("kubeletVersion", "")),
            age(parse_time(m.get("creationTimestamp"))), cpu, mem,
        ))
    return DetailSection(f"nodes ({len(rows)})", NODE_COLUMNS, tuple(rows))


