"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` a real API server answers when a
client (kubectl get) asks for ``application/json;as=Table``, with the columns kubectl shows
for the kinds the cockpit reads (pods, deployments, statefulsets, daemonsets, replicasets,
events, nodes, secrets) and NAME/AGE for the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    """True when the first media type the client accepts is a meta.k8s.io Table."""
    first = (accept or "").split(",")[0]
    return TABLE_MEDIA in first.replace(" ", "") and "g=meta.k8s.io" in first


def human_age(ts: str | None, now: datetime | None = None) -> str:
    """How Kubernetes prints an age (duration.HumanDuration): 45s, 3m12s, 17m, 5h, 3d."""
    if not ts:
        return "<unknown>"
    t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    secs = int(((now or datetime.now(UTC)) - t).total_seconds())
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    return f"{days}d" if days < 365 * 2 else f"{days // 365}y"


def _meta(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("metadata") or {}


def _age(o: dict[str, Any]) -> str:
    return human_age(_meta(o).get("creationTimestamp"))


def _containers(o: dict[str, Any]) -> list[dict[str, Any]]:
    return ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []


def _selector(o: dict[str, Any]) -> str:
    ml = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in ml.items())


def pod_status_text(pod: dict[str, Any]) -> str:
    """The STATUS column: the waiting/terminated reason of a container, else the phase."""
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return reason


def _pod(p: dict[str, Any]) -> list[Any]:
    st = p.get("status") or {}
    css = st.get("containerStatuses") or []
    ready = sum(1 for c in css if c.get("ready"))
    total = len((p.get("spec") or {}).get("containers") or [])
    restarts = sum(int(c.get("restartCount") or 0) for c in css)
    return [_meta(p)["name"], f"{ready}/{total}", pod_status_text(p), restarts, _age(p),
            st.get("podIP") or "<none>", (p.get("spec") or {}).get("nodeName") or "<none>",
            "<none>", "<none>"]


def _images(o: dict[str, Any]) -> tuple[str, str]:
    cs = _containers(o)
    return ",".join(c["name"] for c in cs), ",".join(c.get("image", "") for c in cs)


def _deployment(d: dict[str, Any]) -> list[Any]:
    st = d.get("status") or {}
    want = int((d.get("spec") or {}).get("replicas", 1))
    return [_meta(d)["name"], f"{int(st.get('readyReplicas') or 0)}/{want}",
            int(st.get("updatedReplicas") or 0), int(st.get("availableReplicas") or 0), _age(d),
            *_images(d), _selector(d)]


def _statefulset(s: dict[str, Any]) -> list[Any]:
    st = s.get("status") or {}
    want = int((s.get("spec") or {}).get("replicas", 1))
    return [_meta(s)["name"], f"{int(st.get('readyReplicas') or 0)}/{want}", _age(s), *_images(s)]


