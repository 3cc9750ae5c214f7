"""In-process sources for UI tests that need no backend (the lab tests use real ones)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from cockpit.model import (
    Alarm,
    DatabaseSnapshot,
    LogLevel,
    LogRecord,
    PaneKind,
    QueueStatus,
    ServiceStatus,
    Severity,
)
from cockpit.profile import Profile
from cockpit.sources import Sources

T0 = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)
NOW = datetime.now(UTC)  # ages are relative to now so snapshots stay stable


class ListSource:
    def __init__(self, sid: str, pane: PaneKind, records: list, title: str | None = None):
        self.id, self.pane, self.title = sid, pane, title or sid
        self.records = records
        self.fail: str | None = None
        self.calls = 0

    async def fetch(self):
        self.calls += 1
        if self.fail:
            from cockpit.errors import BackendError

            raise BackendError(self.fail, "check the endpoint")
        return list(self.records)

    async def close(self):
        pass


class QueueLogs:
    id = "fake:logs"
    title = "fake logs"

    def __init__(self):
        self.queue: asyncio.Queue[list[LogRecord]] = asyncio.Queue()

    def push(self, *texts: str, level=LogLevel.INFO, source="api/task-1", when=None):
        when = when or datetime.now(UTC)
        self.queue.put_nowait([LogRecord(when, source, level, t) for t in texts])

    async def follow(self):
        while True:
            yield await self.queue.get()

    async def close(self):
        pass


def services() -> list[ServiceStatus]:
    return [
        ServiceStatus("api", "ecs", "fake:ecs", Severity.OK, "healthy", 2, 2, deployment="COMPLETED",
                      task_definition="api:2", created_at=NOW - timedelta(days=2, minutes=5), cluster="production"),
        ServiceStatus("worker", "ecs", "fake:ecs", Severity.WARNING, "degraded", 2, 3,
                      deployment="COMPLETED", task_definition="worker:2",
                      created_at=NOW - timedelta(hours=5, minutes=5), cluster="production"),
    ]


def alarms() -> list[Alarm]:
    return [Alarm("api-5xx-error-rate", "fake:alarms", Severity.CRITICAL, "ALARM",
                  "Threshold Crossed: 1 datapoint [1.2] > 0.5", since=T0, resource="api")]


def queues() -> list[QueueStatus]:
    return [QueueStatus("jobs", "sqs", "fake:sqs", 25, 0, "jobs-dlq", 4, severity=Severity.WARNING)]


def databases() -> list[DatabaseSnapshot]:
    return [DatabaseSnapshot("prod-postgresql", "rds", "fake:rds", status="available")]


class FakeEstate:
    def __init__(self) -> None:
        self.services = ListSource("fake:ecs", PaneKind.SERVICES, services(), "ECS production")
        self.alarms = ListSource("fake:alarms", PaneKind.ALARMS, alarms(), "CloudWatch alarms")
        self.queues = ListSource("fake:sqs", PaneKind.QUEUES, queues(), "SQS")
        self.database = ListSource("fake:rds", PaneKind.DATABASE, databases(), "RDS")
        self.logs = QueueLogs()

    def factory(self, profile: Profile, notes: dict[str, str]) -> Sources:
        return Sources([self.services, self.alarms, self.queues, self.database], [self.logs])
