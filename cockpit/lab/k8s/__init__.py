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

By default it is not a controller manager: a workload's status changes only when a test
says so (``set_workload_status``, ``reconcile``), which is what makes tests deterministic.
The lab's cluster runs ``controller`` (a Deployment/ReplicaSet controller: rollouts within
surge/unavailable limits, scale, replaced pods, history for undo), so kubectl and the cockpit
see a cluster that acts. Every write honours ``dryRun=All``; ``GET`` answers a ``Table`` when
asked (``tables``); discovery has short names and the ``all`` category (``discovery``).
Every request is recorded (``state.requests``) so a test can assert the exact PATCH/DELETE
a client sent.

Its rooms: ``store`` (the objects and what acts on them), ``http`` (the REST face),
``patch`` (patches and selectors), ``builders`` (object parts), ``seed`` (the lab's cluster),
``controller``, ``tables``, ``discovery``.
"""

from __future__ import annotations

from cockpit.lab.k8s.builders import (  # noqa: F401 (re-exported)
    HISTORY,
    METRICS_GV,
    RESOURCES,
    _status,
    now_iso,
)
from cockpit.lab.k8s.controller import (  # noqa: F401 (re-exported)
    DeploymentController,
    start_controller,
)
from cockpit.lab.k8s.http import (  # noqa: F401 (re-exported)
    _Handler,
    _Server,
    start_double,
    write_kubeconfig,
)
from cockpit.lab.k8s.patch import (  # noqa: F401 (re-exported)
    json_patch,
    merge_patch,
)
from cockpit.lab.k8s.seed import (  # noqa: F401 (re-exported)
    LAB_CONTEXT,
    LAB_NAMESPACE,
    animate_repo_scanner,
    lab_kubernetes,
    seed_repo_scanner,
)
from cockpit.lab.k8s.store import (  # noqa: F401 (re-exported)
    K8sState,
)
