"""Records the Kubernetes screens show beyond the panes' rows: a workload's pods, and the
columns of the nodes table. Plain and frozen, like ``cockpit.model``: the Kubernetes backend
builds them, ``screens/k8s.py`` renders them without importing the backend.
"""

from __future__ import annotations

from dataclasses import dataclass

NODE_COLUMNS = ("node", "ready", "pressure", "scheduling", "version", "age", "cpu", "memory")


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