def _daemonset(d: dict[str, Any]) -> list[Any]:
    st = d.get("status") or {}
    sel = ((d.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    return [_meta(d)["name"], int(st.get("desiredNumberScheduled") or 0),
            int(st.get("currentNumberScheduled") or 0), int(st.get("numberReady") or 0),
            int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>", _age(d), *_images(d),
            _selector(d)]


def _replicaset(r: dict[str, Any]) -> list[Any]:
    st = r.get("status") or {}
    return [_meta(r)["name"], int((r.get("spec") or {}).get("replicas", 0)),
            int(st.get("replicas") or 0), int(st.get("readyReplicas") or 0), _age(r),
            *_images(r), _selector(r)]


def _event(e: dict[str, Any]) -> list[Any]:
    inv = e.get("involvedObject") or {}
    src = e.get("source") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or _meta(e).get("creationTimestamp")
    return [human_age(last), e.get("type", ""), e.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", inv.get("fieldPath", ""),
            ", ".join(x for x in (src.get("component"), src.get("host")) if x),
            e.get("message", ""), human_age(e.get("firstTimestamp") or last),
            int(e.get("count") or 1), _meta(e)["name"]]


def _node(n: dict[str, Any]) -> list[Any]:
    st = n.get("status") or {}
    ready: dict[str, Any] = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), {})
    status = "Ready" if ready.get("status") == "True" else "NotReady"
    if (n.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (_meta(n).get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    info = st.get("nodeInfo") or {}
    addr = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    return [_meta(n)["name"], status, ",".join(roles) or "<none>", _age(n),
            info.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"),
            addr.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _namespace(n: dict[str, Any]) -> list[Any]:
    return [_meta(n)["name"], (n.get("status") or {}).get("phase", "Active"), _age(n)]


def _secret(s: dict[str, Any]) -> list[Any]:
    return [_meta(s)["name"], s.get("type", "Opaque"), len(s.get("data") or {}), _age(s)]


def _default(o: dict[str, Any]) -> list[Any]:
    return [_meta(o)["name"], _age(o)]


_NAME = ("Name", "string", "name", 0)
_AGE = ("Age", "string", "date", 0)
_WL = (("Containers", "string", "", 1), ("Images", "string", "", 1), ("Selector", "string", "", 1))
# plural -> (columns as (name, type, format, priority), row builder); priority 1 = -o wide only.
COLUMNS: dict[str, tuple[tuple[tuple[str, str, str, int], ...], Callable[[dict], list[Any]]]] = {
    "pods": ((_NAME, ("Ready", "string", "", 0), ("Status", "string", "", 0),
              ("Restarts", "integer", "", 0), _AGE, ("IP", "string", "", 1),
              ("Node", "string", "", 1), ("Nominated Node", "string", "", 1),
              ("Readiness Gates", "string", "", 1)), _pod),
    "deployments": ((_NAME, ("Ready", "string", "", 0), ("Up-to-date", "integer", "", 0),
                     ("Available", "integer", "", 0), _AGE, *_WL), _deployment),
    "statefulsets": ((_NAME, ("Ready", "string", "", 0), _AGE, *_WL[:2]), _statefulset),
    "daemonsets": ((_NAME, ("Desired", "integer", "", 0), ("Current", "integer", "", 0),
                    ("Ready", "integer", "", 0), ("Up-to-date", "integer", "", 0),
                    ("Available", "integer", "", 0), ("Node Selector", "string", "", 0),
                    _AGE, *_WL), _daemonset),
    "replicasets": ((_NAME, ("Desired", "integer", "", 0), ("Current", "integer", "", 0),
                     ("Ready", "integer", "", 0), _AGE, *_WL), _replicaset),
    "events": ((("Last Seen", "string", "", 0), ("Type", "string", "", 0),
                ("Reason", "string", "", 0), ("Object", "string", "", 0),
                ("Subobject", "string", "", 1), ("Source", "string", "", 1),
                ("Message", "string", "", 0), ("First Seen", "string", "", 1),
                ("Count", "string", "", 1), ("Name", "string", "", 1)), _event),
    "nodes": ((_NAME, ("Status", "string", "", 0), ("Roles", "string", "", 0), _AGE,
               ("Version", "string", "", 0), ("Internal-IP", "string", "", 1),
               ("External-IP", "string", "", 1), ("OS-Image", "string", "", 1),
               ("Kernel-Version", "string", "", 1), ("Container-Runtime", "string", "", 1)),
              _node),
    "namespaces": ((_NAME, ("Status", "string", "", 0), _AGE), _namespace),
    "secrets": ((_NAME, ("Type", "string", "", 0), ("Data", "string", "", 0), _AGE), _secret),
}


def table(plural: str, items: list[dict[str, Any]], *, include: str = "Metadata",
          list_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``Table`` of ``items``; each row carries the object (``includeObject=Object``) or,
    by default, its metadata, which kubectl needs for -A's NAMESPACE column and kind/name."""
    cols, build = COLUMNS.get(plural, ((_NAME, _AGE), _default))
    rows = []
    for o in items:
        if include == "Object":
            obj: Any = o
        elif include == "None":
            obj = None
        else:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": o.get("metadata") or {}}
        row: dict[str, Any] = {"cells": build(o)}
        if obj is not None:
            row["object"] = obj
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
            "columnDefinitions": [{"name": n, "type": t, "format": f, "priority": p,
                                   "description": ""} for n, t, f, p in cols],
            "rows": rows}
