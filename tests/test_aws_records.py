"""SDK answers -> records: the pure functions, against dicts shaped like AWS's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cockpit.backends.aws import AwsContext
from cockpit.backends.cloudwatch import resource_of, threshold_text, to_alarm
from cockpit.backends.ecs import EcsServicesSource, service_status
from cockpit.backends.rds import severity_of
from cockpit.backends.sqs import dlq_from_redrive
from cockpit.errors import BackendError
from cockpit.model import Severity
from cockpit.profile import AwsConfig, EcsCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"


def svc(running: int, desired: int, *deployments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "serviceName": "api",
        "runningCount": running,
        "desiredCount": desired,
        "pendingCount": 0,
        "taskDefinition": TD.format(3),
        "deployments": list(deployments),
        **extra,
    }


def dep(
    status: str, rollout: str, running: int, desired: int, rev: int = 3, **kw: Any
) -> dict[str, Any]:
    return {
        "id": f"ecs-svc/{rev}",
        "status": status,
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": desired,
        "taskDefinition": TD.format(rev),
        **kw,
    }


def row(s: dict[str, Any]) -> tuple[Severity, str, str]:
    r = service_status(s, source="aws:ecs:production", cluster="production")
    return r.status, r.status_text, r.deployment


def test_ecs_status_and_deployment_text() -> None:
    assert row(svc(2, 2, dep("PRIMARY", "COMPLETED", 2, 2))) == (
        Severity.OK,
        "healthy",
        "COMPLETED",
    )
    assert row(svc(0, 0, dep("PRIMARY", "COMPLETED", 0, 0)))[:2] == (Severity.OK, "healthy")
    assert row(svc(0, 2, dep("PRIMARY", "COMPLETED", 0, 2)))[:2] == (Severity.CRITICAL, "down")
    assert row(svc(1, 2, dep("PRIMARY", "COMPLETED", 1, 2)))[:2] == (Severity.WARNING, "degraded")
    deploying = svc(
        3, 2, dep("PRIMARY", "IN_PROGRESS", 1, 2), dep("ACTIVE", "COMPLETED", 2, 2, rev=2)
    )
    assert row(deploying) == (Severity.INFO, "deploying", "IN_PROGRESS 1/2")
    failed = svc(
        2, 2, dep("PRIMARY", "FAILED", 0, 2, failedTasks=3), dep("ACTIVE", "COMPLETED", 2, 2, rev=2)
    )
    assert row(failed) == (Severity.CRITICAL, "failed", "FAILED (3 tasks failed) +1")


def test_ecs_events_newest_first_and_capped() -> None:
    events = [
        {"id": str(i), "createdAt": T0 + timedelta(minutes=i), "message": f"m{i}"}
        for i in range(30)
    ]
    r = service_status(svc(1, 1, events=events), source="s", cluster="c")
    assert len(r.events) == 20
    assert r.events[0] == (T0 + timedelta(minutes=29), "m29")
    assert r.task_definition == "api:3"


def test_rollback_target_revision() -> None:
    src = EcsServicesSource(AwsContext(AwsConfig(), lab=True), EcsCluster("production"))
    r = service_status(
        svc(2, 2, dep("PRIMARY", "FAILED", 0, 2), dep("ACTIVE", "COMPLETED", 2, 2, rev=1)),
        source="s",
        cluster="production",
    )
    assert src.previous_task_definition(r) == "api:1"  # the deployment being replaced
    r = service_status(
        svc(2, 2, dep("PRIMARY", "COMPLETED", 2, 2)), source="s", cluster="production"
    )
    assert src.previous_task_definition(r) == "api:2"
    assert src.rollback_command(r) == [
        "aws", "ecs", "update-service", "--cluster", "production", "--service", "api",
        "--task-definition", "api:2", "--region", "us-east-1",
    ]  # fmt: skip
    first = service_status(
        {**svc(1, 1), "taskDefinition": TD.format(1)}, source="s", cluster="production"
    )
    with pytest.raises(BackendError, match="no earlier task definition"):
        src.rollback_command(first)


def test_alarm_fields() -> None:
    a = {
        "AlarmName": "p95",
        "StateValue": "ALARM",
        "StateReason": "Threshold Crossed",
        "StateUpdatedTimestamp": T0,
        "MetricName": "TargetResponseTime",
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 2.5,
        "Dimensions": [
            {"Name": "LoadBalancer", "Value": "x"},
            {"Name": "QueueName", "Value": "jobs"},
        ],
    }
    assert threshold_text(a) == "TargetResponseTime >= 2.5"
    assert resource_of(a) == "jobs"
    alarm = to_alarm(a, source="aws:alarms")
    assert (alarm.severity, alarm.since, alarm.reason) == (
        Severity.CRITICAL,
        T0,
        "Threshold Crossed",
    )
    assert (
        to_alarm({**a, "StateValue": "INSUFFICIENT_DATA"}, source="x").severity == Severity.UNKNOWN
    )
    assert (
        threshold_text({"ComparisonOperator": "LessThanThreshold", "Threshold": 1})
        == "expression < 1"
    )


def test_redrive_policy_and_rds_status() -> None:
    policy = (
        '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:111122223333:jobs-dlq","maxReceiveCount":5}'
    )
    assert dlq_from_redrive({"RedrivePolicy": policy}) == ("jobs-dlq", "111122223333")
    assert dlq_from_redrive({}) == ("", "")
    assert dlq_from_redrive({"RedrivePolicy": "not json"}) == ("", "")
    assert severity_of("available") == Severity.OK
    assert severity_of("storage-full") == Severity.CRITICAL
    assert severity_of("stopped") == Severity.WARNING
    assert severity_of("backing-up") == Severity.INFO
