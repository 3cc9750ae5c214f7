"""Plain frozen records the panes show.

One record type per pane, whatever the backend: ECS services, Kubernetes deployments and
systemd units are all ``ServiceStatus`` rows. Backends build these; widgets render them.
Nothing here knows about an SDK or about Textual. Every string field is estate text made
safe on construction (``cockpit.text.EstateText``): a record cannot carry an escape sequence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from cockpit.text import EstateText


class Severity(enum.IntEnum):
    """Ordered so that ``max()`` of several severities is the worst one."""

    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3
    UNKNOWN = 4  # no data: shown apart from OK, never hidden

    @property
    def symbol(self) -> str:
        # Status is never colour alone: every severity has a glyph too.
        return _SYMBOLS[self]

    @property
    def label(self) -> str:
        return self.name.lower()


_SYMBOLS = {
    Severity.OK: "●",
    Severity.INFO: "ℹ",
    Severity.WARNING: "▲",
    Severity.CRITICAL: "✖",
    Severity.UNKNOWN: "?",
}


class PaneKind(enum.StrEnum):
    SERVICES = "services"
    ALARMS = "alarms"
    LOGS = "logs"
    QUEUES = "queues"
    DATABASE = "database"


@dataclass(frozen=True)
class Deployment(EstateText):
    _free_text = ("rollout_reason",)

    id: str
    status: str  # PRIMARY | ACTIVE | ...
    task_definition: str  # family:revision
    desired: int
    running: int
    pending: int
    failed: int = 0
    rollout_state: str = ""  # IN_PROGRESS | COMPLETED | FAILED
    rollout_reason: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class ServiceStatus(EstateText):
    """A running thing with a desired and an actual count (ECS service, Deployment, unit)."""

    _free_text = ("events",)

    name: str
    backend: str  # "ecs", "kubernetes", "host"
    source: str  # the hub source id that produced it
    status: Severity
    status_text: str  # "healthy", "degraded", "down", "deploying", ...
    running: int
    desired: int
    pending: int = 0
    deployment: str = ""  # "COMPLETED", "IN_PROGRESS 2/4", ...
    task_definition: str = ""  # family:revision or image
    created_at: datetime | None = None
    cluster: str = ""  # ECS cluster / k8s namespace / host name
    deployments: tuple[Deployment, ...] = ()
    events: tuple[tuple[datetime, str], ...] = ()  # newest first
    # metric name -> its last values, oldest first (e.g. ("cpu", (41.0, 46.5, ...))): sparklines
    metrics: tuple[tuple[str, tuple[float, ...]], ...] = ()
    estate: str = ""  # the AWS account/region or Kubernetes context it is in (profile's name)

    @property
    def key(self) -> str:
        return f"{self.source}/{self.cluster}/{self.name}"


@dataclass(frozen=True)
class Alarm(EstateText):
    _free_text = ("reason",)

    name: str
    source: str
    severity: Severity
    state: str  # ALARM | OK | INSUFFICIENT_DATA | firing ...
    reason: str  # text from the estate: plain text only
    since: datetime | None = None
    resource: str = ""  # what it concerns (service, queue, host)
    threshold: str = ""  # "CPUUtilization > 80"
    estate: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


class LogLevel(enum.IntEnum):
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40


@dataclass(frozen=True)
class LogRecord(EstateText):
    _free_text = ("text",)

    time: datetime
    source: str  # "api/ecs-task-1", host name, pod
    level: LogLevel
    text: str  # from the estate, made safe on construction (one line, colour dropped)
    id: str = ""  # backend-unique id (CloudWatch eventId) for de-duplication


@dataclass(frozen=True)
class QueueStatus(EstateText):
    name: str
    backend: str  # "sqs", "redis"
    source: str
    depth: int | None  # None: unknown (a Redis key that is missing or not a queue)
    in_flight: int | None = None
    dlq_name: str = ""
    dlq_depth: int | None = None
    oldest_age_s: float | None = None
    severity: Severity = Severity.OK
    url: str = ""
    history: tuple[float, ...] = ()  # recent depths, oldest first (for a sparkline)
    # "list", "stream", "zset", "missing", or a detected convention: "celery", "rq", "bullmq"
    kind: str = ""
    note: str = ""  # what the depth is (a stream's backlog of which group), or why none
    estate: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


@dataclass(frozen=True)
class DatabaseSnapshot(EstateText):
    _free_text = ("longest_query",)

    name: str
    backend: str  # "postgres", "rds", "redis"
    source: str
    connections: int | None = None
    max_connections: int | None = None
    active: int | None = None
    idle_in_transaction: int | None = None
    longest_query_s: float | None = None
    longest_query: str = ""  # query text: plain text only
    blocked: int | None = None
    size_bytes: int | None = None
    status: str = ""  # "available", "up", engine status
    severity: Severity = Severity.OK
    detail: tuple[tuple[str, str], ...] = field(default=())  # extra key/value lines
    # Throughput and replication; None when the backend cannot tell (rates: first refresh).
    tps: float | None = None  # committed transactions per second since the previous refresh
    rollbacks_per_s: float | None = None
    cache_hit_ratio: float | None = None  # 0..1: buffer (or keyspace) hits / lookups
    temp_bytes: int | None = None  # written to temporary files since the stats reset
    role: str = ""  # "primary" | "replica" | "" (unknown)
    replication_lag_s: float | None = None  # replica: its replay lag; primary: worst replica's
    replication_lag_bytes: int | None = None
    estate: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


# What a source's fetch returns and a table pane shows, whatever the backend: the records
# that cross the hub in a ``SourceUpdate`` (logs cross it as ``LogBatch``es of LogRecord).
PaneRecord: TypeAlias = ServiceStatus | Alarm | QueueStatus | DatabaseSnapshot

# The record type of each table pane: a source feeds its pane only these.
PANE_RECORDS: dict[PaneKind, type[PaneRecord]] = {
    PaneKind.SERVICES: ServiceStatus,
    PaneKind.ALARMS: Alarm,
    PaneKind.QUEUES: QueueStatus,
    PaneKind.DATABASE: DatabaseSnapshot,
}


@dataclass(frozen=True)
class DetailSection(EstateText):
    """A titled table of plain text that a backend adds to a row's detail screen.

    ``lines`` is for free text (a log tail, a query): shown as plain text under the table.
    """

    _free_text = ("lines",)

    title: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[str, ...] = ()
