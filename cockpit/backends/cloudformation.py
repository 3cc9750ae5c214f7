"""CloudFormation stacks that are stuck -> ``Alarm`` rows.

A stack raises an alarm when it sits in a ``*_FAILED`` state that needs a human
(``UPDATE_ROLLBACK_FAILED``, ``ROLLBACK_FAILED``, ``DELETE_FAILED``) or in a
``*_IN_PROGRESS`` state for longer than ``aws.stack_stuck_minutes``; the alarm carries the
stack's status reason. One paginated DescribeStacks a refresh covers every stack.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.aws import AwsContext, utc
from cockpit.model import Alarm, DetailSection, PaneKind, Severity

FAILED_STATES = frozenset({"UPDATE_ROLLBACK_FAILED", "ROLLBACK_FAILED", "DELETE_FAILED"})
DETAIL_EVENTS = 20


def matches(name: str, patterns: tuple[str, ...]) -> bool:
    """A configured name, or ``prefix*``."""
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} days"


def stack_alarm(
    stack: dict[str, Any], *, source: str, stuck_after: timedelta, now: datetime, estate: str = ""
) -> Alarm | None:
    """The alarm for one DescribeStacks stack, or None when it is fine (pure; tested)."""
    name = str(stack.get("StackName", ""))
    status = str(stack.get("StackStatus", ""))
    reason = str(stack.get("StackStatusReason", "") or "")
    since = utc(stack.get("LastUpdatedTime")) or utc(stack.get("CreationTime"))
    threshold = f"*_IN_PROGRESS > {_duration(stuck_after)} or *_FAILED"
    if status in FAILED_STATES:
        return Alarm(
            name=f"stack {name}",
            source=source,
            severity=Severity.CRITICAL,
            state=status,
            # The exact state first: the pane's status column says it in a short word.
            reason=f"{status}: {reason or 'needs a human (continue-update-rollback or delete)'}",
            since=since,
            resource=name,
            threshold=threshold,
            estate=estate,
        )
    if status.endswith("_IN_PROGRESS") and since is not None and now - since > stuck_after:
        stuck = f"{status} for {_duration(now - since)}"
        return Alarm(
            name=f"stack {name}",
            source=source,
            severity=Severity.WARNING,
            state=status,
            reason=f"{stuck}: {reason}" if reason else stuck,
            since=since,
            resource=name,
            threshold=threshold,
            estate=estate,
        )
    return None


class StacksSource:
    """Alarms for the profile's stuck CloudFormation stacks (names or ``prefix*``)."""

    min_interval = 30.0  # a stack is "stuck" after 30 min: asking every 30 s is plenty
    pane = PaneKind.ALARMS

    def __init__(self, ctx: AwsContext, stacks: tuple[str, ...], stuck_minutes: float) -> None:
        self.ctx = ctx
        self.stacks = stacks
        self.stuck_after = timedelta(minutes=stuck_minutes)
        self.id = f"aws:cloudformation{ctx.tag}"
        self.title = f"CloudFormation stacks{ctx.suffix}"
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        return self.ctx.client("cloudformation")

    async def fetch(self) -> list[Alarm]:
        return await self.ctx.run("CloudFormation stacks", self._fetch_sync, counter=self.id)

    def _fetch_sync(self) -> list[Alarm]:
        cf = self.client
        now = datetime.now(UTC)
        seen: set[str] = set()
        alarms: list[Alarm] = []
        for page in cf.get_paginator("describe_stacks").paginate():
            for stack in page.get("Stacks", []):
                name = str(stack.get("StackName", ""))
                if not matches(name, self.stacks):
                    continue
                seen.add(name)
                alarm = stack_alarm(stack, source=self.id, stuck_after=self.stuck_after, now=now,
                                    estate=self.ctx.estate)
                if alarm is not None:
                    alarms.append(alarm)
        for name in self.stacks:
            if not name.endswith("*") and name not in seen:
                alarms.append(
                    Alarm(
                        name=f"stack {name}",
                        source=self.id,
                        severity=Severity.UNKNOWN,
                        state="NOT_FOUND",
                        reason=f"stack {name} does not exist in {self.ctx.region or 'the region'}",
                        resource=name,
                        estate=self.ctx.estate,
                    )
                )
        alarms.sort(key=lambda a: (-a.severity, a.name))
        return alarms

    def explain_command(self) -> list[str]:
        return self.ctx.cli(
            "cloudformation",
            "describe-stacks",
            "--query",
            "Stacks[].[StackName,StackStatus,LastUpdatedTime,StackStatusReason]",
        )

    async def detail(self, record: Any) -> list[DetailSection]:
        if not isinstance(record, Alarm) or not record.resource:
            return []

        def call() -> list[DetailSection]:
            resp = self.client.describe_stack_events(StackName=record.resource)
            rows = []
            for ev in resp.get("StackEvents", [])[:DETAIL_EVENTS]:
                t = utc(ev.get("Timestamp"))
                rows.append(
                    (
                        t.strftime("%Y-%m-%d %H:%M:%S") if t else "",
                        str(ev.get("LogicalResourceId", "")),
                        str(ev.get("ResourceStatus", "")),
                        str(ev.get("ResourceStatusReason", "") or ""),
                    )
                )
            return [
                DetailSection(
                    f"Stack events of {record.resource} (latest {len(rows)})",
                    ("time", "resource", "status", "reason"),
                    tuple(rows),
                )
            ]

        return await self.ctx.run(f"events of stack {record.resource}", call)

    async def close(self) -> None:
        await self.ctx.release(self)
