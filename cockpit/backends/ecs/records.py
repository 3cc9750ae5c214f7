"""ECS answers -> records: service rows, deployments, task definitions (and their cache),
load-balancer series; the limits every room of the package shares.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cockpit.backends.aws import utc
from cockpit.model import Deployment, ServiceStatus, Severity

DESCRIBE_BATCH = 10  # DescribeServices accepts at most 10 services a call
# Up to this many services a cluster, every refresh describes them all (30 calls).
DESCRIBE_ALL_UP_TO = 300
LIST_PAGE = 100
DESCRIBE_WORKERS = 6
MAX_EVENTS = 20
DETAIL_EVENTS = 50
DETAIL_LOG_LINES = 50
DETAIL_LOG_WINDOW_S = 30 * 60
DETAIL_LOG_PAGES = 20
METRIC_QUERIES_PER_CALL = 500  # GetMetricData's limit
METRICS = (("cpu", "CPUUtilization"), ("mem", "MemoryUtilization"))
METRIC_WINDOW_MIN = 60
# ALB series per configured service: (short id, metric, statistic). Kept to compute
# "5xx%" (5xx / requests per minute) and "p95ms"; "req" and "e5" are not shown themselves.
LB_METRICS = (
    ("req", "RequestCount", "Sum"),
    ("e5", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p95", "TargetResponseTime", "p95"),
)
LB_SHOWN = ("5xx%", "p95ms")
LATEST_TTL_S = 300.0
TD_LOOKUPS_PER_REFRESH = 8  # task definitions learned per refresh; the rest next time


def short_task_definition(arn: str) -> str:
    """``arn:...:task-definition/api:3`` -> ``api:3`` (a bare ``api:3`` stays as it is)."""
    return arn.rsplit("/", 1)[-1] if arn else ""


def service_status(svc: dict[str, Any], *, source: str, cluster: str, estate: str = "") -> ServiceStatus:
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
        estate=estate,
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


def split_task_definition(td: str) -> tuple[str, int | None]:
    """``api:3`` -> ("api", 3); ``api`` -> ("api", None)."""
    family, _, rev = short_task_definition(td).rpartition(":")
    if family and rev.isdigit():
        return family, int(rev)
    return short_task_definition(td), None


def _metric_query(qid: str, namespace: str, metric: str, dims: list[dict[str, str]], stat: str) -> dict[str, Any]:
    """One GetMetricData query: a metric's per-minute ``stat``."""
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims},
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": True,
    }


@dataclasses.dataclass(frozen=True)
class TaskDefinitionInfo:
    name: str  # family:revision
    images: tuple[str, ...]
    # (container, log group, stream prefix) of every container logging through awslogs
    logs: tuple[tuple[str, str, str], ...] = ()
    containers: tuple[tuple[str, str, str, str], ...] = ()  # name, image, cpu, memory

    @property
    def image(self) -> str:
        return ", ".join(self.images)


def task_definition_info(td: dict[str, Any]) -> TaskDefinitionInfo:
    family, rev = str(td.get("family", "")), td.get("revision")
    containers = td.get("containerDefinitions", []) or []
    logs = []
    for c in containers:
        conf = c.get("logConfiguration") or {}
        opts = conf.get("options") or {}
        if conf.get("logDriver") == "awslogs" and opts.get("awslogs-group"):
            logs.append(
                (
                    str(c.get("name", "")),
                    opts["awslogs-group"],
                    opts.get("awslogs-stream-prefix", ""),
                )
            )
    return TaskDefinitionInfo(
        name=f"{family}:{rev}",
        images=tuple(str(c.get("image", "")) for c in containers),
        logs=tuple(logs),
        containers=tuple(
            (
                str(c.get("name", "")),
                str(c.get("image", "")),
                str(c.get("cpu", "") or ""),
                str(c.get("memory", "") or ""),
            )
            for c in containers
        ),
    )


