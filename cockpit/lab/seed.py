"""The lab's estate: what an on-call engineer sees at the start of a shift.

Seeded from inside the lab's child process, by boto3 clients over HTTP (the API keeps the
seed honest: whatever the cockpit later reads came in through the same front door), except
the size option ``COCKPIT_LAB_SERVICES=N``, whose extra services go straight into moto's
ECS backend under the request lock (2,000 services over HTTP take ~14 s, in-process ~0.1 s).
``COCKPIT_LAB_ALARMS=N`` adds N alarms (over HTTP) waiting for data, one per extra service
where there are enough, for the scale benchmark's 200 alarms.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.lab import estate

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
CLUSTER = "production"
LOG_GROUP = "/ecs/api-production"


_session: Any = None


def session() -> Any:
    """One boto3 session for the child: each new Session re-reads botocore's data files."""
    global _session
    if _session is None:
        import boto3

        _session = boto3.Session()
    return _session


def preload_backends() -> None:
    """Import the moto backends the seed needs, sharing our boto3 session.

    moto.ec2 (imported by moto.ecs) builds three fresh ``boto3.Session()``s at import time
    to list regions, ~0.35 s of the lab's start; lending it ours halves the import.
    """
    import boto3

    shared = session()
    shared.get_available_regions("ec2")
    real = boto3.Session
    boto3.Session = lambda *a, **k: shared
    try:
        import moto.ecs.models  # noqa: F401
        import moto.ecs.responses  # noqa: F401
        import moto.rds.responses  # noqa: F401
    finally:
        boto3.Session = real


def client(endpoint: str, service: str, region: str = REGION) -> Any:
    from botocore.config import Config

    return session().client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def seed_estate(endpoint: str, lock: threading.RLock) -> None:
    """Create the whole estate; returns when every part answers over HTTP."""
    preload_backends()
    seed_ecs(endpoint, lock)
    seed_alarms(endpoint, lock)
    seed_logs(endpoint)
    seed_sqs(endpoint)
    seed_rds(endpoint)
    extra = _size("COCKPIT_LAB_SERVICES")
    if extra > 0:
        seed_extra_services(lock, extra)
    alarms = _size("COCKPIT_LAB_ALARMS")
    if alarms > 0:
        seed_extra_alarms(endpoint, lock, alarms)


def _size(name: str) -> int:
    raw = os.environ.get(name, "0") or "0"
    if not raw.strip().isdigit():
        # The parent shows the tail of our log: make its last line the whole story.
        raise SystemExit(f"{name} must be a whole number, not {raw!r}")
    return int(raw)


# --- ECS --------------------------------------------------------------------------


