"""``EcsServicesSource``: one cluster's services, listed and described each refresh (a large
cluster's settled services in turn), with its metrics, detail and actions rooms.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.backends.ecs.actions import _Actions
from cockpit.backends.ecs.detail import _Detail
from cockpit.backends.ecs.records import (
    DESCRIBE_ALL_UP_TO,
    DESCRIBE_BATCH,
    DESCRIBE_WORKERS,
    LIST_PAGE,
    TD_LOOKUPS_PER_REFRESH,
    TaskDefinitionCache,
    _arn_name,
    _batches,
    _settled,
    service_status,
)
from cockpit.model import PaneKind, ServiceStatus, Severity
from cockpit.profile import EcsCluster


class EcsServicesSource(_Detail, _Actions):
    """The services of one ECS cluster (all, or the configured ones).

    Restartable, Scalable and RollbackCapable: each verb comes with its CLI argv.
    """

    pane = PaneKind.SERVICES

    def __init__(self, ctx: AwsContext, cluster: EcsCluster) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.id = f"aws:ecs:{cluster.cluster}{ctx.tag}"
        self.title = f"ECS {cluster.cluster}{ctx.suffix}"
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
                self.ctx.learn_account(svc.get("serviceArn"))
                row = service_status(svc, source=self.id, cluster=name, estate=self.ctx.estate)
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
                    estate=self.ctx.estate,
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


    async def close(self) -> None:
        await self.ctx.release(self)