class TaskDefinitionCache:
    """Task definitions by ``family:revision`` (immutable, kept) and each family's latest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._info: dict[str, TaskDefinitionInfo] = {}
        self._latest: dict[str, tuple[int, float]] = {}  # family -> (revision, when)

    def info(self, td: str) -> TaskDefinitionInfo | None:
        return self._info.get(short_task_definition(td))

    def latest_of(self, family: str) -> int | None:
        hit = self._latest.get(family)
        return hit[0] if hit else None

    def latest_is_fresh(self, family: str) -> bool:
        hit = self._latest.get(family)
        return hit is not None and time.monotonic() - hit[1] < LATEST_TTL_S

    def lookup(self, ecs: Any, td: str) -> TaskDefinitionInfo:
        """DescribeTaskDefinition of ``family:revision`` or a bare family (its latest)."""
        resp = ecs.describe_task_definition(taskDefinition=short_task_definition(td))
        info = task_definition_info(resp["taskDefinition"])
        family, rev = split_task_definition(info.name)
        with self._lock:
            self._info[info.name] = info
            if rev is not None and ":" not in short_task_definition(td):
                self._latest[family] = (rev, time.monotonic())
            elif rev is not None and rev > (self.latest_of(family) or 0) and family in self._latest:
                self._latest[family] = (rev, self._latest[family][1])
        return info

    def learn(self, ecs: Any, rows: list[ServiceStatus], budget: int) -> int:
        """Look up what ``rows`` need and is not cached, ``budget`` calls at most."""
        wanted: list[str] = []
        families: list[str] = []
        for r in rows:
            for td in (r.task_definition, *(d.task_definition for d in r.deployments)):
                if td and td not in wanted and self.info(td) is None:
                    wanted.append(td)
            family, rev = split_task_definition(r.task_definition)
            if rev is not None and family not in families and not self.latest_is_fresh(family):
                families.append(family)
        # The previous revision, for a rollback's confirmation, after what is on screen.
        for r in rows:
            family, rev = split_task_definition(r.task_definition)
            if rev and rev > 1:
                prev = f"{family}:{rev - 1}"
                if prev not in wanted and self.info(prev) is None:
                    wanted.append(prev)
        calls = 0
        for td in [*wanted[: max(budget // 2, 1)], *families, *wanted[max(budget // 2, 1) :]]:
            if calls >= budget:
                break
            calls += 1
            try:
                self.lookup(ecs, td)
            except ecs.exceptions.ClientException:
                # Deregistered / never existed: remember nothing, never retry every refresh.
                self._info[short_task_definition(td)] = TaskDefinitionInfo(td, ())
        return calls


def lb_series(
    by_metric: dict[str, dict[datetime, float]],
) -> list[tuple[str, tuple[float, ...]]]:
    """The "5xx%" and "p95ms" series from one service's ALB series (pure; tested).

    CloudWatch publishes HTTPCode_Target_5XX_Count only for minutes that had one: a minute
    with requests and no 5xx point is 0 %. Minutes without requests have no error rate.
    """
    out: list[tuple[str, tuple[float, ...]]] = []
    requests, errors = by_metric.get("req", {}), by_metric.get("e5", {})
    rate = tuple(100.0 * errors.get(ts, 0.0) / n for ts, n in sorted(requests.items()) if n > 0)
    if rate:
        out.append(("5xx%", rate))
    p95 = by_metric.get("p95", {})
    if p95:
        out.append(("p95ms", tuple(v * 1000.0 for _, v in sorted(p95.items()))))
    return out


def _without_percentiles(
    queries: list[dict[str, Any]], error: BaseException
) -> list[dict[str, Any]] | None:
    """``queries`` minus percentile statistics, when ``error`` may be due to them; else None.

    Only a server error (HTTP 500, or a validation error naming the statistic) qualifies:
    throttling or credentials must surface as they are.
    """
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = str(response.get("Error", {}).get("Code", ""))
    if status != 500 and code not in ("InvalidParameterValue", "InvalidParameterCombination"):
        return None
    kept = [q for q in queries if not str(q["MetricStat"]["Stat"]).startswith("p")]
    return kept if len(kept) < len(queries) else None


def _arn_name(arn: str) -> str:
    """A service's name from its ARN (or the name itself)."""
    return arn.rsplit("/", 1)[-1]


def _settled(row: ServiceStatus) -> bool:
    """Healthy, all tasks running, none pending, one deployment: nothing about to move."""
    return (row.status is Severity.OK and row.running == row.desired and not row.pending
            and len(row.deployments) <= 1)


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