def _container(name: str, image: str, cpu: int, memory: int, port: int | None) -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "cpu": cpu,
        "memory": memory,
        "essential": True,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": LOG_GROUP,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": name,
            },
        },
        "environment": [{"name": "APP_ENV", "value": "production"}],
    }
    if port:
        c["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    return c


def seed_ecs(endpoint: str, lock: threading.RLock) -> None:
    ecs = client(endpoint, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for family, versions, port in (
        ("api", ("1.4.1", "1.4.2"), 8080),
        ("worker", ("2.0.3", "2.1.0"), None),
    ):
        for version in versions:
            ecs.register_task_definition(
                family=family,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="512",
                memory="1024",
                executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole",
                containerDefinitions=[
                    _container(family, f"registry.local/{family}:{version}", 512, 1024, port)
                ],
            )
    for name, td, desired in (("api", "api:2", 2), ("worker", "worker:2", 3)):
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=td,
            desiredCount=desired,
            launchType="FARGATE",
        )
    with lock:
        be = estate.ecs_backend()
        for name in ("api", "worker"):
            estate.settle_service(
                be.services[f"{CLUSTER}:{name}"], created=estate.now() - timedelta(days=3)
            )
        estate.recount_cluster(be, CLUSTER)


def seed_extra_services(lock: threading.RLock, count: int) -> None:
    with lock:
        be = estate.ecs_backend()
        for i in range(1, count + 1):
            svc = be.create_service(CLUSTER, f"svc-{i:04d}", 2, "worker:2", launch_type="FARGATE")
            estate.settle_service(svc, created=estate.now() - timedelta(days=7))
        estate.recount_cluster(be, CLUSTER)


# --- CloudWatch ---------------------------------------------------------------------


def seed_extra_alarms(endpoint: str, lock: threading.RLock, count: int) -> None:
    """``count`` CPU alarms on the extra services (svc-0001...), waiting for data: shown."""
    cw = client(endpoint, "cloudwatch")
    names = [f"svc-{i:04d}-high-cpu" for i in range(1, count + 1)]
    for name in names:
        cw.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"{name[:-9]} CPU above 80 % for 5 minutes",
            Namespace="AWS/ECS",
            MetricName="CPUUtilization",
            Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": name[:-9]}],
            Statistic="Average",
            Threshold=80.0,
            Period=60,
            EvaluationPeriods=5,
            ComparisonOperator="GreaterThanThreshold",
        )
    with lock:  # moto never evaluates alarms: say what AWS would, for ones with no data yet
        backend = estate.cloudwatch_backend()
        for name in names:
            backend.alarms[name].update_state(
                "Insufficient Data: 5 datapoints were unknown.", "{}", "INSUFFICIENT_DATA")


ALARMS: tuple[dict[str, Any], ...] = (
    dict(
        AlarmName="api-high-cpu",
        AlarmDescription="api CPU above 80 % for 5 minutes (runbook: api-high-cpu)",
        Namespace="AWS/ECS",
        MetricName="CPUUtilization",
        Dimensions=[
            {"Name": "ClusterName", "Value": CLUSTER},
            {"Name": "ServiceName", "Value": "api"},
        ],
        Statistic="Average",
        Threshold=80.0,
        Unit="Percent",
    ),
    dict(
        AlarmName="api-high-memory",
        AlarmDescription="api memory above 85 % for 5 minutes",
        Namespace="AWS/ECS",
        MetricName="MemoryUtilization",
        Dimensions=[
            {"Name": "ClusterName", "Value": CLUSTER},
            {"Name": "ServiceName", "Value": "api"},
        ],
        Statistic="Average",
        Threshold=85.0,
        Unit="Percent",
    ),
    dict(
        AlarmName="api-5xx-error-rate",
        AlarmDescription="share of api responses that are 5xx above 0.5 %",
        Namespace="Lab/API",
        MetricName="5xxErrorRate",
        Dimensions=[{"Name": "ServiceName", "Value": "api"}],
        Statistic="Average",
        Threshold=0.5,
        Unit="Percent",
    ),
    dict(
        AlarmName="api-p95-latency",
        AlarmDescription="api p95 latency above 2 s",
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        Dimensions=[{"Name": "LoadBalancer", "Value": "app/api-production/50dc6c495c0c9188"}],
        ExtendedStatistic="p95",
        Threshold=2.0,
        Unit="Seconds",
    ),
    dict(
        AlarmName="jobs-queue-depth",
        AlarmDescription="jobs queue backlog above 1000 messages",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "jobs"}],
        Statistic="Maximum",
        Threshold=1000.0,
        Unit="Count",
    ),
)


