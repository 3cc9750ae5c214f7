"""Pod, node, rollout and Warning-event alarms of a context's namespaces; a pod's containers
and its previous log for the detail view.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.context import KubeContext, _load
from cockpit.backends.kubernetes.informer import Informer
from cockpit.backends.kubernetes.logs import previous_log_lines
from cockpit.backends.kubernetes.records import (
    METRICS_PREFIX,
    WORKLOAD_KINDS,
    _meta,
    event_alarms,
    node_alarms,
    parse_time,
    pod_alarms,
    rollout_state,
)
from cockpit.backends.kubernetes.rest import resource_path
from cockpit.backends.kubernetes.workloads import (
    _PodActions,
    nodes_section,
    pod_metrics,
    pods_section,
)
from cockpit.errors import CockpitError
from cockpit.model import (
    Alarm,
    DetailSection,
    PaneKind,
    Severity,
)

if TYPE_CHECKING:
    pass


class KubernetesAlarmsSource(_PodActions):
    """Pod, node, rollout and Warning-event alarms of a context's namespaces.

    Also offers ``pod: delete`` and ``node: cordon`` / ``uncordon`` on the alarm's object,
    the pod's detail (with the previous container's log for a crash) and a nodes view.
    """

    pane = PaneKind.ALARMS

    def __init__(self, ctx: KubeContext, namespaces: Sequence[str]) -> None:
        self.ctx = ctx
        self.namespaces = tuple(namespaces) or ("",)
        self.id = f"k8s:{ctx.name}:alarms"
        self.title = f"k8s {ctx.name} alarms"
        self.node_error: CockpitError | None = None
        ctx.acquire(self)

    async def fetch(self) -> list[Alarm]:
        per_ns = [[self.ctx.informer(p, ns) for p in ("pods", "events", *WORKLOAD_KINDS)]
                  for ns in self.namespaces]
        await self.ctx.ready([i for infs in per_ns for i in infs])
        nodes = self.ctx.informer("nodes")
        try:
            await self.ctx.ready([nodes], wait=2.0)
            node_items = nodes.snapshot()
            note = None
        except CockpitError as e:  # no RBAC for nodes is common; the rest still works
            node_items = []
            note = Alarm(name="nodes unavailable", source=self.id, severity=Severity.UNKNOWN,
                         state="INSUFFICIENT_DATA", reason=f"{e.message} ({e.hint})" if e.hint else e.message,
                         resource="nodes")
        # Scanning 10,000 pods takes ~50 ms: do it off the event loop.
        return await asyncio.to_thread(self._alarms, per_ns, node_items, note)

    def _alarms(self, per_ns: list[list[Informer]], node_items: list[dict[str, Any]],
                note: Alarm | None) -> list[Alarm]:
        now = datetime.now(UTC)
        out: list[Alarm] = []
        for infs in per_ns:
            pods, events, *workloads = infs
            for p in pods.snapshot():
                out += pod_alarms(p, source=self.id, now=now)
            out += event_alarms(events.snapshot(), source=self.id, now=now)
            for inf in workloads:
                for o in inf.snapshot():
                    state, detail = rollout_state(inf.plural, o)
                    if state == "stalled":
                        m = _meta(o)
                        ref = f"{WORKLOAD_KINDS[inf.plural]}/{m.get('name', '')}"
                        out.append(Alarm(
                            name=f"Rollout stalled {m.get('namespace', '')}/{ref}", source=self.id,
                            severity=Severity.CRITICAL, state="firing",
                            reason=f"{detail}: " + next(
                                (c.get("message", "") for c in (o.get("status") or {}).get("conditions") or []
                                 if c.get("type") == "Progressing"), ""),
                            since=next((parse_time(c.get("lastUpdateTime")) for c in
                                        (o.get("status") or {}).get("conditions") or []
                                        if c.get("type") == "Progressing"), None),
                            resource=f"{m.get('namespace', '')}/{ref}",
                            threshold="progressDeadlineSeconds exceeded"))
        for n in node_items:
            out += node_alarms(n, source=self.id)
        if note is not None:
            out.append(note)
        out.sort(key=lambda a: (-int(a.severity), a.name))
        # Built by pure functions that know no context: stamped here, a few dozen at most.
        return [dataclasses.replace(a, estate=self.ctx.estate) for a in out]

    def explain_command(self) -> list[str]:
        ns = self.namespaces[0]
        where = ["-n", ns] if ns else ["-A"]
        return self.ctx.cli("get", "events", *where, "--field-selector", "type=Warning",
                            "--sort-by=.lastTimestamp")

    # --- Cordonable ----------------------------------------------------------------------

    def cordon_command(self, target: Alarm) -> list[str]:
        return self.ctx.cli("cordon", self.node_of(target))

    def uncordon_command(self, target: Alarm) -> list[str]:
        return self.ctx.cli("uncordon", self.node_of(target))

    async def _set_unschedulable(self, target: Alarm, on: bool) -> str:
        name = self.node_of(target)
        # kubectl's two-way strategic merge: true to cordon; null (field removed) to uncordon.
        body = {"spec": {"unschedulable": True if on else None}}

        def call() -> str:
            _load(self.ctx.rest().patch(self.ctx.path("nodes", "", name), body,
                                        "application/strategic-merge-patch+json"))
            return f"node/{name} {'cordoned' if on else 'uncordoned'}"

        return await self.ctx.run(f"{'cordon' if on else 'uncordon'} {name}", call)

    async def cordon(self, target: Alarm) -> str:
        return await self._set_unschedulable(target, True)

    async def uncordon(self, target: Alarm) -> str:
        return await self._set_unschedulable(target, False)

    # --- DetailProvider ------------------------------------------------------------------

    async def detail(self, record: Any) -> Sequence[DetailSection]:
        if not isinstance(record, Alarm):
            return []
        if record.resource.startswith("node/") or record.resource == "nodes":
            return [await self.nodes_detail()]
        try:
            ns, name = self.pod_of(record)
        except CockpitError:
            return []
        pods = self.ctx.informer("pods", ns if ns in self.namespaces else self.namespaces[0])
        await self.ctx.ready([pods])
        with pods.lock:
            pod = pods.items.get(f"{ns}/{name}")
        if pod is None:
            return [DetailSection("pod", lines=(f"pod {name} no longer exists",))]
        metrics, note = await pod_metrics(self.ctx, ns)
        sections = [pods_section([pod], metrics, note), containers_section(pod)]
        for c in (pod.get("status") or {}).get("containerStatuses") or []:
            if (c.get("lastState") or {}).get("terminated"):
                cname = c.get("name", "")
                try:
                    lines = await previous_log_lines(self.ctx, ns, name, cname)
                except CockpitError as e:
                    lines = [str(e)]
                cmd = " ".join(self.ctx.cli("logs", name, "-c", cname, "--previous", namespace=ns))
                sections.append(DetailSection(f"previous log of {cname} ({cmd})", lines=tuple(lines)))
        return sections

    async def nodes_detail(self) -> DetailSection:
        """Every node: Ready, pressure, cordoned, usage (for a nodes screen)."""
        nodes = self.ctx.informer("nodes")
        await self.ctx.ready([nodes])

        def call() -> dict[str, tuple[str, str]]:
            body = _load(self.ctx.rest().get(resource_path(METRICS_PREFIX, "nodes"), timeout=(5, 10)))
            return {_meta(it).get("name", ""): (str((it.get("usage") or {}).get("cpu", "?")),
                                                str((it.get("usage") or {}).get("memory", "?")))
                    for it in body.get("items") or []}

        try:
            metrics, note = await self.ctx.run("node metrics", call), ""
        except CockpitError as e:
            metrics, note = {}, ("metrics-server not installed" if "not found" in e.message
                                 else f"metrics unavailable: {e.message}")
        return nodes_section(nodes.snapshot(), metrics, note)

    async def close(self) -> None:
        await self.ctx.release(self)


def containers_section(pod: dict[str, Any]) -> DetailSection:
    rows = []
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        state = c.get("state") or {}
        kind = next(iter(state), "?")
        reason = (state.get(kind) or {}).get("reason", "") if isinstance(state.get(kind), dict) else ""
        last = (c.get("lastState") or {}).get("terminated") or {}
        rows.append((str(c.get("name", "")), f"{kind} {reason}".strip(), str(c.get("restartCount", 0)),
                     f"{last.get('reason', '')} exit {last.get('exitCode', '')} at {last.get('finishedAt', '')}"
                     if last else "-", str(c.get("image", ""))))
    return DetailSection("containers", ("container", "state", "restarts", "last termination", "image"),
                         tuple(rows))
