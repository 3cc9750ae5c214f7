"""Kubernetes: workloads, pods, nodes and events through list + watch; multi-pod logs; rollouts.

Calls are synchronous REST requests (``kube_rest``), so each resource kind of a namespace has one
``Informer``: a daemon thread that lists once, then watches from the list's
``resourceVersion`` and applies each event to an in-memory cache. A watch that ends (its
timeout, a dropped connection) resumes from the last version seen; a 410 Gone (the version
was compacted away) relists. ``fetch()`` only reads the caches, so a 10,000-pod namespace
costs one list and then only events, whatever the refresh interval.

Objects are kept as the raw JSON dicts: the official client's model classes cost ~100x
more to build for a big list, and the cockpit reads a few fields only.

The cockpit never imports the ``kubernetes`` package (~50 MB resident): requests go through
``kube_rest`` over urllib3, and only kubeconfig resolution runs the official library, in a
child process. Every HTTP or config error is turned into a ``CockpitError`` saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cockpit.backends.kube_rest import KubeRest, ResolveError, iter_lines, resource_path
from cockpit.backends.kubernetes_history import (
    already_at,
    image_of,
    revision_number,
    rollback_choice,
    selector_string,
    template_patch,
)
from cockpit.backends.kubernetes_history import history as revision_history
from cockpit.backends.pools import run_in_pool
from cockpit.errors import BackendError, CockpitError, CredentialsError
from cockpit.model import (
    Alarm,
    Deployment,
    DetailSection,
    LogLevel,
    LogRecord,
    PaneKind,
    ServiceStatus,
    Severity,
)

if TYPE_CHECKING:
    from cockpit.backends.base import LogSource, Source
    from cockpit.profile import KubernetesConfig, Profile

log = logging.getLogger(__name__)

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


# --- errors -------------------------------------------------------------------------------


class KubeApiError(Exception):
    """A non-2xx answer, with the API's ``Status`` message when it sent one."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


def _check(resp: Any) -> Any:
    """Raise ``KubeApiError`` for an unloaded response (``preload_content=False``) that failed."""
    status = int(getattr(resp, "status", 200) or 200)
    if 200 <= status < 300:
        return resp
    try:
        body = json.loads(resp.data or b"{}")
    except ValueError:
        body = {}
    finally:
        with contextlib.suppress(Exception):
            resp.release_conn()
    raise KubeApiError(status, str(body.get("reason") or getattr(resp, "reason", "")),
                       str(body.get("message") or ""))


def translate(e: BaseException, what: str, ctx: str) -> CockpitError:
    """Any client, HTTP or config error -> a ``CockpitError`` with a hint."""
    if isinstance(e, CockpitError):
        return e
    status = getattr(e, "status", None)
    message = getattr(e, "message", "") or getattr(e, "reason", "") or str(e)
    if isinstance(status, int):
        if status == 401:
            return CredentialsError(
                f"{what}: unauthorised by {ctx}",
                f"renew the credentials of context {ctx} (kubectl --context {ctx} get ns)",
            )
        if status == 403:
            return BackendError(f"{what}: forbidden: {message}", "ask for RBAC access (kubectl auth can-i)")
        if status == 404:
            return BackendError(f"{what}: not found: {message}", "it may have been deleted; refresh")
        if status == 409:
            return BackendError(f"{what}: conflict: {message}", "someone changed it meanwhile; retry")
        if status == 429:
            return BackendError(f"{what}: throttled by the API server", "will retry")
        return BackendError(f"{what}: HTTP {status}: {message}", "")
    name = type(e).__name__
    if "SSLError" in name:
        return BackendError(f"{what}: TLS with the API server of {ctx} failed: {message}",
                            "check the context's certificate-authority and server address")
    if "MaxRetryError" in name or "NewConnectionError" in name or isinstance(e, OSError):
        return BackendError(f"{what}: cannot reach the API server of {ctx}",
                            "check the network/VPN and the context's server address")
    if "ProtocolError" in name or "ReadTimeout" in name or "IncompleteRead" in name:
        return BackendError(f"{what}: connection to {ctx} dropped", "will retry")
    return BackendError(f"{what}: {name}: {message}", "")


