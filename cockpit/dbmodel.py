"""Records for the database activity view: sessions (backends), the blocking tree, slow queries.

Plain frozen records and pure functions, like ``cockpit.model``: the PostgreSQL backend
builds them, ``screens/database.py`` and the detail sections render them. A ``Backend`` is
also an action target (cancel its query, terminate its session), so it carries the ``source``
the ActionRunner resolves and a ``name`` the user types for a typed confirmation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.@+-]+")


@dataclass(frozen=True)
class Backend:
    """One PostgreSQL server process serving a client session (a row of pg_stat_activity)."""

    pid: int
    source: str  # the hub source id (``pg:<name>``) that can cancel / terminate it
    user: str = ""
    application: str = ""
    client: str = ""  # address:port, or "local"
    database: str = ""
    state: str = ""  # active | idle | idle in transaction | ...
    wait_event: str = ""  # "Lock/transactionid", "" when not waiting
    duration_s: float | None = None  # of the current query (active) or transaction
    query: str = ""  # raw text from the estate: shown as plain text only
    blocked_by: tuple[int, ...] = ()  # pg_blocking_pids()
    lock_type: str = ""  # of the lock it waits for: "transactionid", "relation", "tuple"
    lock_mode: str = ""  # "ShareLock", "ExclusiveLock", ...
    relation: str = ""  # the relation of that lock, when it has one
    # With the pid, identifies the session: a pid reused by a new session is not acted on.
    backend_start: datetime | None = None

    @property
    def name(self) -> str:
        """What the user types to confirm: ``<application>:<pid>`` (``pid:<pid>`` unnamed).

        The application name comes from the client, so it is reduced to safe characters:
        a confirmation must never ask for control characters or spaces.
        """
        app = _UNSAFE_NAME.sub("_", self.application).strip("_")[:40]
        return f"{app}:{self.pid}" if app else f"pid:{self.pid}"

    @property
    def key(self) -> str:
        return f"{self.source}/backend/{self.pid}"

    @property
    def waiting_on_lock(self) -> bool:
        return bool(self.blocked_by)


@dataclass(frozen=True)
class SlowQuery:
    """One statement from pg_stat_statements (times in milliseconds)."""

    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    shared_hit: int
    shared_read: int

    @property
    def hit_ratio(self) -> float | None:
        total = self.shared_hit + self.shared_read
        return self.shared_hit / total if total else None


@dataclass(frozen=True)
class SlowQueries:
    """Top statements, or why there are none (``hint`` says how to enable the extension)."""

    by_mean: tuple[SlowQuery, ...] = ()
    by_total: tuple[SlowQuery, ...] = ()
    available: bool = True
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Activity:
    """What the activity screen shows for one database at one moment."""

    database: str
    source: str
    sessions: tuple[Backend, ...] = ()  # longest running first
    slow: SlowQueries = SlowQueries()


def sort_by_duration(sessions: Sequence[Backend]) -> list[Backend]:
    """Longest first; sessions with no running query or transaction last, by pid."""
    return sorted(
        sessions,
        key=lambda b: (b.duration_s is None, -(b.duration_s or 0.0), b.pid),
    )


def filter_sessions(sessions: Sequence[Backend], text: str) -> list[Backend]:
    """Sessions whose pid, user, application, client, state, wait event or query contain
    every word of ``text`` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return list(sessions)

    def hay(b: Backend) -> str:
        return " ".join(
            (str(b.pid), b.user, b.application, b.client, b.state, b.wait_event, b.query)
        ).lower()

    return [b for b in sessions if all(w in hay(b) for w in words)]


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    # now() - query_start can be a hair below zero (clock read before the query began)
    seconds = max(0.0, seconds)
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def one_line(query: str, limit: int = 120) -> str:
    """Query text collapsed to one line (whitespace runs to one space), cut with an ellipsis."""
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class TreeNode:
    backend: Backend
    depth: int


def blocking_tree(sessions: Sequence[Backend]) -> list[TreeNode]:
    """Who blocks whom, depth first: each root blocks others and waits for no one.

    A session blocked by several others appears under each of them (it is waiting for all
    of them). A cycle (a deadlock the server has not broken yet) has no root: its members
    are shown from the lowest pid, and a session is never nested under itself.
    """
    by_pid = {b.pid: b for b in sessions}
    children: dict[int, list[Backend]] = {}
    for b in sessions:
        for blocker in b.blocked_by:
            children.setdefault(blocker, []).append(b)
    for kids in children.values():
        kids.sort(key=lambda b: b.pid)
    involved = set(children) | {b.pid for b in sessions if b.blocked_by}
    roots = sorted(
        pid for pid in children if not (by_pid.get(pid) and by_pid[pid].blocked_by)
    )
    out: list[TreeNode] = []
    seen: set[int] = set()

    def walk(pid: int, depth: int, path: frozenset[int]) -> None:
        backend = by_pid.get(pid) or Backend(pid=pid, source="", state="(not visible)")
        out.append(TreeNode(backend, depth))
        seen.add(pid)
        for kid in children.get(pid, ()):
            if kid.pid not in path:
                walk(kid.pid, depth + 1, path | {kid.pid})

    for pid in roots:
        walk(pid, 0, frozenset({pid}))
    for pid in sorted(involved - seen):  # cycles: nobody is a root
        if pid not in seen:
            walk(pid, 0, frozenset({pid}))
    return out


def describe_node(b: Backend) -> str:
    """One line of the tree: pid, who, state, duration, the lock it waits for, the query."""
    who = "/".join(x for x in (b.user, b.application) if x) or "?"
    parts = [f"{b.pid} {who}", b.state or "?"]
    if b.duration_s is not None:
        parts.append(format_duration(b.duration_s))
    if b.blocked_by:
        what = " ".join(x for x in (b.lock_type, b.relation) if x) or "a lock"
        parts.append(f"waits for {b.lock_mode or 'a lock'} on {what}")
    if b.query:
        parts.append(one_line(b.query, 80))
    return " · ".join(parts)


def blocking_tree_lines(sessions: Sequence[Backend]) -> list[str]:
    """The tree as indented plain text lines (two spaces and ``└─`` per level)."""
    lines = []
    for node in blocking_tree(sessions):
        prefix = "  " * (node.depth - 1) + "└─ " if node.depth else ""
        lines.append(prefix + describe_node(node.backend))
    return lines
