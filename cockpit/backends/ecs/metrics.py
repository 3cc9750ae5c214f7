"""CPU and memory of every service, and the load balancer's requests, 5xx and p95, read with
GetMetricData at most once a ``metrics_interval`` in a background job.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.ecs.records import (
    LB_METRICS,
    METRIC_QUERIES_PER_CALL,
    METRIC_WINDOW_MIN,
    METRICS,
    _metric_query,
    _without_percentiles,
    lb_series,
)
from cockpit.backends.ecs.room import _Room
from cockpit.model import DetailSection, ServiceStatus


class _Metrics(_Room):
    """The metrics room of ``EcsServicesSource``."""

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