# --- small helpers ------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def age(t: datetime | None, now: datetime | None = None) -> str:
    """kubectl's age column: 45s, 12m, 3h, 5d."""
    if t is None:
        return "?"
    s = max(0, int(((now or datetime.now(UTC)) - t).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * (2 if unit != "m" else 1):
            return f"{s // size}{unit}"
    return f"{s}s"


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


# --- pure record builders (tested against dicts) ----------------------------------------


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
    desired = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
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
                    events: Sequence[tuple[datetime, str]] = ()) -> ServiceStatus:
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


# --- context and informers ----------------------------------------------------------------


class Informer:
    """List once, then watch: a thread keeps ``items`` (raw dicts by ns/name) current."""

    def __init__(self, ctx: KubeContext, plural: str, namespace: str) -> None:
        self.ctx = ctx
        self.plural = plural
        self.namespace = namespace
        self.items: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.rv: str | None = None
        self.synced = threading.Event()
        self.error: CockpitError | None = None
        self.error_since: float | None = None
        self.version = 0  # bumped on every change: cheap change detection for readers
        self.lists = 0
        self.resumes = 0
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread: threading.Thread | None = None
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []

    @property
    def what(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"watch {self.plural}{where}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"k8s-{self.plural}-{self.namespace or 'all'}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            # Unblock the thread's read at once instead of waiting out the watch timeout.
            with contextlib.suppress(Exception):
                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.items.values())

    def _call(self, query: dict[str, Any], timeout: tuple[float, float]) -> Any:
        """GET the list (or watch, by ``query``) of this informer's kind and namespace."""
        ns = "" if self.plural == "nodes" else self.namespace
        return self.ctx.rest().get(self.ctx.path(self.plural, ns), query, timeout=timeout)

    def _list(self) -> None:
        items: dict[str, dict[str, Any]] = {}
        cont: str | None = None
        rv = None
        while True:
            q: dict[str, Any] = {"limit": LIST_PAGE}
            if cont:
                q["continue"] = cont
            body = json.loads(_check(self._call(q, (10, 60))).data)
            meta = body.get("metadata") or {}
            rv = rv or meta.get("resourceVersion")
            for it in body.get("items") or []:
                items[_key(it)] = it
            cont = meta.get("continue")
            if not cont:
                break
        with self.lock:
            old = self.items
            self.items = items
            self.rv = rv
            self.version += 1
            self.lists += 1
        for k in old.keys() - items.keys():
            self._notify("DELETED", old[k])
        for k in items.keys() - old.keys():
            self._notify("ADDED", items[k])

    def _notify(self, etype: str, obj: dict[str, Any]) -> None:
        for fn in list(self.listeners):
            try:
                fn(etype, obj)
            except Exception:  # a listener's bug must not stop the watch
                log.exception("listener of %s failed", self.what)

    def _watch(self) -> None:
        resp = self._call({"watch": True, "resourceVersion": self.rv, "timeoutSeconds": WATCH_TIMEOUT,
                           "allowWatchBookmarks": True}, (10, WATCH_TIMEOUT + 30))
        self._resp = resp
        try:
            _check(resp)
            # Connected again: a dropped watch that resumed is not an error any more.
            self.error = self.error_since = None
            for line in iter_lines(resp):
                if self._stop.is_set():
                    return
                if not line:
                    continue
                ev = json.loads(line)
                etype, obj = ev.get("type"), ev.get("object") or {}
                if etype == "ERROR":
                    raise KubeApiError(int(obj.get("code") or 500), str(obj.get("reason", "")),
                                       str(obj.get("message", "")))
                rv = _meta(obj).get("resourceVersion")
                if etype == "BOOKMARK":
                    self.rv = rv or self.rv
                    continue
                k = _key(obj)
                with self.lock:
                    if etype == "DELETED":
                        self.items.pop(k, None)
                    else:
                        self.items[k] = obj
                    self.version += 1
                    self.rv = rv or self.rv
                self._notify(str(etype), obj)
        finally:
            self._resp = None
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self.rv is None:
                    self._list()
                    self.synced.set()
                else:
                    self.resumes += 1
                self._watch()
                failures = 0
                self.error = self.error_since = None
            except KubeApiError as e:
                if self._stop.is_set():
                    break
                if e.status == 410:
                    # The version was compacted away: only a fresh list is consistent.
                    self.rv = None
                    continue
                failures = self._failed(e, failures)
            except Exception as e:
                if self._stop.is_set():
                    break
                failures = self._failed(e, failures)

    def _failed(self, e: BaseException, failures: int) -> int:
        failures += 1
        if self.error_since is None:
            self.error_since = time.monotonic()
        self.error = translate(e, self.what, self.ctx.name)
        log.info("%s failed (%s), retry %d", self.what, self.error, failures)
        # A dropped connection is normal: resume at once the first time, then back off.
        self._stop.wait(0 if failures == 1 else min(30.0, 0.25 * 2 ** failures))
        return failures


class KubeContext:
    """One kubeconfig context: its REST client, informers and kubectl conventions."""

    def __init__(self, context: str | None, *, kubeconfig: str | None = None) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.name = context or "current-context"
        self._lock = threading.Lock()
        self._rest: KubeRest | None = None
        self._informers: dict[tuple[str, str], Informer] = {}
        self._users: set[int] = set()
        # Log followers of this context. One that follows a single workload (added on demand)
        # claims its container streams: the namespace-wide followers hand those over instead
        # of showing every line twice, and take them back when it is removed.
        self.log_followers: weakref.WeakSet[KubernetesLogSource] = weakref.WeakSet()
        self.log_claims_version = 0
        self._log_positions: dict[tuple[str, str, str], tuple[datetime, set[str]]] = {}

    # --- client ------------------------------------------------------------------------

    def rest(self) -> KubeRest:
        """The context's REST client (resolved and connected on its first request)."""
        with self._lock:
            if self._rest is None:
                self._rest = _ResolvingRest(self)
            return self._rest

    @staticmethod
    def path(plural: str, namespace: str = "", name: str = "", sub: str = "") -> str:
        """The API path of a kind this backend reads (``_API_OF``), e.g. a pod's log."""
        return resource_path(_PREFIX[_API_OF[plural]], plural, namespace, name, sub)

    async def run(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def guarded() -> Any:
            try:
                return fn(*args, **kwargs)
            except CockpitError:
                raise
            except Exception as e:
                raise translate(e, what, self.name) from e

        # Its own threads, not the default executor: calls hung on an unanswering API server
        # (30 s request timeouts) must not starve the audit write or other backends.
        return await run_in_pool("k8s", 8, guarded)

    # --- informers ------------------------------------------------------------------------

    def informer(self, plural: str, namespace: str = "") -> Informer:
        with self._lock:
            inf = self._informers.get((plural, namespace))
            if inf is None:
                inf = Informer(self, plural, namespace)
                self._informers[(plural, namespace)] = inf
        inf.start()
        return inf

    async def ready(self, informers: Sequence[Informer], *, wait: float = SYNC_WAIT) -> None:
        """Wait for every informer's first list; raise its error when it cannot list or is stale."""
        deadline = time.monotonic() + wait
        while True:
            pending = [i for i in informers if not i.synced.is_set()]
            for i in informers:
                if i.error is not None and (
                    not i.synced.is_set()
                    or (i.error_since is not None and time.monotonic() - i.error_since > ERROR_GRACE)
                ):
                    raise i.error
            if not pending:
                return
            if time.monotonic() > deadline:
                raise BackendError(f"{pending[0].what}: no first list within {wait:g} s",
                                   "the API server is slow or the namespace is huge; retrying")
            await asyncio.sleep(0.02)

    def acquire(self, owner: object) -> None:
        self._users.add(id(owner))

    async def release(self, owner: object) -> None:
        self._users.discard(id(owner))
        if self._users:
            return
        with self._lock:
            infs = list(self._informers.values())
            self._informers.clear()
            rest, self._rest = self._rest, None
        for i in infs:
            i.stop()
        await asyncio.to_thread(lambda: [i.join(2) for i in infs])
        if rest is not None:
            await asyncio.to_thread(rest.close)

    # --- log streams handed between followers ---------------------------------------------

    def followers(self) -> list[KubernetesLogSource]:
        with self._lock:
            return list(self.log_followers)

    def claimed_logs(self) -> set[tuple[str, str, str]]:
        """(namespace, pod, container) streams followed by a single-workload follower."""
        out: set[tuple[str, str, str]] = set()
        for f in self.followers():
            out |= f.claims
        return out

    def claims_changed(self, by: KubernetesLogSource) -> None:
        with self._lock:
            self.log_claims_version += 1
        for f in self.followers():
            if f is not by:
                f._poke()

    def save_log_position(self, key: tuple[str, str, str], last: datetime | None, seen: set[str]) -> None:
        """Where a halted stream was, so the follower taking it over resumes there."""
        if last is None:
            return
        with self._lock:
            self._log_positions[key] = (last, set(seen))
            while len(self._log_positions) > LOG_POSITIONS:
                self._log_positions.pop(next(iter(self._log_positions)))

    def log_position(self, key: tuple[str, str, str],
                     asking: KubernetesLogSource) -> tuple[datetime, set[str]] | None:
        """The newest position another follower has (or had) for that stream, if any."""
        for f in self.followers():
            if f is not asking:
                pos = f.position(key)
                if pos is not None:
                    return pos
        with self._lock:
            return self._log_positions.pop(key, None)

    # --- kubectl --------------------------------------------------------------------------

    def cli(self, *args: str, namespace: str | None = None) -> list[str]:
        argv = ["kubectl"]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        if namespace:
            argv += ["-n", namespace]
        return argv + list(args)


class _ResolvingRest(KubeRest):
    """``KubeRest`` whose resolution failures are the ``CredentialsError`` users know."""

    def __init__(self, ctx: KubeContext) -> None:
        super().__init__(ctx.kubeconfig, ctx.context)
        self.ctx_name = ctx.name

    def _connect_locked(self) -> None:
        try:
            super()._connect_locked()
        except ResolveError as e:
            raise CredentialsError(
                f"kubernetes context {self.ctx_name}: {e}",
                "set KUBECONFIG or ~/.kube/config and check the context name (kubectl config get-contexts)",
            ) from e


def _load(resp: Any) -> Any:
    return json.loads(_check(resp).data or b"null")


# --- pods and nodes as rows of their own ------------------------------------------------


@dataclass(frozen=True)
class PodView:
    """One pod of a workload, for a screen that lists them with actions on the focused one."""

    namespace: str
    name: str
    status: str
    ready: str
    restarts: int
    last_termination: str
    node: str
    age: str
    containers: tuple[str, ...]
    terminated: tuple[str, ...]  # containers with a previous (terminated) instance to read


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


# The services sources alive, by id: a confirmation's from -> to revision is read from their
# caches without a call (the runner asks for it synchronously).
_SOURCES: weakref.WeakValueDictionary[str, KubernetesServicesSource] = weakref.WeakValueDictionary()


def revision_change(target: ServiceStatus) -> dict[str, str]:
    """``{"from": "revision 3 (api:2)", "to": "revision 2 (api:1)"}`` for a rollback's
    confirmation, from the watch caches; empty when they do not know (yet)."""
    src = _SOURCES.get(target.source)
    if src is None:
        return {}
    try:
        return src.revision_change(target)
    except CockpitError:
        return {}


# --- services -----------------------------------------------------------------------------


class KubernetesServicesSource(_PodActions):
    """Deployments, StatefulSets and DaemonSets of one namespace (or all) as services rows.

    Restartable, Scalable, RollbackCapable, DetailProvider and Explainable; PodDeletable for
    the pods of its workloads (``pod_ref``), which a pods screen lists (``workload_pods``).
    """

    pane = PaneKind.SERVICES

    def __init__(self, ctx: KubeContext, namespace: str) -> None:
        self.ctx = ctx
        self.namespace = namespace
        self.id = f"k8s:{ctx.name}:{namespace or 'all'}"
        self.title = f"k8s {ctx.name}/{namespace or 'all namespaces'}"
        ctx.acquire(self)
        _SOURCES[self.id] = self

    def _informers(self) -> list[Informer]:
        return [self.ctx.informer(p, self.namespace) for p in (*WORKLOAD_KINDS, "events")]

    async def fetch(self) -> list[ServiceStatus]:
        infs = self._informers()
        await self.ctx.ready(infs)
        # ReplicaSets and ControllerRevisions only name a rollback's from -> to revision:
        # wait for their first list, but a missing RBAC grant for them costs no rows.
        with contextlib.suppress(CockpitError):
            await self.ctx.ready([self.ctx.informer(p, self.namespace) for p in HISTORY_KINDS])
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
                rows.append(workload_status(inf.plural, o, source=self.id, events=evs))
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

    def revision_change(self, target: ServiceStatus) -> dict[str, str]:
        """From -> to revision (and image) of a rollback, from the watch caches."""
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
                return {"from": f"revision {current} ({_images(wl)})", "to": "none (no previous revision)"}
            return {"from": f"revision {current} ({_images(wl)})",
                    "to": f"revision {_revision(previous)} ({_images(previous)})"}
        crs = self.ctx.informer("controllerrevisions", self.namespace)
        if not crs.synced.is_set():
            return {}
        try:
            cur, prev = rollback_choice(target.name, wl, [r for r in crs.snapshot()
                                                          if _meta(r).get("namespace") == ns])
        except CockpitError:
            return {"from": f"current ({_images(wl)})", "to": "none (no previous revision)"}
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


NODE_COLUMNS = ("node", "ready", "pressure", "scheduling", "version", "age", "cpu", "memory")


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


# --- alarms -------------------------------------------------------------------------------


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
        return out

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


async def previous_log_lines(ctx: KubeContext, ns: str, pod: str, container: str,
                             tail: int = 50) -> list[str]:
    """``kubectl logs POD -c C --previous --tail=N``: the crashed container's last words."""

    def call() -> list[str]:
        resp = _check(ctx.rest().get(ctx.path("pods", ns, pod, "log"), {
            "container": container, "previous": True, "tailLines": tail}))
        return resp.data.decode("utf-8", "replace").splitlines()

    return await ctx.run(f"previous log of {pod}/{container}", call)


# --- logs ---------------------------------------------------------------------------------


class _Stream:
    """One followed container log (a thread), resuming from its last timestamp."""

    def __init__(self, owner: KubernetesLogSource, ns: str, pod: str, container: str, label: str) -> None:
        self.owner, self.ns, self.pod, self.container, self.label = owner, ns, pod, container, label
        self.last: datetime | None = None
        self.seen_at_last: set[str] = set()
        self.stop = threading.Event()
        self.resp: Any = None
        self.thread = threading.Thread(target=self._run, name=f"k8s-log-{pod}", daemon=True)

    def halt(self) -> None:
        self.stop.set()
        resp = self.resp
        if resp is not None:
            with contextlib.suppress(Exception):
                sock = getattr(getattr(resp, "connection", None), "sock", None)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                self._follow()
                failures = 0
                # The stream ended: the pod is gone or the container stopped. Try again
                # only while the pod is still wanted.
                if not self.owner.wants(self.ns, self.pod):
                    return
                self.stop.wait(1.0)
            except Exception as e:
                if self.stop.is_set():
                    return
                err = translate(e, f"log of {self.pod}", self.owner.ctx.name)
                if isinstance(e, KubeApiError) and e.status in (400, 404):
                    # Not started yet (ContainerCreating) or deleted: wait for the pod cache.
                    if not self.owner.wants(self.ns, self.pod):
                        return
                failures += 1
                log.info("%s (retry %d)", err, failures)
                # A dropped stream resumes at once; repeated failures back off.
                self.stop.wait(0 if failures == 1 else min(10.0, 0.25 * 2 ** failures))

    def _follow(self) -> None:
        # A quiet container may say nothing for long: reconnect (resuming) after 10 min.
        q: dict[str, Any] = {"container": self.container, "follow": True, "timestamps": True}
        if self.last is None:
            q["tailLines"] = LOG_TAIL
        else:
            q["sinceSeconds"] = max(1, int((datetime.now(UTC) - self.last).total_seconds()) + 1)
        ctx = self.owner.ctx
        resp = ctx.rest().get(ctx.path("pods", self.ns, self.pod, "log"), q, timeout=(10, 600))
        self.resp = resp
        try:
            _check(resp)
            buf = b""
            for chunk in resp.stream(65536, decode_content=False):
                if self.stop.is_set():
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if lines:
                    self.owner.push(self._records(lines))
            if buf:
                self.owner.push(self._records([buf]))
        finally:
            self.resp = None
            with contextlib.suppress(Exception):
                resp.release_conn()

    def _records(self, lines: list[bytes]) -> list[LogRecord]:
        from cockpit.backends.logs import parse_level

        out = []
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip("\r")
            stamp, _, body = text.partition(" ")
            t = parse_time(stamp)
            if t is None:
                t, body = datetime.now(UTC), text
            # A resumed stream starts a little early (whole seconds): skip what was seen.
            if self.last is not None and (t < self.last or (t == self.last and body in self.seen_at_last)):
                continue
            if self.last is None or t > self.last:
                self.last = t
                self.seen_at_last = set()
            self.seen_at_last.add(body)
            out.append(LogRecord(time=t, source=self.label, level=parse_level(body), text=body,
                                 id=f"{self.ns}/{self.pod}/{self.container}/{stamp}"))
        return out


class KubernetesLogSource:
    """Follows the logs of every pod of a namespace or of one workload, like stern.

    Pods join as the pod watch adds them and leave when it deletes them (each shown as a
    ``+``/``-`` line); each line is labelled ``workload/pod/container``. At most
    ``max_streams`` containers are followed at once. Between two reads at most ``LOG_BUFFER``
    lines are held: under a flood the oldest are dropped and a line says how many.
    """

    def __init__(self, ctx: KubeContext, namespace: str, *, workload: str | None = None,
                 container: str | None = None, max_streams: int = MAX_LOG_STREAMS,
                 buffer: int = LOG_BUFFER) -> None:
        self.ctx = ctx
        self.namespace = namespace
        self.workload = workload  # "deployment/api" or None for the whole namespace
        self.container = container
        self.max_streams = max_streams
        what = workload or "all pods"
        self.id = (f"k8s:{ctx.name}:{namespace or 'all'}:logs" + (f":{workload}" if workload else "")
                   + (f":{container}" if container else ""))
        self.title = f"k8s {namespace or 'all'}/{what}" + (f" [{container}]" if container else "")
        self._buf: deque[LogRecord] = deque(maxlen=buffer)
        self._dropped = 0
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._wanted: set[tuple[str, str]] = set()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._skipped = 0
        self.claims: set[tuple[str, str, str]] = set()  # streams this follower takes over
        ctx.acquire(self)
        with ctx._lock:
            ctx.log_followers.add(self)

    def position(self, key: tuple[str, str, str]) -> tuple[datetime, set[str]] | None:
        with self._lock:
            s = self._streams.get(key)
        if s is None or s.last is None:
            return None
        return s.last, set(s.seen_at_last)

    def explain_command(self) -> list[str]:
        if self.workload:
            which = ["-c", self.container] if self.container else ["--all-containers"]
            return self.ctx.cli("logs", "-f", self.workload, *which, "--prefix",
                                "--timestamps", namespace=self.namespace or None)
        return ["stern", *self.ctx.cli(".", namespace=self.namespace or None)[1:]]

    def wants(self, ns: str, pod: str) -> bool:
        with self._lock:
            return (ns, pod) in self._wanted

    def push(self, records: list[LogRecord]) -> None:
        if not records:
            return
        with self._lock:
            room = self._buf.maxlen - len(self._buf) if self._buf.maxlen else len(records)
            if len(records) > room:
                self._dropped += len(records) - room
            self._buf.extend(records)
        self._poke()

    def _poke(self, *_: Any) -> None:
        """Wake ``follow()`` from any thread (new lines, or the pod watch saw a change)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not wake.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed at exit
                loop.call_soon_threadsafe(wake.set)

    def _drain(self) -> list[LogRecord]:
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            out.append(LogRecord(time=datetime.now(UTC), source=self.title, level=LogLevel.WARN,
                                 text=f"... {dropped} log lines dropped: the reader fell behind"))
        return out

    def _selected(self, pods: list[dict[str, Any]], selector: dict[str, Any] | None) -> list[dict[str, Any]]:
        out = []
        for p in pods:
            if self.workload:
                if not selector_matches(selector, _meta(p).get("labels")):
                    continue
            if (p.get("spec") or {}).get("nodeName") is None:
                continue  # not scheduled: nothing to read yet
            out.append(p)
        out.sort(key=lambda p: (_meta(p).get("namespace", ""), _meta(p).get("name", "")))
        return out

    def _reconcile(self, pods_inf: Informer, wl_inf: Informer | None) -> None:
        selector = None
        if self.workload and wl_inf is not None:
            _, name = split_ref(self.workload)
            with wl_inf.lock:
                wl = wl_inf.items.get(f"{self.namespace}/{name}")
            selector = (wl or {}).get("spec", {}).get("selector")
            if wl is None:
                selector = None
        pods = self._selected(pods_inf.snapshot(), selector) if (selector or not self.workload) else []
        want: dict[tuple[str, str, str], str] = {}
        skipped = 0
        # A namespace-wide follower leaves the streams a single-workload follower took over.
        taken = set() if self.workload else self.ctx.claimed_logs()
        for p in pods:
            m = _meta(p)
            ns, name = m.get("namespace", ""), m.get("name", "")
            containers = [c.get("name", "") for c in (p.get("spec") or {}).get("containers") or []]
            all_containers = len(containers)
            if self.container:
                containers = [c for c in containers if c == self.container]
            for c in containers:
                if (ns, name, c) in taken:
                    continue
                if len(want) >= self.max_streams:
                    skipped += 1
                    continue
                # Labelled alike by every follower, so a handed-over stream reads the same.
                label = f"{workload_of(p).split('/', 1)[-1]}/{name}" + (f"/{c}" if all_containers > 1 else "")
                want[(ns, name, c)] = label
        with self._lock:
            self._wanted = {(k[0], k[1]) for k in want}
            current = dict(self._streams)
        if self.workload and set(want) != self.claims:
            self.claims = set(want)
            self.ctx.claims_changed(self)
        now = datetime.now(UTC)
        notes: list[LogRecord] = []
        for k, s in current.items():
            if k not in want:
                s.halt()
                with self._lock:
                    self._streams.pop(k, None)
                self.ctx.save_log_position(k, s.last, s.seen_at_last)
                if k not in taken:  # handed over: the other follower goes on where this stopped
                    notes.append(LogRecord(now, s.label, LogLevel.INFO, f"- {s.label} left"))
        for k, label in want.items():
            if k not in current:
                s = _Stream(self, *k, label=label)
                pos = self.ctx.log_position(k, self)
                if pos is not None:  # resume where the follower that had it was: no line twice
                    s.last, s.seen_at_last = pos
                with self._lock:
                    self._streams[k] = s
                s.thread.start()
                if pos is None:
                    notes.append(LogRecord(now, label, LogLevel.INFO, f"+ {label} joined"))
        if skipped and skipped != self._skipped:
            notes.append(LogRecord(now, self.title, LogLevel.WARN,
                                   f"following {self.max_streams} containers; {skipped} more not followed "
                                   f"(narrow to one workload)"))
        self._skipped = skipped
        self.push(notes)

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        pods_inf = self.ctx.informer("pods", self.namespace)
        wl_inf = None
        if self.workload:
            plural, _ = split_ref(self.workload)
            wl_inf = self.ctx.informer(plural, self.namespace)
        await self.ctx.ready([pods_inf] + ([wl_inf] if wl_inf else []), wait=30)
        watched = [i for i in (pods_inf, wl_inf) if i is not None]
        for inf in watched:
            inf.listeners.append(self._poke)
        seen_version = -1
        try:
            while True:
                # Cleared before reading, so a wake-up during the yield is not lost.
                self._wake.clear()
                version = (pods_inf.version + (wl_inf.version if wl_inf else 0)
                           + self.ctx.log_claims_version)
                if version != seen_version:
                    seen_version = version
                    await asyncio.to_thread(self._reconcile, pods_inf, wl_inf)
                batch = self._drain()
                if batch:
                    yield batch
                    continue
                with contextlib.suppress(TimeoutError):
                    # Woken by new lines or a pod change; a timeout is only a safety net.
                    async with asyncio.timeout(5.0):  # not wait_for: see Hub._run
                        await self._wake.wait()
        finally:
            for inf in watched:
                with contextlib.suppress(ValueError):
                    inf.listeners.remove(self._poke)

    async def close(self) -> None:
        with self._lock:
            streams = dict(self._streams)
            self._streams.clear()
            self._wanted.clear()
        for k, s in streams.items():
            s.halt()
            self.ctx.save_log_position(k, s.last, s.seen_at_last)
        streams = list(streams.values())
        with self.ctx._lock:
            self.ctx.log_followers.discard(self)
        if self.claims:  # the namespace-wide followers take these streams back
            self.claims = set()
            self.ctx.claims_changed(self)
        await asyncio.to_thread(lambda: [s.thread.join(2) for s in streams])
        await self.ctx.release(self)


# --- factory ------------------------------------------------------------------------------


def _contexts(profile: Profile) -> list[tuple[KubeContext, KubernetesConfig]]:
    out = []
    for kc in profile.kubernetes:
        kubeconfig = getattr(kc, "kubeconfig", None)  # an optional field the profile may grow
        out.append((KubeContext(kc.context, kubeconfig=str(kubeconfig) if kubeconfig else None), kc))
    return out


def build_kubernetes_sources(profile: Profile) -> tuple[list[Source], list[LogSource]]:
    """One services source and one log source per (context, namespace); one alarms source
    per context. Nothing connects until the first fetch."""
    sources: list[Any] = []
    logs: list[Any] = []
    for ctx, kc in _contexts(profile):
        namespaces = tuple(kc.namespaces) or ("",)
        for ns in namespaces:
            sources.append(KubernetesServicesSource(ctx, ns))
            logs.append(KubernetesLogSource(ctx, ns))
        sources.append(KubernetesAlarmsSource(ctx, namespaces))
    return sources, logs


__all__ = [
    "KubeContext",
    "KubernetesAlarmsSource",
    "KubernetesLogSource",
    "KubernetesServicesSource",
    "PodView",
    "build_kubernetes_sources",
    "revision_change",
]
