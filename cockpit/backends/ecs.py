"""ECS services of one cluster -> ``ServiceStatus`` rows; restart, scale, roll back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cockpit.backends.aws import AwsContext, utc
from cockpit.errors import BackendError
from cockpit.model import Deployment, PaneKind, ServiceStatus, Severity
from cockpit.profile import EcsCluster

DESCRIBE_BATCH = 10  # DescribeServices accepts at most 10 services a call
MAX_EVENTS = 20


def short_task_definition(arn: str) -> str:
    """``arn:...:task-definition/api:3`` -> ``api:3`` (a bare ``api:3`` stays as it is)."""
    return arn.rsplit("/", 1)[-1] if arn else ""


def service_status(svc: dict[str, Any], *, source: str, cluster: str) -> ServiceStatus:
    """Turn one DescribeServices service into a row (pure; tested against dicts)."""
    running = int(svc.get("runningCount", 0) or 0)
    desired = int(svc.get("desiredCount", 0) or 0)
    pending = int(svc.get("pendingCount", 0) or 0)
    deployments = tuple(_deployment(d) for d in svc.get("deployments", []) or [])
    primary = next((d for d in deployments if d.status == "PRIMARY"), None)

    if primary is not None and primary.rollout_state == "FAILED":
        severity, text = Severity.CRITICAL, "failed"
    elif desired > 0 and running == 0:
        severity, text = Severity.CRITICAL, "down"
    elif running < desired:
        severity, text = Severity.WARNING, "degraded"
    elif primary is not None and primary.rollout_state == "IN_PROGRESS":
        severity, text = Severity.INFO, "deploying"
    else:
        severity, text = Severity.OK, "healthy"

    deployment = ""
    if primary is not None:
        state = primary.rollout_state or primary.status
        if state == "IN_PROGRESS":
            deployment = f"IN_PROGRESS {primary.running}/{primary.desired}"
        elif state == "FAILED" and primary.failed:
            deployment = f"FAILED ({primary.failed} tasks failed)"
        else:
            deployment = state
        if len(deployments) > 1 and state != "IN_PROGRESS":
            deployment += f" +{len(deployments) - 1}"

    events: list[tuple[datetime, str]] = [
        (t, str(e.get("message", "")))
        for e in svc.get("events", []) or []
        if (t := utc(e.get("createdAt"))) is not None
    ]
    events.sort(key=lambda ev: ev[0], reverse=True)

    return ServiceStatus(
        name=str(svc.get("serviceName", "")),
        backend="ecs",
        source=source,
        status=severity,
        status_text=text,
        running=running,
        desired=desired,
        pending=pending,
        deployment=deployment,
        task_definition=short_task_definition(str(svc.get("taskDefinition", "") or "")),
        created_at=utc(svc.get("createdAt")),
        cluster=cluster,
        deployments=deployments,
        events=tuple(events[:MAX_EVENTS]),
    )


def _deployment(d: dict[str, Any]) -> Deployment:
    return Deployment(
        id=str(d.get("id", "")),
        status=str(d.get("status", "")),
        task_definition=short_task_definition(str(d.get("taskDefinition", "") or "")),
        desired=int(d.get("desiredCount", 0) or 0),
        running=int(d.get("runningCount", 0) or 0),
        pending=int(d.get("pendingCount", 0) or 0),
        failed=int(d.get("failedTasks", 0) or 0),
        rollout_state=str(d.get("rolloutState", "") or ""),
        rollout_reason=str(d.get("rolloutStateReason", "") or ""),
        created_at=utc(d.get("createdAt")),
    )


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class EcsServicesSource:
    """The services of one ECS cluster (all, or the configured ones).

    Restartable, Scalable and RollbackCapable: each verb comes with its CLI argv.
    """

    pane = PaneKind.SERVICES

    def __init__(self, ctx: AwsContext, cluster: EcsCluster) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.id = f"aws:ecs:{cluster.cluster}"
        self.title = f"ECS {cluster.cluster}"
        self._last_names: list[str] = list(cluster.services)
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        """The boto3 ECS client (created on first use); tests hook its events."""
        return self.ctx.client("ecs")

    async def fetch(self) -> list[ServiceStatus]:
        return await self.ctx.run(f"ECS cluster {self.cluster.cluster}", self._fetch_sync)

    def _fetch_sync(self) -> list[ServiceStatus]:
        ecs = self.client
        name = self.cluster.cluster
        if self.cluster.services:
            wanted = list(self.cluster.services)
        else:
            wanted = []
            for page in ecs.get_paginator("list_services").paginate(cluster=name):
                wanted += page.get("serviceArns", [])
        rows: dict[str, ServiceStatus] = {}
        missing: list[str] = []
        for batch in _batches(wanted, DESCRIBE_BATCH):
            resp = ecs.describe_services(cluster=name, services=batch)
            for svc in resp.get("services", []):
                row = service_status(svc, source=self.id, cluster=name)
                rows[row.name] = row
            for f in resp.get("failures", []):
                missing.append(str(f.get("arn", "")).rsplit("/", 1)[-1])
        # A configured service that does not exist is shown, not silently dropped.
        for m in missing:
            if m and m not in rows:
                rows[m] = ServiceStatus(
                    name=m,
                    backend="ecs",
                    source=self.id,
                    status=Severity.UNKNOWN,
                    status_text="missing",
                    running=0,
                    desired=0,
                    cluster=name,
                )
        if self.cluster.services:
            order = {s: i for i, s in enumerate(self.cluster.services)}
            result = sorted(rows.values(), key=lambda r: (order.get(r.name, len(order)), r.name))
        else:
            result = sorted(rows.values(), key=lambda r: r.name)
        self._last_names = [r.name for r in result]
        return result

    def explain_command(self) -> list[str]:
        names = self._last_names
        if names and len(names) <= DESCRIBE_BATCH:
            return self.ctx.cli(
                "ecs", "describe-services", "--cluster", self.cluster.cluster, "--services", *names
            )
        return self.ctx.cli("ecs", "list-services", "--cluster", self.cluster.cluster)

    # --- Restartable ---------------------------------------------------------------

    def _cluster_of(self, target: ServiceStatus) -> str:
        return target.cluster or self.cluster.cluster

    def restart_command(self, target: ServiceStatus) -> list[str]:
        return self.ctx.cli(
            "ecs",
            "update-service",
            "--cluster",
            self._cluster_of(target),
            "--service",
            target.name,
            "--force-new-deployment",
        )

    async def restart(self, target: ServiceStatus) -> str:
        def call() -> str:
            resp = self.client.update_service(
                cluster=self._cluster_of(target), service=target.name, forceNewDeployment=True
            )
            primary = next(
                (
                    d
                    for d in resp.get("service", {}).get("deployments", [])
                    if d.get("status") == "PRIMARY"
                ),
                None,
            )
            dep = f": deployment {primary['id']}" if primary and primary.get("id") else ""
            return f"restart of {target.name} started{dep}"

        return await self.ctx.run(f"restart {target.name}", call)

    # --- Scalable ------------------------------------------------------------------

    def scale_command(self, target: ServiceStatus, desired: int) -> list[str]:
        return self.ctx.cli(
            "ecs",
            "update-service",
            "--cluster",
            self._cluster_of(target),
            "--service",
            target.name,
            "--desired-count",
            str(desired),
        )

    async def scale(self, target: ServiceStatus, desired: int) -> str:
        if desired < 0:
            raise BackendError(f"cannot scale {target.name} to {desired}", "use a count >= 0")

        def call() -> str:
            self.client.update_service(
                cluster=self._cluster_of(target), service=target.name, desiredCount=desired
            )
            return f"{target.name}: desired count {target.desired} -> {desired}"

        return await self.ctx.run(f"scale {target.name}", call)

    # --- RollbackCapable -----------------------------------------------------------

    def previous_task_definition(self, target: ServiceStatus) -> str:
        """The revision a rollback returns to: the deployment being replaced, else rev - 1."""
        current = target.task_definition
        for d in target.deployments:
            if d.status != "PRIMARY" and d.task_definition and d.task_definition != current:
                return d.task_definition
        family, _, rev = current.rpartition(":")
        if family and rev.isdigit() and int(rev) > 1:
            return f"{family}:{int(rev) - 1}"
        raise BackendError(
            f"{target.name} has no earlier task definition to roll back to",
            "deploy a fixed revision instead",
        )

    def rollback_command(self, target: ServiceStatus) -> list[str]:
        return self.ctx.cli(
            "ecs",
            "update-service",
            "--cluster",
            self._cluster_of(target),
            "--service",
            target.name,
            "--task-definition",
            self.previous_task_definition(target),
        )

    async def rollback(self, target: ServiceStatus) -> str:
        previous = self.previous_task_definition(target)

        def call() -> str:
            self.client.update_service(
                cluster=self._cluster_of(target), service=target.name, taskDefinition=previous
            )
            return f"{target.name}: rolling back {target.task_definition} -> {previous}"

        return await self.ctx.run(f"roll back {target.name}", call)

    async def close(self) -> None:
        await self.ctx.release(self)
