"""Lab extras for the AWS depth work: CloudFormation stacks (one fine, one stuck in
UPDATE_ROLLBACK_FAILED, one UPDATE_IN_PROGRESS for two hours), local health endpoints, and
the api service's load balancer metrics (requests, target 5xx, response times: an hour of
history, then one minute a minute) with moto taught percentile statistics (``p95``), and the
RDS instance's free storage and snapshots of past migrations for its detail.

``seed_extras(endpoint, lock)`` must run in the process that serves moto (the lab child):
the stacks are created over HTTP, then their status is set on moto's backend, which is the
only way to make a stack look stuck. ``start_health_server()`` serves ``/health`` (200),
``/health/deep`` (slow: 2.5 s) and ``/health/db`` (500) on a loopback port.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cockpit.lab.awsclient import REGION
from cockpit.profile import LoadBalancerMetrics

ACCOUNT = "123456789012"
# The ALB in front of api (the lab's p95 alarm watches the same load balancer).
API_LOAD_BALANCER = LoadBalancerMetrics(
    service="api",
    load_balancer="app/api-production/50dc6c495c0c9188",
    target_group="targetgroup/api-production/6d0ecf831eec9f09",
)
LAB_LOAD_BALANCERS = (API_LOAD_BALANCER,)  # what the lab profile's ECS cluster holds
ALB_SAMPLES_PER_MINUTE = 20  # TargetResponseTime samples a minute, for a p95 to mean something
ALB_INCIDENT_MIN = 8  # the lab's incident (5xx alarm) began this many minutes ago
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")
STACKS = ("app-network", "app-queues", "app-service")
STACK_PATTERNS = ("app-*",)  # what the lab profile's aws.stacks should hold

_TEMPLATE = json.dumps(
    {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
)


def lab_client(endpoint: str, service: str) -> Any:
    """A boto3 client of the lab's moto (cockpit.lab.awsclient: its settings, in one place)."""
    from cockpit.lab.awsclient import lab_client as client

    return client(endpoint, service)


def seed_extras(endpoint: str, lock: Any = None) -> None:
    """Stacks (two stuck) and the api ALB's metrics, ticking on (run inside the moto process)."""
    patch_percentiles()
    cw = lab_client(endpoint, "cloudwatch")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    seed_alb_metrics(cw, now)
    try:
        seed_rds_extras(lab_client(endpoint, "rds"), cw, now, lock)
    except Exception:  # the instance's detail is a decoration of the lab
        logging.getLogger("cockpit.lab").exception("RDS snapshots and storage not seeded")
    threading.Thread(target=_alb_ticker, args=(cw,), name="lab-alb-metrics", daemon=True).start()
    cf = lab_client(endpoint, "cloudformation")
    for name in STACKS:
        cf.create_stack(StackName=name, TemplateBody=_TEMPLATE)
    from moto.backends import get_backend

    now = datetime.now(UTC)
    with lock if lock is not None else contextlib.nullcontext():
        stacks = get_backend("cloudformation")[ACCOUNT][REGION].stacks.values()
        # moto's Stack has these attributes at run time, not in its annotations.
        by_name: dict[str, Any] = {s.name: s for s in stacks}
        queues = by_name["app-queues"]
        queues.status = "UPDATE_ROLLBACK_FAILED"
        queues.status_reason = (
            "The following resource(s) failed to update: [JobsQueue]. Resource handler "
            "returned message: 'Queue jobs-dlq is referenced by a RedrivePolicy'"
        )
        queues.last_updated_time = now - timedelta(hours=30)
        queues._add_stack_event(queues.status, resource_status_reason=queues.status_reason)
        network = by_name["app-network"]
        network.status = "UPDATE_IN_PROGRESS"
        network.status_reason = "User Initiated"
        network.last_updated_time = now - timedelta(hours=2)
        network._add_stack_event(network.status, resource_status_reason=network.status_reason)


# --- load balancer metrics -------------------------------------------------------------


