"""Record builders: raw API objects (dicts) -> ServiceStatus, Deployment and Alarm rows.

Pure functions of the objects and a clock; the kinds, API groups and limits every module
of the package shares live here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.errors import BackendError
from cockpit.model import (
    Alarm,
    Deployment,
    ServiceStatus,
    Severity,
)
from cockpit.units import age

if TYPE_CHECKING:
    pass


BACKEND = "kubernetes"
WATCH_TIMEOUT = 240  # s a watch request lasts; then it is renewed from its resourceVersion
LIST_PAGE = 5000  # items a list page carries (kubectl uses 500; fewer round trips here)
SYNC_WAIT = 8.0  # s fetch() waits for a first list (under the hub's 10 s timeout)
ERROR_GRACE = 20.0  # s a watch may be failing before the pane is told its data is stale
RESTART_THRESHOLD = 5
PENDING_AFTER = 300.0  # s a pod may be Pending before it is an alarm
EVENT_MAX_AGE = 3600.0  # s a Warning event stays an alarm after it was last seen
MAX_LOG_STREAMS = 20  # container logs followed at once by one log source (like stern --max-log-requests)
LOG_BUFFER = 5000  # lines held between two reads of a log source; beyond, the oldest are dropped
LOG_TAIL = 20  # lines of history a stream starts with
LOG_POSITIONS = 2000  # stream positions kept for a follower taking a stream over
MAX_EVENTS = 5

WORKLOAD_KINDS = {
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
}
_KIND_TO_PLURAL = {v: k for k, v in WORKLOAD_KINDS.items()}
_API_OF = {
    "pods": "core",
    "events": "core",
    "nodes": "core",
    "deployments": "apps",
    "statefulsets": "apps",
    "daemonsets": "apps",
    "replicasets": "apps",
    "controllerrevisions": "apps",
}
_PREFIX = {"core": "/api/v1", "apps": "/apis/apps/v1"}
METRICS_PREFIX = "/apis/metrics.k8s.io/v1beta1"
# Read only for rollbacks (the from -> to revision a confirmation shows): never required.
HISTORY_KINDS = ("replicasets", "controllerrevisions")


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _meta(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("metadata") or {}


def _key(o: dict[str, Any]) -> str:
    m = _meta(o)
    return f"{m.get('namespace', '')}/{m.get('name', '')}"


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against a pod's labels."""
    if not selector:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and labels.get(k) in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def workload_of(pod: dict[str, Any]) -> str:
    """``deployment/api`` for a pod of api's ReplicaSet; the pod's own name when unowned."""
    for ref in _meta(pod).get("ownerReferences") or []:
        kind, name = ref.get("kind", ""), ref.get("name", "")
        if kind == "ReplicaSet":
            return f"deployment/{name.rsplit('-', 1)[0]}"
        if kind in ("StatefulSet", "DaemonSet"):
            return f"{kind.lower()}/{name}"
    return f"pod/{_meta(pod).get('name', '')}"


def split_ref(name: str) -> tuple[str, str]:
    """``deployment/api`` -> (``deployments``, ``api``)."""
    kind, _, short = name.partition("/")
    plural = _KIND_TO_PLURAL.get(kind)
    if plural is None or not short:
        raise BackendError(f"{name!r} is not a workload this backend knows",
                           "expected deployment/NAME, statefulset/NAME or daemonset/NAME")
    return plural, short


