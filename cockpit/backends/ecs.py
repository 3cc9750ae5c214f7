"""ECS services of one cluster -> ``ServiceStatus`` rows; restart, scale, roll back, deploy.

A refresh costs ceil(N/100) ListServices + ceil(N/10) DescribeServices (in a listed cluster of
more than ``DESCRIBE_ALL_UP_TO`` services, fewer: see ``EcsServicesSource._to_describe``), plus, at most once a
``metrics_interval``, ceil((2N + 3L)/500) GetMetricData for every service's CPU and memory
and, for the L services with a load balancer configured, its requests, target 5xx and p95
response time (the error rate is 5xx / requests, computed here: metric math is not needed
and moto lacks it). Task
definitions (images, log configuration, the latest revision of a family) are looked up a
few per refresh and cached: a ``family:revision`` never changes, so its image is fetched
once; the latest revision of a family is re-read every ``LATEST_TTL_S``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.aws import AwsContext, utc
from cockpit.errors import BackendError
from cockpit.model import Deployment, DetailSection, PaneKind, ServiceStatus, Severity
from cockpit.profile import EcsCluster

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
        # The cluster's service ARNs from ListServices, asked again every ``list_interval``
        # s: services are created in minutes, while their counts and deployments (what
        # DescribeServices says) change between refreshes. A listed service that is gone
        # drops out at once (see _fetch_sync); a new one shows within the interval.
        self.list_interval = 30.0
        self._arns: list[str] | None = None
        self._arns_at = 0.0
        # A listed cluster of more than describe_all_up_to services: each refresh describes
        # the services that are not settled (and any acted on), and the settled ones in turn,
        # each at least once a ``sweep`` (see _to_describe).
        self.describe_all_up_to = DESCRIBE_ALL_UP_TO
        self.sweep = 30.0
        self._rows: dict[str, ServiceStatus] = {}  # last row of each listed service, by name
        self._read_at: dict[str, float] = {}  # when each was last described
        self._reread: set[str] = set()  # acted on: described on the next refresh
        self._fetched_at: float | None = None
        self.partial = False  # the last refresh read only part of the cluster: fetch again now
        self.task_definitions = TaskDefinitionCache()
        # CPU/memory are 1-minute metrics: reading them every 5 s refresh would cost without
        # showing anything new. 0 reads them on every refresh.
        self.metrics_interval = 60.0
        self._metrics: dict[str, tuple[tuple[str, tuple[float, ...]], ...]] = {}
        self._metrics_at: float | None = None
        self._metrics_job: threading.Thread | None = None
        self.metrics_error = ""  # the last failure to read metrics ("" when they were read)
        self._no_percentiles = False  # the endpoint failed a p95 query: ask for no more
        ctx.acquire(self)

    @property
    def client(self) -> Any:
        """The boto3 ECS client (created on first use); tests hook its events."""
        return self.ctx.client("ecs")

    async def fetch(self) -> list[ServiceStatus]:
        return await self.ctx.run(
            f"ECS cluster {self.cluster.cluster}", self._fetch_sync, counter=self.id
        )

    def _fetch_sync(self) -> list[ServiceStatus]:
        ecs = self.client
        name = self.cluster.cluster
        if self.cluster.services:
            wanted = list(self.cluster.services)
        else:
            wanted = self._service_arns(ecs, name)
        rows: dict[str, ServiceStatus] = {}
        missing: list[str] = []
        describe = self.ctx.in_thread(
            lambda batch: ecs.describe_services(cluster=name, services=batch)
        )
        now = time.monotonic()
        asked = set(self._reread)  # an action meanwhile stays asked for
        gone: set[str] = set()
        to_read = wanted if self.cluster.services else self._to_describe(wanted, now)
        batches = list(_batches(to_read, DESCRIBE_BATCH))
        # A few batches in flight at once: against AWS a refresh is latency-bound (201
        # sequential calls at ~60 ms is 12 s at 2,000 services). Order is kept.
        if len(batches) > 1:
            with ThreadPoolExecutor(DESCRIBE_WORKERS, thread_name_prefix="ecs-describe") as pool:
                responses = list(pool.map(describe, batches))
        else:
            responses = [describe(b) for b in batches]
        for resp in responses:
            for svc in resp.get("services", []):
                if not self.cluster.services and svc.get("status") == "INACTIVE":
                    # Deleted since the list was read (ListServices leaves them out).
                    self._arns = None
                    gone.add(str(svc.get("serviceName", "")))
                    continue
                row = service_status(svc, source=self.id, cluster=name)
                rows[row.name] = row
            for f in resp.get("failures", []):
                if not self.cluster.services:
                    self._arns = None  # listed, then deleted: not a configured name to flag
                    gone.add(_arn_name(str(f.get("arn", ""))))
                    continue
                missing.append(_arn_name(str(f.get("arn", ""))))
        if not self.cluster.services:
            for n in rows:
                self._read_at[n] = now
            self._reread.difference_update(asked & (rows.keys() | gone))  # read, or deleted
            listed = {_arn_name(a) for a in wanted} - gone
            for n in listed.difference(rows):  # not described this time: their last row
                if n in self._rows:
                    rows[n] = self._rows[n]
            self._rows = {n: r for n, r in rows.items() if n in listed}
            self._read_at = {n: t for n, t in self._read_at.items() if n in listed}
            self._fetched_at = now
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
        known = [r for r in result if r.status_text != "missing"]
        try:
            self.task_definitions.learn(ecs, known, TD_LOOKUPS_PER_REFRESH)
        except Exception:  # noqa: S110 - a convenience cache must not fail the refresh
            pass
        self._refresh_metrics(known)
        return [
            dataclasses.replace(r, metrics=self._metrics[r.name]) if r.name in self._metrics else r
            for r in result
        ]

    def _to_describe(self, arns: list[str], now: float) -> list[str]:
        """Which listed services this refresh describes.

        All of them up to ``describe_all_up_to``. Beyond, DescribeServices' 10 a call made
        each 5 s refresh of 2,000 services 201 calls, ~0.45 s of CPU (botocore's, ~2 ms a
        call): 9 % of a core for numbers that mostly do not move. Then: every service not yet
        read, not settled (not healthy, counts apart, pending tasks, a second deployment) or
        acted on from here, and of the settled ones, the longest unread, as many as keeps
        each read at least once a ``sweep`` (the same 30 s as a new service takes to appear).
        The first refresh of such a cluster reads only the first of them (``partial``).
        """
        self.partial = False
        if len(arns) <= self.describe_all_up_to:
            return arns
        if self._fetched_at is None:
            # The first refresh reads the first services by name (the top of the pane) and
            # says it is partial: the hub fetches again at once for the rest, still unread.
            # Describing 2,000 services before any showed took 2 s against the lab's moto
            # (and 201 calls / 6 in flight x ~60 ms against AWS).
            self.partial = True
            return sorted(arns, key=_arn_name)[: self.describe_all_up_to]
        hot: list[str] = []
        settled: list[str] = []
        for arn in arns:
            n = _arn_name(arn)
            row = self._rows.get(n)
            if row is None or n in self._reread or not _settled(row):
                hot.append(arn)
            else:
                settled.append(arn)
        share = min(1.0, max(0.0, now - self._fetched_at) / self.sweep)
        settled.sort(key=lambda arn: self._read_at.get(_arn_name(arn), 0.0))
        return hot + settled[: math.ceil(len(settled) * share)]

    def _service_arns(self, ecs: Any, cluster: str) -> list[str]:
        now = time.monotonic()
        if self._arns is None or now - self._arns_at >= self.list_interval:
            arns: list[str] = []
            # 100 is ListServices' maximum page; AWS's default is 10 (10x the calls).
            pages = ecs.get_paginator("list_services").paginate(
                cluster=cluster, PaginationConfig={"PageSize": LIST_PAGE}
            )
            for page in pages:
                arns += page.get("serviceArns", [])
            self._arns, self._arns_at = arns, now
        return list(self._arns)

    # --- metrics -------------------------------------------------------------------

    def _refresh_metrics(self, rows: list[ServiceStatus]) -> None:
        """Start reading metrics in the background when due; rows never wait for them.

        GetMetricData for thousands of series can take seconds: the rows of this refresh
        carry the last values read, and the next refresh the new ones. The job's calls are
        counted under ``calls["<source id>/metrics"]``.
        """
        now = time.monotonic()
        job = self._metrics_job
        if (
            not rows
            or (job is not None and job.is_alive())
            or self._metrics_at is not None
            and now - self._metrics_at < self.metrics_interval
        ):
            return
        self._metrics_at = now
        names = [r.name for r in rows]

        def run() -> None:
            try:
                self._metrics = self.ctx.counted(
                    f"{self.id}/metrics", "CloudWatch metrics", self.metrics_for, names
                )
                self.metrics_error = ""
            except Exception as e:  # secondary data: said in the detail, never fatal
                self.metrics_error = str(e)

        self._metrics_job = threading.Thread(target=run, name=f"metrics {self.id}", daemon=True)
        self._metrics_job.start()

    def wait_for_metrics(self, timeout: float = 30.0) -> bool:
        """Block until a running metrics job ended (tests, benches); True when none runs."""
        job = self._metrics_job
        if job is not None:
            job.join(timeout)
            return not job.is_alive()
        return True

    def metrics_for(self, names: list[str]) -> dict[str, tuple[tuple[str, tuple[float, ...]], ...]]:
        """CPU and memory of every service over the last hour, 500 queries per GetMetricData."""
        cw = self.ctx.client("cloudwatch")
        end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        start = end - timedelta(minutes=METRIC_WINDOW_MIN)
        queries: list[dict[str, Any]] = []
        ids: dict[str, tuple[str, str]] = {}
        lbs = {lb.service: lb for lb in self.cluster.load_balancers}
        for i, name in enumerate(names):
            lb = lbs.get(name)
            if lb is not None:
                dims = [{"Name": "LoadBalancer", "Value": lb.load_balancer}]
                if lb.target_group:
                    dims.append({"Name": "TargetGroup", "Value": lb.target_group})
                for short, metric, stat in LB_METRICS:
                    if stat.startswith("p") and self._no_percentiles:
                        continue
                    ids[f"{short}{i}"] = (name, short)
                    queries.append(_metric_query(f"{short}{i}", "AWS/ApplicationELB", metric, dims, stat))
            service_dims = [
                {"Name": "ClusterName", "Value": self.cluster.cluster},
                {"Name": "ServiceName", "Value": name},
            ]
            for short, metric in METRICS:
                ids[f"{short}{i}"] = (name, short)
                queries.append(_metric_query(f"{short}{i}", "AWS/ECS", metric, service_dims, "Average"))
        series: dict[str, dict[str, dict[datetime, float]]] = {}
        for i in range(0, len(queries), METRIC_QUERIES_PER_CALL):
            kwargs: dict[str, Any] = {
                "MetricDataQueries": queries[i : i + METRIC_QUERIES_PER_CALL],
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            while True:
                try:
                    resp = cw.get_metric_data(**kwargs)
                except Exception as e:
                    kept = _without_percentiles(kwargs["MetricDataQueries"], e)
                    if kept is None:
                        raise
                    # The server cannot compute percentiles (moto fails the whole call):
                    # the rest is still worth showing, now and on later refreshes.
                    self._no_percentiles = True
                    kwargs["MetricDataQueries"] = kept
                    kwargs.pop("NextToken", None)
                    continue
                for result in resp.get("MetricDataResults", []):
                    name, short = ids.get(result.get("Id", ""), ("", ""))
                    if not name:
                        continue
                    points = series.setdefault(name, {}).setdefault(short, {})
                    # Empty periods are omitted: place values by their timestamps.
                    for ts, v in zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=False
                    ):
                        if v is not None:  # a statistic the server cannot compute
                            points[ts] = float(v)
                token = resp.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        out: dict[str, tuple[tuple[str, tuple[float, ...]], ...]] = {}
        for name, by_metric in series.items():
            found = [
                (short, tuple(v for _, v in sorted(by_metric[short].items())))
                for short, _ in METRICS
                if by_metric.get(short)
            ]
            found += lb_series(by_metric)
            if found:
                out[name] = tuple(found)
        return out

    def _lb_section(self, record: ServiceStatus) -> DetailSection | None:
        lb = next((x for x in self.cluster.load_balancers if x.service == record.name), None)
        if lb is None:
            return None
        shown = dict(record.metrics)
        rows = []
        for name, label, fmt in (
            ("5xx%", "target 5xx, % of requests", "{:.2f}"),
            ("p95ms", "p95 response time, ms", "{:.0f}"),
        ):
            v = shown.get(name, ())
            if v:
                rows.append(
                    (
                        label,
                        fmt.format(min(v)),
                        fmt.format(sum(v) / len(v)),
                        fmt.format(max(v)),
                        fmt.format(v[-1]),
                        str(len(v)),
                    )
                )
        where = f"AWS/ApplicationELB LoadBalancer={lb.load_balancer}" + (
            f" TargetGroup={lb.target_group}" if lb.target_group else ""
        )
        lines = (where,) if rows else (where, "no requests in the last hour (or not read yet)")
        return DetailSection(
            "Load balancer, last hour (1-minute values)",
            ("metric", "min", "avg", "max", "last", "points"),
            tuple(rows),
            lines,
        )

    # --- DetailProvider -----------------------------------------------------------

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

    # --- Restartable ---------------------------------------------------------------

    def _cluster_of(self, target: ServiceStatus) -> str:
        return target.cluster or self.cluster.cluster

    def _update_service_command(self, target: ServiceStatus, *change: str) -> list[str]:
        """`aws ecs update-service` on ``target`` with ``change``: every write action's shape."""
        return self.ctx.cli(
            "ecs", "update-service", "--cluster", self._cluster_of(target), "--service", target.name,
            *change,
        )

    def _update_service(self, target: ServiceStatus, **change: Any) -> dict[str, Any]:
        """UpdateService for an action; the next refresh reads the service again."""
        resp = self.client.update_service(cluster=self._cluster_of(target), service=target.name, **change)
        self._reread.add(target.name)
        return resp

    def restart_command(self, target: ServiceStatus) -> list[str]:
        return self._update_service_command(target, "--force-new-deployment")

    async def restart(self, target: ServiceStatus) -> str:
        def call() -> str:
            resp = self._update_service(target, forceNewDeployment=True)
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
        return self._update_service_command(target, "--desired-count", str(desired))

    async def scale(self, target: ServiceStatus, desired: int) -> str:
        if desired < 0:
            raise BackendError(f"cannot scale {target.name} to {desired}", "use a count >= 0")

        def call() -> str:
            self._update_service(target, desiredCount=desired)
            return f"{target.name}: desired count {target.desired} -> {desired}"

        return await self.ctx.run(f"scale {target.name}", call)

    # --- RollbackCapable -----------------------------------------------------------

    def latest_revision(self, target: ServiceStatus) -> int:
        """The latest registered revision of the target's family, as last looked up here.

        Falls back to the running revision when it has not been looked up yet.
        """
        family, current = split_task_definition(target.task_definition)
        latest = self.task_definitions.latest_of(family)
        return latest if latest is not None else (current or 1)

    def revision_change(self, target: ServiceStatus, to: str | None = None) -> dict[str, str]:
        """``{"from": "api:2 (img:1.4.2)", "to": "api:1 (img:1.4.1)"}`` for a confirmation,
        from the task definitions looked up already (no call); ``to`` None: the previous one."""
        if not target.task_definition:
            return {}
        if to is None:
            try:
                to = self.previous_task_definition(target)
            except BackendError:
                return {}
        cache = self.task_definitions

        def shown(td: str) -> str:
            info = cache.info(td)
            return f"{td} ({info.image})" if info and info.image else f"{td} (image not looked up yet)"

        return {"from": shown(target.task_definition), "to": shown(to)}

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
        return self._update_service_command(target, "--task-definition", self.previous_task_definition(target))

    async def rollback(self, target: ServiceStatus) -> str:
        previous = self.previous_task_definition(target)

        def call() -> str:
            self._update_service(target, taskDefinition=previous)
            return f"{target.name}: rolling back {target.task_definition} -> {previous}"

        return await self.ctx.run(f"roll back {target.name}", call)

    # --- RevisionDeployable --------------------------------------------------------

    def _revision(self, target: ServiceStatus, revision: int) -> str:
        family, _ = split_task_definition(target.task_definition)
        if not family:
            raise BackendError(f"{target.name} has no task definition family", "")
        return f"{family}:{revision}"

    def deploy_revision_command(self, target: ServiceStatus, revision: int) -> list[str]:
        return self._update_service_command(target, "--task-definition", self._revision(target, revision))

    async def deploy_revision(self, target: ServiceStatus, revision: int) -> str:
        td = self._revision(target, revision)

        def call() -> str:
            ecs = self.client
            try:
                info = self.task_definitions.info(td) or self.task_definitions.lookup(ecs, td)
            except ecs.exceptions.ClientException as e:
                raise BackendError(
                    f"task definition {td} is not registered",
                    f"`aws ecs list-task-definitions --family-prefix {td.split(':')[0]}`",
                ) from e
            self._update_service(target, taskDefinition=td)
            image = f" ({info.image})" if info.image else ""
            return f"{target.name}: deploying {target.task_definition} -> {td}{image}"

        return await self.ctx.run(f"deploy {td} to {target.name}", call)

    async def close(self) -> None:
        await self.ctx.release(self)