def patch_percentiles() -> None:
    """Teach moto's GetMetricData percentile statistics (``p95``); it answers None for them.

    Nearest-rank percentile over the raw values of the period, as CloudWatch computes it for
    values put one by one. Idempotent. Only for the lab and tests: the cockpit asks for
    ``p95`` as it would of AWS.
    """
    from moto.cloudwatch.models import Statistics as _Statistics

    Statistics: Any = _Statistics  # patched in place: typed as what it is to us
    if getattr(Statistics, "_lab_percentiles", False):
        return
    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        m = _PERCENTILE.fullmatch(stat)
        if m is None:
            return original(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values:
            return None
        rank = max(1, math.ceil(float(m.group(1)) / 100 * len(values)))
        return values[rank - 1]

    Statistics.get_statistics_for_type = get_statistics_for_type
    Statistics._lab_percentiles = True
    Statistics._lab_unpatched = original  # tests check the cockpit without the patch too


def alb_minute(ts: datetime, rng: random.Random, *, incident: bool) -> list[dict[str, Any]]:
    """One minute of the api ALB: requests, target 5xx (about 1.2 % in the incident, 0.1 %
    before) and ``ALB_SAMPLES_PER_MINUTE`` response times (p95 ~0.3 s, ~1.1 s in it)."""
    lb = API_LOAD_BALANCER
    dims = [
        {"Name": "LoadBalancer", "Value": lb.load_balancer},
        {"Name": "TargetGroup", "Value": lb.target_group},
    ]
    requests = max(1, round(rng.gauss(1200, 80)))
    rate = rng.gauss(1.2, 0.3) if incident else rng.gauss(0.12, 0.06)
    errors = max(0, round(requests * max(rate, 0.0) / 100))
    slow = 3.5 if incident else 1.0
    data: list[dict[str, Any]] = [
        {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": ts,
         "Value": float(requests), "Unit": "Count"},
    ]  # fmt: skip
    if errors:  # like CloudWatch: no 5xx datapoint for a minute without one
        data.append({"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims,
                     "Timestamp": ts, "Value": float(errors), "Unit": "Count"})  # fmt: skip
    for _ in range(ALB_SAMPLES_PER_MINUTE):
        seconds = round(rng.lognormvariate(math.log(0.12 * slow), 0.5), 4)
        data.append({"MetricName": "TargetResponseTime", "Dimensions": dims,
                     "Timestamp": ts, "Value": seconds, "Unit": "Seconds"})  # fmt: skip
    return data


def seed_alb_metrics(cw: Any, now: datetime, minutes: int = 60) -> None:
    """The last ``minutes`` of the api ALB, so its sparklines have a shape at once."""
    rng = random.Random(13)
    data: list[dict[str, Any]] = []
    for m in range(minutes, 0, -1):
        data += alb_minute(now - timedelta(minutes=m), rng, incident=m <= ALB_INCIDENT_MIN)
    for i in range(0, len(data), 500):  # PutMetricData takes up to 1,000 datums a call
        cw.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i : i + 500])


RDS_INSTANCE = "prod-postgresql"  # seeded by cockpit.lab.seed.seed_rds
RDS_FREE_GIB = 37.5  # of its 100 GiB
# Manual snapshots before past migrations: (id, days ago); moto adds today's automated one.
RDS_SNAPSHOTS = (("pre-migration-0041", 9), ("pre-migration-0042", 3), ("before-vacuum-full", 1))


def free_storage_datum(ts: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "MetricName": "FreeStorageSpace",
        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": RDS_INSTANCE}],
        "Timestamp": ts,
        "Value": round((RDS_FREE_GIB + rng.uniform(-0.2, 0.2)) * 1024**3),
        "Unit": "Bytes",
    }


def seed_rds_extras(rds: Any, cw: Any, now: datetime, lock: Any = None) -> None:
    """FreeStorageSpace for the last half hour and manual snapshots of past migrations."""
    rng = random.Random(19)
    cw.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[free_storage_datum(now - timedelta(minutes=m), rng) for m in range(30, 0, -5)],
    )
    for ident, _ in RDS_SNAPSHOTS:
        rds.create_db_snapshot(DBInstanceIdentifier=RDS_INSTANCE, DBSnapshotIdentifier=ident)
    from moto.backends import get_backend

    # moto stamps a snapshot with the time of the call: date them as the story has it.
    with lock if lock is not None else contextlib.nullcontext():
        snapshots = get_backend("rds")[ACCOUNT][REGION].database_snapshots
        for ident, days in RDS_SNAPSHOTS:
            snap: Any = snapshots[ident]  # moto keeps created as an ISO string
            snap.created = (now - timedelta(days=days, hours=2)).isoformat()


def _alb_ticker(cw: Any) -> None:
    rng = random.Random(17)
    while True:
        now = datetime.now(UTC)
        time.sleep(60 - now.second - now.microsecond / 1e6 + 0.5)  # just after the minute
        # The minute that just ended, as CloudWatch publishes a complete minute.
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        try:
            cw.put_metric_data(
                Namespace="AWS/ApplicationELB", MetricData=alb_minute(minute, rng, incident=True)
            )
            if minute.minute % 5 == 0:  # RDS storage metrics are 5-minute ones
                cw.put_metric_data(
                    Namespace="AWS/RDS", MetricData=[free_storage_datum(minute, rng)]
                )
        except Exception:  # a lab decoration: keep ticking
            logging.getLogger("cockpit.lab").exception("ALB metrics not put")


class _Health(BaseHTTPRequestHandler):
    # Keep-alive, as a service behind a load balancer answers: every response says its length.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/health/deep":
            time.sleep(2.5)
            self._send(200, {"status": "ok", "db": "ok", "cache": "ok"})
        elif self.path == "/health/db":
            self._send(500, {"status": "error", "db": "connection refused"})
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"status": "not found"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet: the child's stderr is a log file
        return


def start_health_server() -> tuple[str, Callable[[], None]]:
    """(base URL, stop) of the lab's health endpoints on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="lab-health", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop
