"""What the lab's estate looks like: names, log lines, job bodies, metric shapes, and the
few writes to moto's ECS models that keep services looking like a settled production.

Pure helpers plus backend accessors; used by ``seed`` (once) and ``controller`` (forever).
Every function that touches a backend expects the caller to hold the request lock.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
CLUSTER = "production"

# Stable task ids so log streams keep their names across a lab restart.
_TASK_RNG = random.Random(1234)
TASKS: dict[str, tuple[str, ...]] = {
    "api": tuple(f"{_TASK_RNG.getrandbits(128):032x}" for _ in range(2)),
    "worker": tuple(f"{_TASK_RNG.getrandbits(128):032x}" for _ in range(3)),
}


def now() -> datetime:
    return datetime.now(UTC)


def log_streams() -> list[str]:
    """``api/api/<taskid>`` and ``worker/worker/<taskid>``: awslogs' prefix/container/task."""
    return [f"{svc}/{svc}/{task}" for svc, tasks in TASKS.items() for task in tasks]


# --- log lines ------------------------------------------------------------------------

_API_PATHS = (
    ("GET", "/v1/orders", 35, 60),
    ("GET", "/v1/orders/{id}", 12, 30),
    ("POST", "/v1/orders", 60, 140),
    ("GET", "/v1/customers/{id}", 10, 25),
    ("GET", "/healthz", 1, 3),
    ("PUT", "/v1/orders/{id}/status", 40, 90),
)
_JOBS = ("send-invoice", "sync-inventory", "charge-card", "render-pdf", "notify-shipping")


def _rid(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def log_line(stream: str, rng: random.Random) -> str:
    """One realistic line for the service that owns ``stream``: mostly INFO, some WARN,
    a few ERROR (about 90/8/2)."""
    roll = rng.random()
    if stream.startswith("api/"):
        method, path, lo, hi = rng.choice(_API_PATHS)
        path = path.replace("{id}", str(rng.randint(10_000, 99_999)))
        rid = _rid(rng)
        if roll < 0.90:
            status = 201 if method == "POST" else 200
            return f"INFO {method} {path} {status} {rng.randint(lo, hi)}ms request_id={rid}"
        if roll < 0.95:
            return f"WARN slow request {method} {path} 200 {rng.randint(1500, 2600)}ms request_id={rid}"
        if roll < 0.98:
            return f"WARN retrying payments-gateway call attempt=2 request_id={rid}"
        if roll < 0.99:
            return (
                f"ERROR upstream timeout after 5000ms calling inventory-service "
                f"{method} {path} request_id={rid}"
            )
        return f'ERROR {method} {path} 500 {rng.randint(80, 400)}ms request_id={rid} error="db connection reset"'
    job = rng.choice(_JOBS)
    jid = f"job-{rng.randint(100_000, 999_999)}"
    if roll < 0.90:
        return f"INFO processed {job} {jid} in {rng.randint(20, 900)}ms queue=jobs"
    if roll < 0.98:
        return f'WARN retry {job} {jid} attempt={rng.randint(2, 3)} reason="429 from upstream"'
    return f"ERROR {job} {jid} failed: upstream timeout after 30000ms; moving on after 3 receives"


def job_body(rng: random.Random, *, failed: bool = False) -> str:
    body: dict[str, Any] = {
        "job": rng.choice(_JOBS),
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "order_id": rng.randint(10_000, 99_999),
        "enqueued_at": now().isoformat(timespec="seconds"),
    }
    if failed:
        body["last_error"] = rng.choice(
            (
                "upstream timeout after 30000ms",
                "KeyError: 'customer_id'",
                "card declined: do_not_honor",
            )
        )
    return json.dumps(body)


# --- metrics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    base: float
    spread: float
    calm: float | None = None  # the value before the lab's incident began, if it differs


SERVICE_METRICS: tuple[Metric, ...] = tuple(
    Metric(
        "AWS/ECS", name, (("ClusterName", CLUSTER), ("ServiceName", svc)), "Percent", base, spread
    )
    for svc, cpu, mem in (("api", 46.0, 61.0), ("worker", 33.0, 52.0))
    for name, base, spread in (("CPUUtilization", cpu, 14.0), ("MemoryUtilization", mem, 6.0))
) + (
    Metric("Lab/API", "5xxErrorRate", (("ServiceName", "api"),), "Percent", 1.2, 0.6, 0.12),
    Metric(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "jobs"),), "Count", 60, 50
    ),
)


def metric_datum(
    metric: Metric, ts: datetime, rng: random.Random, *, calm: bool = False
) -> dict[str, Any]:
    base, spread = metric.base, metric.spread
    if calm and metric.calm is not None:
        base, spread = metric.calm, metric.calm
    value = max(0.0, rng.gauss(base, spread / 2))
    if metric.unit == "Percent":
        value = min(value, 100.0)
    return {
        "MetricName": metric.name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions],
        "Timestamp": ts,
        "Value": round(value, 2),
        "Unit": metric.unit,
    }


# --- ECS backend --------------------------------------------------------------------------


def cloudwatch_backend() -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT][REGION]


def ecs_backend(region: str = REGION) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[ACCOUNT][region]


def settle_service(svc: Any, *, created: datetime) -> None:
    """A service that has been running for a while: running == desired, one COMPLETED
    deployment, a steady-state event. moto's create_service leaves it IN_PROGRESS, 0 running."""
    svc.running_count = svc.desired_count
    svc.pending_count = 0
    dep_id = deployment_id()
    svc.deployments = [
        {
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": svc.task_definition,
            "desiredCount": svc.desired_count,
            "runningCount": svc.desired_count,
            "pendingCount": 0,
            "failedTasks": 0,
            "launchType": svc.launch_type or "FARGATE",
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {dep_id} completed.",
            "createdAt": created,
            "updatedAt": created,
        }
    ]
    svc.events = [
        event(svc.name, "has reached a steady state.", at=now()),
        event(svc.name, f"(deployment {dep_id}) deployment completed.", at=created),
    ]


def deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def event(service: str, text: str, *, at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "createdAt": at or now(),
        "message": f"(service {service}) {text}",
    }


def recount_cluster(be: Any, cluster_name: str) -> None:
    """moto does not keep cluster counters: derive them from the services."""
    cluster = be.clusters.get(cluster_name)
    if cluster is None:
        return
    services = [s for s in be.services.values() if s.cluster_name == cluster_name]
    cluster.active_services_count = sum(1 for s in services if s.status == "ACTIVE")
    cluster.running_tasks_count = sum(int(s.running_count) for s in services)
    cluster.pending_tasks_count = sum(int(s.pending_count) for s in services)