def rollout_state(plural: str, o: dict[str, Any]) -> tuple[str, str]:
    """(``complete`` | ``progressing`` | ``stalled``, detail), as ``kubectl rollout status``."""
    spec, st, m = o.get("spec") or {}, o.get("status") or {}, _meta(o)
    if int(st.get("observedGeneration") or 0) < int(m.get("generation") or 0):
        return "progressing", "waiting for the controller to observe the new spec"
    if plural == "deployments":
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                return "stalled", "ProgressDeadlineExceeded"
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        updated = int(st.get("updatedReplicas") or 0)
        if updated < want:
            return "progressing", f"{updated} of {want} updated"
        if int(st.get("replicas") or 0) > updated:
            return "progressing", f"{int(st.get('replicas') or 0) - updated} old replicas pending termination"
        if int(st.get("availableReplicas") or 0) < updated:
            return "progressing", f"{st.get('availableReplicas') or 0} of {updated} available"
        return "complete", ""
    if plural == "statefulsets":
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        updated = int(st.get("updatedReplicas") or 0)
        if st.get("updateRevision") and st.get("updateRevision") != st.get("currentRevision"):
            return "progressing", f"{updated} of {want} updated"
        if int(st.get("readyReplicas") or 0) < want:
            return "progressing", f"{st.get('readyReplicas') or 0} of {want} ready"
        return "complete", ""
    want = int(st.get("desiredNumberScheduled") or 0)
    updated = int(st.get("updatedNumberScheduled") or 0)
    if updated < want:
        return "progressing", f"{updated} of {want} updated"
    if int(st.get("numberAvailable") or 0) < want:
        return "progressing", f"{st.get('numberAvailable') or 0} of {want} available"
    return "complete", ""


def _counts(plural: str, o: dict[str, Any]) -> tuple[int, int, int, int]:
    """(desired, ready, updated, available)."""
    spec, st = o.get("spec") or {}, o.get("status") or {}
    if plural == "daemonsets":
        return (int(st.get("desiredNumberScheduled") or 0), int(st.get("numberReady") or 0),
                int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0))
    replicas = spec.get("replicas")
    desired = int(replicas) if replicas is not None else 1
    return (desired, int(st.get("readyReplicas") or 0), int(st.get("updatedReplicas") or 0),
            int(st.get("availableReplicas") or 0))


def _images(o: dict[str, Any]) -> str:
    cs = ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    images = [str(c.get("image", "")) for c in cs]
    if not images:
        return ""
    short = images[0].rsplit("/", 1)[-1]
    return short + (f" +{len(images) - 1}" if len(images) > 1 else "")


def workload_status(plural: str, o: dict[str, Any], *, source: str,
                    events: Sequence[tuple[datetime, str]] = (), estate: str = "") -> ServiceStatus:
    """One Deployment / StatefulSet / DaemonSet as a services row."""
    desired, ready, updated, available = _counts(plural, o)
    state, detail = rollout_state(plural, o)
    if state == "stalled":
        severity, text = Severity.CRITICAL, "stalled"
    elif desired > 0 and ready == 0:
        severity, text = Severity.CRITICAL, "down"
    elif ready < desired:
        severity, text = Severity.WARNING, "degraded"
    elif state == "progressing":
        severity, text = Severity.INFO, "deploying"
    else:
        severity, text = Severity.OK, "healthy" if desired else "scaled to 0"
    if state == "complete":
        deployment = f"complete {updated} updated, {available} available"
    elif state == "stalled":
        deployment = f"stalled: {detail}"
    else:
        deployment = f"progressing {updated}/{desired}" + (f" ({detail})" if detail else "")
    m = _meta(o)
    return ServiceStatus(
        name=f"{WORKLOAD_KINDS[plural]}/{m.get('name', '')}",
        backend=BACKEND,
        source=source,
        status=severity,
        status_text=text,
        running=ready,
        desired=desired,
        pending=max(0, desired - ready),
        deployment=deployment,
        task_definition=_images(o),
        created_at=parse_time(m.get("creationTimestamp")),
        cluster=str(m.get("namespace", "")),
        events=tuple(events[:MAX_EVENTS]),
        estate=estate,
    )


