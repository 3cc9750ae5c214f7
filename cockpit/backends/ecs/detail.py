"""A service's detail: deployments and events, task definition, load balancer figures, and
the last lines of its log group.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from cockpit.backends.aws import utc
from cockpit.backends.ecs.metrics import _Metrics
from cockpit.backends.ecs.records import (
    DESCRIBE_BATCH,
    DETAIL_EVENTS,
    DETAIL_LOG_LINES,
    DETAIL_LOG_PAGES,
    DETAIL_LOG_WINDOW_S,
    LB_SHOWN,
    TaskDefinitionInfo,
    short_task_definition,
)
from cockpit.errors import BackendError
from cockpit.model import DetailSection, ServiceStatus


class _Detail(_Metrics):
    """The detail room of ``EcsServicesSource``."""

    async def detail(self, record: Any) -> list[DetailSection]:
        if not isinstance(record, ServiceStatus):
            return []
        return await self.ctx.run(f"details of {record.name}", self._detail_sync, record)

    def _detail_sync(self, record: ServiceStatus) -> list[DetailSection]:
        ecs = self.client
        resp = ecs.describe_services(cluster=self._cluster_of(record), services=[record.name])
        if not resp.get("services"):
            raise BackendError(
                f"ECS service {record.name} not found in {self._cluster_of(record)}",
                "it may have been deleted; the next refresh drops it",
            )
        svc = resp["services"][0]
        cache = self.task_definitions

        def info(td: str) -> TaskDefinitionInfo | None:
            if not td:
                return None
            return cache.info(td) or cache.lookup(ecs, td)

        sections: list[DetailSection] = []
        rows = []
        for d in svc.get("deployments", []) or []:
            td = short_task_definition(str(d.get("taskDefinition", "") or ""))
            ti = info(td)
            created = utc(d.get("createdAt"))
            rows.append(
                (
                    str(d.get("status", "")),
                    td,
                    ti.image if ti else "",
                    f"{d.get('runningCount', 0)}/{d.get('pendingCount', 0)}/"
                    f"{d.get('desiredCount', 0)}",
                    str(d.get("failedTasks", 0) or 0),
                    " ".join(
                        x for x in (d.get("rolloutState", ""), d.get("rolloutStateReason", "")) if x
                    ),
                    created.strftime("%Y-%m-%d %H:%M:%S") if created else "",
                )
            )
        breaker = (svc.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
        lines = (
            (
                "circuit breaker: "
                + ("on" if breaker.get("enable") else "off")
                + (
                    ", rolls back on failure"
                    if breaker.get("rollback")
                    else ", no automatic rollback"
                )
            ),
        )
        sections.append(
            DetailSection(
                "Deployments",
                ("status", "revision", "image", "run/pend/des", "failed", "rollout", "created"),
                tuple(rows),
                lines,
            )
        )
        events = sorted(
            (
                (t, str(e.get("message", "")))
                for e in svc.get("events", []) or []
                if (t := utc(e.get("createdAt"))) is not None
            ),
            key=lambda ev: ev[0],
            reverse=True,
        )[:DETAIL_EVENTS]
        sections.append(
            DetailSection(
                f"Events (latest {len(events)})",
                ("time", "message"),
                tuple((t.strftime("%Y-%m-%d %H:%M:%S"), m) for t, m in events),
            )
        )
        if self.metrics_error:
            sections.append(
                DetailSection("Metrics", lines=(f"cannot read metrics: {self.metrics_error}",))
            )
        percent = tuple((n, v) for n, v in record.metrics if n not in LB_SHOWN)
        if percent:
            sections.append(
                DetailSection(
                    "Metrics, last hour (1-minute averages, %)",
                    ("metric", "min", "avg", "max", "last", "points"),
                    tuple(
                        (
                            name,
                            f"{min(v):.1f}",
                            f"{sum(v) / len(v):.1f}",
                            f"{max(v):.1f}",
                            f"{v[-1]:.1f}",
                            str(len(v)),
                        )
                        for name, v in percent
                        if v
                    ),
                )
            )
        lb_section = self._lb_section(record)
        if lb_section is not None:
            sections.append(lb_section)
        current = info(short_task_definition(str(svc.get("taskDefinition", "") or "")))
        if current is not None:
            sections.append(
                DetailSection(
                    f"Task definition {current.name}",
                    ("container", "image", "cpu", "memory"),
                    current.containers,
                )
            )
            try:
                sections.append(self._log_tail(current))
            except Exception as e:  # the rest of the detail is still worth showing
                err = self.ctx.translate(e, "logs")
                sections.append(
                    DetailSection(
                        "Logs",
                        lines=tuple(
                            x for x in (f"cannot read the log tail: {err.message}", err.hint) if x
                        ),
                    )
                )
        return sections

    def _log_tail(self, td: TaskDefinitionInfo) -> DetailSection:
        """The last 50 lines the service's containers wrote (awslogs), oldest first."""
        if not td.logs:
            return DetailSection("Logs", lines=("no awslogs log configuration in " + td.name,))
        logs = self.ctx.client("logs")
        start = int(time.time() * 1000) - DETAIL_LOG_WINDOW_S * 1000
        found: dict[str, tuple[int, str, str]] = {}
        for container, group, prefix in td.logs:
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": start,
                "interleaved": True,
            }
            if prefix:
                # awslogs streams are prefix/container/task-id: only this service's tasks.
                kwargs["logStreamNamePrefix"] = f"{prefix}/{container}/"
            for _ in range(DETAIL_LOG_PAGES):
                page = logs.filter_log_events(**kwargs)
                for ev in page.get("events", []):
                    stream = str(ev.get("logStreamName", ""))
                    # Checked here too: some endpoints (moto) ignore logStreamNamePrefix.
                    if not stream.startswith(kwargs.get("logStreamNamePrefix", "")):
                        continue
                    eid = str(ev.get("eventId", ""))
                    found[eid] = (
                        int(ev.get("timestamp", 0)),
                        stream,
                        str(ev.get("message", "")).rstrip("\n"),
                    )
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        last = sorted(found.values())[-DETAIL_LOG_LINES:]
        groups = ", ".join(sorted({g for _, g, _ in td.logs}))
        return DetailSection(
            f"Logs: last {len(last)} lines ({groups}, last {DETAIL_LOG_WINDOW_S // 60} min)",
            lines=tuple(
                f"{datetime.fromtimestamp(ts / 1000, tz=UTC):%H:%M:%S} "
                f"{stream.rsplit('/', 1)[-1][:8]} {text}"
                for ts, stream, text in last
            )
            or ("no log lines in the last 30 minutes",),
        )

    def explain_command(self) -> list[str]:
        names = self._last_names
        if names and len(names) <= DESCRIBE_BATCH:
            return self.ctx.cli(
                "ecs", "describe-services", "--cluster", self.cluster.cluster, "--services", *names
            )
        return self.ctx.cli("ecs", "list-services", "--cluster", self.cluster.cluster)
