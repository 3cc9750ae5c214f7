"""Records for the database activity view: sessions, the blocking tree, slow queries.

Plain frozen records and pure functions, like ``cockpit.model``: the PostgreSQL backend
builds them, ``screens/database.py`` and the detail sections render them. A ``Session`` is
also an action target (cancel its query, terminate its session), so it carries the ``source``
the ActionRunner resolves and a ``name`` the user types for a typed confirmation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cockpit.model import DetailSection
from cockpit.text import EstateText, sanitize
from cockpit.units import format_bytes

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.@+-]+")


@dataclass(frozen=True)
class Session(EstateText):
    """One client session of a database: a row of pg_stat_activity (PostgreSQL calls the
    server process serving it a "backend"; here a backend is a source, so this is a Session)."""

    _free_text = ("query",)

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
class SlowQuery(EstateText):
    """One statement from pg_stat_statements (times in milliseconds)."""

    _free_text = ("query",)

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
class SlowQueries(EstateText):
    """Top statements, or why there are none (``hint`` says how to enable the extension)."""

    _free_text = ("message", "hint")

    by_mean: tuple[SlowQuery, ...] = ()
    by_total: tuple[SlowQuery, ...] = ()
    available: bool = True
    message: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Activity(EstateText):
    """What the activity screen shows for one database at one moment."""

    _trusted = ("sessions",)  # records, each clean in its own right

    database: str
    source: str
    sessions: tuple[Session, ...] = ()  # longest running first
    slow: SlowQueries = SlowQueries()


def sort_by_duration(sessions: Sequence[Session]) -> list[Session]:
    """Longest first; sessions with no running query or transaction last, by pid."""
    return sorted(
        sessions,
        key=lambda b: (b.duration_s is None, -(b.duration_s or 0.0), b.pid),
    )


def filter_sessions(sessions: Sequence[Session], text: str) -> list[Session]:
    """Sessions whose pid, user, application, client, state, wait event or query contain
    every word of ``text`` (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return list(sessions)

    def hay(b: Session) -> str:
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


SESSION_COLUMNS = ("pid", "user", "application", "client", "state", "wait", "duration", "query")


def session_cells(s: Session, query_width: int = 120) -> tuple[str, ...]:
    """One row of the sessions table, on the activity screen and in the detail alike: plain
    text, sanitised (query text and names come from the clients)."""
    return tuple(
        sanitize(v, 400)
        for v in (
            str(s.pid), s.user, s.application, s.client, s.state, s.wait_event,
            format_duration(s.duration_s), one_line(s.query, query_width),
        )
    )  # fmt: skip


def one_line(query: str, limit: int = 120) -> str:
    """Query text collapsed to one line (whitespace runs to one space), cut with an ellipsis."""
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class TreeNode:
    session: Session
    depth: int


def blocking_tree(sessions: Sequence[Session]) -> list[TreeNode]:
    """Who blocks whom, depth first: each root blocks others and waits for no one.

    A session blocked by several others appears under each of them (it is waiting for all
    of them). A cycle (a deadlock the server has not broken yet) has no root: its members
    are shown from the lowest pid, and a session is never nested under itself.
    """
    by_pid = {b.pid: b for b in sessions}
    children: dict[int, list[Session]] = {}
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
        session = by_pid.get(pid) or Session(pid=pid, source="", state="(not visible)")
        out.append(TreeNode(session, depth))
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


def describe_node(b: Session) -> str:
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


def blocking_tree_lines(sessions: Sequence[Session]) -> list[str]:
    """The tree as indented plain text lines (two spaces and ``└─`` per level)."""
    lines = []
    for node in blocking_tree(sessions):
        prefix = "  " * (node.depth - 1) + "└─ " if node.depth else ""
        lines.append(prefix + describe_node(node.session))
    return lines


@dataclass(frozen=True)
class DatabaseStats:
    """pg_stat_database counters of one database at one moment (``at_s``: server clock)."""

    at_s: float
    commits: int
    rollbacks: int
    blks_hit: int
    blks_read: int
    temp_bytes: int
    temp_files: int

    @property
    def hit_ratio(self) -> float | None:
        """Buffer cache hits over all block reads since the stats reset; None before any."""
        total = self.blks_hit + self.blks_read
        return self.blks_hit / total if total else None

    def rates_since(self, before: DatabaseStats | None) -> tuple[float | None, float | None]:
        """(commits/s, rollbacks/s) since ``before``; None on the first refresh, when no time
        passed, or when the counters went down (pg_stat_reset, a failover to another server)."""
        if before is None:
            return None, None
        dt = self.at_s - before.at_s
        dc = self.commits - before.commits
        dr = self.rollbacks - before.rollbacks
        if dt <= 0 or dc < 0 or dr < 0:
            return None, None
        return dc / dt, dr / dt


def stats_lines(
    stats: DatabaseStats, tps: float | None, rollbacks_per_s: float | None, since: object
) -> list[tuple[str, str]]:
    """Key/value detail lines for the counters (``since``: pg_stat_database.stats_reset)."""
    after = f" since {since:%Y-%m-%d %H:%M}" if isinstance(since, datetime) else ""
    hit = stats.hit_ratio
    return [
        (
            "transactions/s",
            "next refresh" if tps is None else f"{tps:.1f} committed, {rollbacks_per_s or 0:.1f} rolled back",
        ),
        # Rounded down, as the row's figure: 99.996 % must not read as a perfect 100.00 %.
        (
            "cache hit ratio",
            "no reads yet" if hit is None else f"{math.floor(hit * 1e4) / 100:.2f} %{after}",
        ),
        ("temp files", f"{stats.temp_files} ({format_bytes(stats.temp_bytes)}){after}"),
    ]


@dataclass(frozen=True)
class ReplicaLag(EstateText):
    """One row of pg_stat_replication on a primary (lags in seconds; None = unknown)."""

    name: str
    client: str
    state: str
    sync: str
    bytes_behind: int | None
    write_lag_s: float | None
    flush_lag_s: float | None
    replay_lag_s: float | None

    @classmethod
    def from_json(cls, d: dict[str, object]) -> ReplicaLag:
        def f(key: str) -> float | None:
            v = d.get(key)
            return None if v is None else float(v)  # type: ignore[arg-type]

        b = f("bytes")
        return cls(
            name=str(d.get("name") or ""), client=str(d.get("client") or ""),
            state=str(d.get("state") or ""), sync=str(d.get("sync") or ""),
            bytes_behind=None if b is None else int(b),
            write_lag_s=f("write_s"), flush_lag_s=f("flush_s"), replay_lag_s=f("replay_s"),
        )  # fmt: skip

    @property
    def label(self) -> str:
        return self.name or self.client or "?"

    def row(self) -> tuple[str, ...]:
        def lag(s: float | None) -> str:
            # NULL lag columns: the replica is caught up and idle (or we may not read them).
            return "–" if s is None else format_duration(s)

        return (
            self.name, self.client, self.state, self.sync, format_bytes(self.bytes_behind, "unknown"),
            lag(self.write_lag_s), lag(self.flush_lag_s), lag(self.replay_lag_s),
        )  # fmt: skip


@dataclass(frozen=True)
class Replication(EstateText):
    """Where this server stands in replication, from the same round trip as the counters."""

    role: str  # "primary" | "replica"
    replay_lag_bytes: int | None = None  # replica: received but not yet replayed
    replay_lag_s: float | None = None  # replica: 0 when all received WAL is replayed
    last_replay_age_s: float | None = None  # replica: age of the last replayed transaction
    receiver_status: str = ""  # replica: pg_stat_wal_receiver.status ("streaming")
    replicas: tuple[ReplicaLag, ...] = ()  # primary (or cascading replica)

    @property
    def lag_s(self) -> float | None:
        """A replica's replay lag; on a primary the worst replica's replay lag."""
        if self.role == "replica":
            return self.replay_lag_s
        lags = [r.replay_lag_s for r in self.replicas if r.replay_lag_s is not None]
        if lags:
            return max(lags)
        # Streaming and caught up: pg_stat_replication clears the lag columns when idle.
        return 0.0 if any(r.bytes_behind == 0 for r in self.replicas) else None

    @property
    def lag_bytes(self) -> int | None:
        if self.role == "replica":
            return self.replay_lag_bytes
        behind = [r.bytes_behind for r in self.replicas if r.bytes_behind is not None]
        return max(behind) if behind else None

    def replica_lines(self) -> tuple[str, ...]:
        return (
            f"WAL receiver: {self.receiver_status or 'not running'}",
            f"replay lag: {format_bytes(self.replay_lag_bytes, 'unknown')} received but not replayed, "
            f"{format_duration(self.replay_lag_s) or 'unknown'}",
            "last replayed transaction: "
            + (f"{format_duration(self.last_replay_age_s)} ago" if self.last_replay_age_s is not None else "none yet"),
        )

    def lines(self) -> list[tuple[str, str]]:
        """Key/value detail lines: the role, then the lag (replica) or one line per replica."""
        if self.role == "replica":
            return [
                ("role", f"replica (WAL receiver {self.receiver_status or 'not running'})"),
                ("replay lag", f"{format_bytes(self.replay_lag_bytes, 'unknown')}, "
                               f"{format_duration(self.replay_lag_s) or 'unknown'}"),
            ]  # fmt: skip
        out = [("role", f"primary, {len(self.replicas)} replica(s) streaming")]
        for r in self.replicas:
            replay = "–" if r.replay_lag_s is None else format_duration(r.replay_lag_s)
            # Without pg_read_all_stats (pg_monitor) a sender's state and LSNs read NULL.
            state = r.state or "state hidden (grant pg_monitor)"
            out.append(
                (
                    f"replica {r.label}",
                    f"{state}, {format_bytes(r.bytes_behind, 'unknown')} behind, replay lag {replay}",
                )
            )
        return out


# --- detail sections: the records above as the detail screen shows them ---------------


def activity_sections(activity: Activity, limit: int = 20) -> list[DetailSection]:
    """Top sessions, the blocking tree as indented lines, and the slow statements."""
    sessions = activity.sessions
    top = DetailSection(
        title=f"Sessions, longest first ({min(limit, len(sessions))} of {len(sessions)})",
        columns=SESSION_COLUMNS,
        rows=tuple(session_cells(s) for s in sessions[:limit]),
        lines=() if sessions else ("no other session is connected to this database",),
    )
    tree = blocking_tree_lines(sessions)
    blocking = DetailSection(
        title="Blocking tree (who blocks whom)",
        lines=tuple(tree) or ("no session is waiting for a lock",),
    )
    return [top, blocking, *slow_sections(activity.slow)]


def slow_sections(slow: SlowQueries) -> list[DetailSection]:
    if not slow.available:
        return [
            DetailSection(
                title="Slow queries (pg_stat_statements)",
                lines=(slow.message, f"to enable it: {slow.hint}"),
            )
        ]
    columns = ("mean", "total", "calls", "rows", "cache hit", "query")

    def rows(items: tuple[SlowQuery, ...]) -> tuple[tuple[str, ...], ...]:
        return tuple(
            (
                f"{q.mean_ms:.1f} ms", f"{q.total_ms / 1000:.1f} s", str(q.calls), str(q.rows),
                f"{100 * q.hit_ratio:.0f} %" if q.hit_ratio is not None else "",
                one_line(q.query),
            )
            for q in items
        )  # fmt: skip

    empty = () if slow.by_mean else ("pg_stat_statements has no statements for this database yet",)
    return [
        DetailSection("Slow queries by mean time", columns, rows(slow.by_mean), empty),
        DetailSection("Slow queries by total time", columns, rows(slow.by_total)),
    ]


def replication_section(repl: Replication) -> DetailSection:
    """On a replica its replay lag; on a primary one row per connected replica."""
    if repl.role == "replica":
        return DetailSection(title="Replication (this server is a replica)", lines=repl.replica_lines())
    columns = ("replica", "client", "state", "sync", "bytes behind", "write lag", "flush lag", "replay lag")
    rows = tuple(r.row() for r in repl.replicas)
    return DetailSection(
        title="Replication (replicas of this primary, from pg_stat_replication)",
        columns=columns,
        rows=rows,
        lines=() if rows else ("no replica is streaming from this server",),
    )