def replicaset_deployments(dep: dict[str, Any], rss: Iterable[dict[str, Any]]) -> tuple[Deployment, ...]:
    """A Deployment's ReplicaSets as ``Deployment`` records, newest revision first."""
    uid = _meta(dep).get("uid")
    own = [r for r in rss if any(o.get("uid") == uid for o in _meta(r).get("ownerReferences") or [])]
    own.sort(key=_revision, reverse=True)
    out = []
    for i, r in enumerate(own):
        st = r.get("status") or {}
        desired = int((r.get("spec") or {}).get("replicas") or 0)
        out.append(Deployment(
            id=f"revision {_revision(r)} ({_meta(r).get('name', '')})",
            status="PRIMARY" if i == 0 else ("ACTIVE" if desired else "INACTIVE"),
            task_definition=_images(r),
            desired=desired,
            running=int(st.get("readyReplicas") or 0),
            pending=max(0, int(st.get("replicas") or 0) - int(st.get("readyReplicas") or 0)),
            created_at=parse_time(_meta(r).get("creationTimestamp")),
        ))
    return tuple(out)


def _revision(o: dict[str, Any]) -> int:
    ann = _meta(o).get("annotations") or {}
    try:
        return int(ann.get("deployment.kubernetes.io/revision", 0))
    except ValueError:
        return 0


def pod_ready(pod: dict[str, Any]) -> str:
    cs = (pod.get("status") or {}).get("containerStatuses") or []
    n = len((pod.get("spec") or {}).get("containers") or cs)
    return f"{sum(1 for c in cs if c.get('ready'))}/{n}"