def seed_alarms(endpoint: str, lock: threading.RLock) -> None:
    cw = client(endpoint, "cloudwatch")
    for alarm in ALARMS:
        cw.put_metric_alarm(
            **alarm,
            Period=60,
            EvaluationPeriods=5,
            DatapointsToAlarm=3,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="missing",
            ActionsEnabled=True,
            AlarmActions=[f"arn:aws:sns:{REGION}:{ACCOUNT}:oncall-pager"],
        )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # The error rate crossed 0.5 % about eight minutes ago; it fired once yesterday too.
    points = ", ".join(
        f"{v} ({(now - timedelta(minutes=m)).strftime('%d/%m/%y %H:%M:%S')})"
        for v, m in ((1.84, 3), (1.21, 4), (0.92, 5))
    )
    reason = (
        f"Threshold Crossed: 3 out of the last 5 datapoints [{points}] were greater than the "
        "threshold (0.5) (minimum 3 datapoints for OK -> ALARM transition)."
    )
    for state, why in (
        ("ALARM", "Threshold Crossed: 3 out of the last 5 datapoints were greater than 0.5."),
        ("OK", "Threshold Crossed: 5 out of the last 5 datapoints were not greater than 0.5."),
        ("ALARM", reason),
    ):
        cw.set_alarm_state(
            AlarmName="api-5xx-error-rate",
            StateValue=state,
            StateReason=why,
            StateReasonData=json.dumps({"version": "1.0", "threshold": 0.5}),
        )
    cw.set_alarm_state(
        AlarmName="api-p95-latency",
        StateValue="INSUFFICIENT_DATA",
        StateReason="Insufficient Data: 5 datapoints were unknown.",
    )
    with lock:  # backdate the transitions: moto stamps them with the time of the call
        alarm = estate.cloudwatch_backend().alarms["api-5xx-error-rate"]
        when = [
            now - timedelta(days=6),
            now - timedelta(hours=20),
            now - timedelta(hours=19, minutes=31),
        ]
        alarm.history = [(*h[:4], t) for h, t in zip(alarm.history, when, strict=False)]
        alarm.state_updated_timestamp = now - timedelta(minutes=2)
    # An hour of one-minute history so sparklines have a shape from the first frame.
    rng = random.Random(7)
    for metric in estate.SERVICE_METRICS:
        points_ = [
            estate.metric_datum(metric, now - timedelta(minutes=m), rng, calm=m > 8)
            for m in range(60, 0, -1)
        ]
        for i in range(0, len(points_), 20):  # keep request bodies small
            cw.put_metric_data(Namespace=metric.namespace, MetricData=points_[i : i + 20])


# --- Logs ---------------------------------------------------------------------------


def seed_logs(endpoint: str) -> None:
    logs = client(endpoint, "logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.put_retention_policy(logGroupName=LOG_GROUP, retentionInDays=14)
    rng = random.Random(11)
    streams = estate.log_streams()
    for stream in streams:
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    # Five minutes of history, about one line a second spread over the streams.
    now_ms = int(time.time() * 1000)
    by_stream: dict[str, list[dict[str, Any]]] = {s: [] for s in streams}
    for i in range(300):
        ts = now_ms - (300 - i) * 1000 + rng.randint(0, 999)
        stream = rng.choice(streams)
        by_stream[stream].append({"timestamp": ts, "message": estate.log_line(stream, rng)})
    for stream, events in by_stream.items():
        if events:
            events.sort(key=lambda e: e["timestamp"])
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)


# --- SQS ------------------------------------------------------------------------------


def seed_sqs(endpoint: str) -> None:
    sqs = client(endpoint, "sqs")
    dlq_url = sqs.create_queue(
        QueueName="jobs-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-dlq"
    jobs_url = sqs.create_queue(
        QueueName="jobs",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    rng = random.Random(5)
    _send(sqs, dlq_url, [estate.job_body(rng, failed=True) for _ in range(4)])
    _send(sqs, jobs_url, [estate.job_body(rng) for _ in range(25)])


def _send(sqs: Any, url: str, bodies: list[str]) -> None:
    for i in range(0, len(bodies), 10):  # SendMessageBatch takes at most 10
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


# --- RDS ------------------------------------------------------------------------------


def seed_rds(endpoint: str) -> None:
    rds = client(endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="prod-postgresql",
        Engine="postgres",
        EngineVersion="15.5",
        DBInstanceClass="db.t3.medium",
        AllocatedStorage=100,
        StorageType="gp3",
        MasterUsername="app",
        MasterUserPassword="lab-only-password",
        DBName="app",
        MultiAZ=True,
        BackupRetentionPeriod=7,
    )
