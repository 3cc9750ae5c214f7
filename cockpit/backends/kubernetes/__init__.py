"""Kubernetes: workloads, pods, nodes and events through list + watch; multi-pod logs; rollouts.

Calls are synchronous REST requests (``rest``), so each resource kind of a namespace has one
``Informer``: a daemon thread that lists once, then watches from the list's
``resourceVersion`` and applies each event to an in-memory cache. A watch that ends (its
timeout, a dropped connection) resumes from the last version seen; a 410 Gone (the version
was compacted away) relists. ``fetch()`` only reads the caches, so a 10,000-pod namespace
costs one list and then only events, whatever the refresh interval.

Objects are kept as the raw JSON dicts: the official client's model classes cost ~100x
more to build for a big list, and the cockpit reads a few fields only.

The cockpit never imports the ``kubernetes`` package (~50 MB resident): requests go through
``rest`` over urllib3, and only kubeconfig resolution runs the official library, in a
child process. Every HTTP or config error is turned into a ``CockpitError`` saying what to do.

The package's rooms: ``errors`` (API and kubeconfig errors -> what to do), ``records`` (raw
objects -> rows and alarms, pure), ``rest`` (the REST client), ``informer`` (list + watch
caches), ``context`` (one kubeconfig context), ``workloads`` (the Services source, pods and
nodes, actions), ``alarms`` (the Alarms source), ``logs`` (the log source), ``history``
(rollout history and rollback choices). This module builds the sources a profile asks for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cockpit.backends.kubernetes.alarms import (  # noqa: F401 (re-exported)
    KubernetesAlarmsSource,
    containers_section,
)
from cockpit.backends.kubernetes.context import (  # noqa: F401 (re-exported)
    KubeContext,
)
from cockpit.backends.kubernetes.errors import (  # noqa: F401 (re-exported)
    KubeApiError,
    _check,
    translate,
)
from cockpit.backends.kubernetes.informer import (  # noqa: F401 (re-exported)
    Informer,
)
from cockpit.backends.kubernetes.logs import (  # noqa: F401 (re-exported)
    KubernetesLogSource,
    previous_log_lines,
)
from cockpit.backends.kubernetes.records import (  # noqa: F401 (re-exported)
    BACKEND,
    ERROR_GRACE,
    EVENT_MAX_AGE,
    HISTORY_KINDS,
    LIST_PAGE,
    LOG_BUFFER,
    LOG_POSITIONS,
    LOG_TAIL,
    MAX_EVENTS,
    MAX_LOG_STREAMS,
    METRICS_PREFIX,
    PENDING_AFTER,
    RESTART_THRESHOLD,
    SYNC_WAIT,
    WATCH_TIMEOUT,
    WORKLOAD_KINDS,
    age,
    event_alarms,
    last_termination,
    node_alarms,
    parse_time,
    pod_alarms,
    pod_ready,
    pod_restarts,
    pod_status_text,
    replicaset_deployments,
    rollout_state,
    selector_matches,
    split_ref,
    workload_of,
    workload_status,
)
from cockpit.backends.kubernetes.workloads import (  # noqa: F401 (re-exported)
    NODE_COLUMNS,
    KubernetesServicesSource,
    PodView,
    nodes_section,
    pod_metrics,
    pod_view,
    pods_section,
)

if TYPE_CHECKING:
    from cockpit.backends.base import LogSource, Source
    from cockpit.profile import KubernetesConfig, Profile


def _contexts(profile: Profile) -> list[tuple[KubeContext, KubernetesConfig]]:
    out = []
    for kc in profile.kubernetes:
        kubeconfig = getattr(kc, "kubeconfig", None)  # an optional field the profile may grow
        out.append((KubeContext(kc.context, kubeconfig=str(kubeconfig) if kubeconfig else None,
                                estate=kc.estate), kc))
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
]