def pod_restarts(pod: dict[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def pod_status_text(pod: dict[str, Any]) -> str:
    """kubectl's STATUS column: a waiting/terminated reason beats the phase."""
    st = pod.get("status") or {}
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    for c in st.get("containerStatuses") or []:
        state = c.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            return str(state["waiting"]["reason"])
        if state.get("terminated", {}).get("reason"):
            return str(state["terminated"]["reason"])
    return str(st.get("phase") or "Unknown")


def last_termination(pod: dict[str, Any]) -> str:
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        t = (c.get("lastState") or {}).get("terminated") or (c.get("state") or {}).get("terminated")
        if t:
            return f"{t.get('reason', '')} (exit {t.get('exitCode', '?')})"
    return ""


def pod_alarms(pod: dict[str, Any], *, source: str, now: datetime) -> list[Alarm]:
    """CrashLoopBackOff, image pull failures, long Pending, restarts, OOMKilled."""
    m, st = _meta(pod), pod.get("status") or {}
    ns, name = m.get("namespace", ""), m.get("name", "")
    resource = f"{ns}/pod/{name}"
    out: list[Alarm] = []
    created = parse_time(m.get("creationTimestamp"))
    flagged = False
    for c in st.get("containerStatuses") or []:
        cname = c.get("name", "")
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        restarts = int(c.get("restartCount") or 0)
        last = (c.get("lastState") or {}).get("terminated") or {}
        if reason == "CrashLoopBackOff":
            why = f" last exit: {last.get('reason', '')} (exit {last.get('exitCode', '?')})" if last else ""
            out.append(Alarm(
                name=f"CrashLoopBackOff {ns}/{name}/{cname}", source=source,
                severity=Severity.CRITICAL, state="firing",
                reason=f"container {cname} restarting, {restarts} restarts;{why}".rstrip(";"),
                since=parse_time(last.get("finishedAt")) or created, resource=resource,
                threshold="state.waiting.reason = CrashLoopBackOff"))
            flagged = True
        elif reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
            out.append(Alarm(
                name=f"{reason} {ns}/{name}/{cname}", source=source, severity=Severity.CRITICAL,
                state="firing", reason=str(waiting.get("message") or reason),
                since=created, resource=resource, threshold=f"state.waiting.reason = {reason}"))
            flagged = True
        if last.get("reason") == "OOMKilled":
            out.append(Alarm(
                name=f"OOMKilled {ns}/{name}/{cname}", source=source, severity=Severity.WARNING,
                state="firing",
                reason=f"container {cname} was killed for exceeding its memory limit (exit {last.get('exitCode', 137)})",
                since=parse_time(last.get("finishedAt")), resource=resource,
                threshold="lastState.terminated.reason = OOMKilled"))
        if restarts > RESTART_THRESHOLD and not flagged:
            out.append(Alarm(
                name=f"Restarts {ns}/{name}/{cname}", source=source, severity=Severity.WARNING,
                state="firing", reason=f"container {cname} restarted {restarts} times",
                since=parse_time(last.get("finishedAt")), resource=resource,
                threshold=f"restarts > {RESTART_THRESHOLD}"))
    if st.get("phase") == "Pending" and created and (now - created).total_seconds() > PENDING_AFTER:
        msg = next((c.get("message", "") for c in st.get("conditions") or []
                    if c.get("type") == "PodScheduled" and c.get("status") == "False"), "")
        out.append(Alarm(
            name=f"Pending {ns}/{name}", source=source, severity=Severity.WARNING, state="firing",
            reason=f"Pending for {age(created, now)}" + (f": {msg}" if msg else ""),
            since=created, resource=resource, threshold=f"Pending > {int(PENDING_AFTER)} s"))
    return out


def node_alarms(node: dict[str, Any], *, source: str) -> list[Alarm]:
    name = _meta(node).get("name", "")
    out = []
    for c in (node.get("status") or {}).get("conditions") or []:
        t, s = c.get("type"), c.get("status")
        since = parse_time(c.get("lastTransitionTime"))
        if t == "Ready" and s != "True":
            out.append(Alarm(name=f"NotReady node/{name}", source=source, severity=Severity.CRITICAL,
                             state="firing", reason=f"{c.get('reason', '')}: {c.get('message', '')}",
                             since=since, resource=f"node/{name}", threshold="Ready != True"))
        elif t in ("MemoryPressure", "DiskPressure", "PIDPressure") and s == "True":
            out.append(Alarm(name=f"{t} node/{name}", source=source, severity=Severity.WARNING,
                             state="firing", reason=str(c.get("message") or t), since=since,
                             resource=f"node/{name}", threshold=f"{t} = True"))
    return out


def _event_time(e: dict[str, Any]) -> datetime | None:
    series = e.get("series") or {}
    return (parse_time(series.get("lastObservedTime")) or parse_time(e.get("lastTimestamp"))
            or parse_time(e.get("eventTime")) or parse_time(_meta(e).get("creationTimestamp")))


def event_alarms(events: Iterable[dict[str, Any]], *, source: str, now: datetime) -> list[Alarm]:
    """Warning events, one alarm per (object, reason): count summed, last seen kept."""
    groups: dict[tuple[str, str, str, str], tuple[int, datetime | None, str]] = {}
    for e in events:
        if e.get("type") != "Warning":
            continue
        when = _event_time(e)
        if when is not None and (now - when).total_seconds() > EVENT_MAX_AGE:
            continue
        obj = e.get("involvedObject") or {}
        k = (str(obj.get("namespace") or _meta(e).get("namespace", "")), str(obj.get("kind", "")),
             str(obj.get("name", "")), str(e.get("reason", "")))
        count = int((e.get("series") or {}).get("count") or e.get("count") or 1)
        prev = groups.get(k)
        if prev is None:
            groups[k] = (count, when, str(e.get("message", "")))
        else:
            newer = when is not None and (prev[1] is None or when >= prev[1])
            groups[k] = (prev[0] + count, when if newer else prev[1],
                         str(e.get("message", "")) if newer else prev[2])
    out = []
    for (ns, kind, name, reason), (count, when, message) in groups.items():
        ref = f"{kind.lower()}/{name}"
        out.append(Alarm(
            name=f"{reason} {ns}/{ref}", source=source, severity=Severity.WARNING, state="Warning",
            reason=f"{message} (x{count}, last seen {age(when, now)} ago)",
            since=when, resource=f"{ns}/{ref}" if ns and kind != "Node" else ref,
            threshold="Warning event"))
    return out


