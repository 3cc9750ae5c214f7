"""Issue 4 in depth, against moto's server over HTTP: deployments detail, deploy revision and
rollback confirmations, metrics batching with counted calls, dead-letter peek and redrive."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cockpit.actions import SERVICE_DEPLOY_REVISION, SERVICE_ROLLBACK
from cockpit.backends.aws import build_aws_sources
from cockpit.backends.base import (
    DeadLetterPeekable,
    DeadLetterRedrivable,
    DetailProvider,
    RevisionDeployable,
)
from cockpit.backends.ecs import EcsServicesSource
from cockpit.backends.sqs import SqsSource
from cockpit.errors import BackendError
from cockpit.profile import AwsConfig, EcsCluster, Profile, SqsQueue
from tests.fixtures.moto import ACCOUNT, REGION, aws_client

LOG_GROUP = "/ecs/api-production"


def lab_profile(endpoint: str, **aws: Any) -> Profile:
    return Profile(name="lab", lab=True, aws=AwsConfig(endpoint_url=endpoint, **aws))


def only(sources: list[Any], cls: type) -> Any:
    (src,) = [s for s in sources if isinstance(s, cls)]
    return src


def container(family: str, version: str) -> dict[str, Any]:
    return {
        "name": family,
        "image": f"registry.local/{family}:{version}",
        "memory": 512,
        "cpu": 256,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": LOG_GROUP, "awslogs-stream-prefix": family},
        },
    }


def seed_api(endpoint: str, revisions: int = 3, running: str = "api:2") -> Any:
    ecs = aws_client(endpoint, "ecs")
    ecs.create_cluster(clusterName="production")
    for i in range(1, revisions + 1):
        ecs.register_task_definition(
            family="api", containerDefinitions=[container("api", f"1.{i}")]
        )
    ecs.register_task_definition(family="worker", containerDefinitions=[container("worker", "9")])
    ecs.create_service(
        cluster="production", serviceName="api", taskDefinition=running, desiredCount=2
    )
    ecs.create_service(
        cluster="production", serviceName="worker", taskDefinition="worker:1", desiredCount=1
    )
    return ecs


def ecs_source(endpoint: str) -> EcsServicesSource:
    profile = lab_profile(endpoint, ecs=(EcsCluster("production"),))
    return only(build_aws_sources(profile)[0], EcsServicesSource)


def rolling(api_td1: str, api_td2: str) -> None:
    """The api service mid-rollout from api:1 to api:2, as the lab shows it."""
    from moto.backends import get_backend

    svc = get_backend("ecs")[ACCOUNT][REGION].services["production:api"]
    now = datetime.now(UTC)
    svc.deployments = [
        dict(id="ecs-svc/2", status="PRIMARY", taskDefinition=api_td2, desiredCount=2,
             runningCount=1, pendingCount=1, failedTasks=0, rolloutState="IN_PROGRESS",
             rolloutStateReason="ECS deployment ecs-svc/2 in progress.", launchType="FARGATE",
             createdAt=now - timedelta(minutes=2), updatedAt=now),
        dict(id="ecs-svc/1", status="ACTIVE", taskDefinition=api_td1, desiredCount=1,
             runningCount=1, pendingCount=0, failedTasks=0, rolloutState="COMPLETED",
             rolloutStateReason="", launchType="FARGATE",
             createdAt=now - timedelta(days=2), updatedAt=now),
    ]  # fmt: skip
    svc.events = [
        {"id": f"e{i}", "createdAt": now - timedelta(seconds=60 - i), "message": f"event {i}"}
        for i in range(60)
    ]


async def test_detail_shows_deployments_images_events_and_the_services_log_tail(
    moto_endpoint: str,
) -> None:
    ecs = seed_api(moto_endpoint, revisions=2)
    arn = {
        td: ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]["taskDefinitionArn"]
        for td in ("api:1", "api:2")
    }
    rolling(arn["api:1"], arn["api:2"])
    logs = aws_client(moto_endpoint, "logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    now = int(time.time() * 1000)
    for stream, prefix in (("api/api/task1", "api"), ("worker/worker/task9", "worker")):
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[
                {"timestamp": now - 70_000 + i * 1000, "message": f"{prefix} line {i}"}
                for i in range(70)
            ],
        )
    src = ecs_source(moto_endpoint)
    assert isinstance(src, DetailProvider)
    api = next(r for r in await src.fetch() if r.name == "api")

    sections = {s.title.split(" (")[0].split(":")[0]: s for s in await src.detail(api)}

    deps = sections["Deployments"]
    assert [(r[0], r[1], r[2], r[3], r[5].split()[0]) for r in deps.rows] == [
        ("PRIMARY", "api:2", "registry.local/api:1.2", "1/1/2", "IN_PROGRESS"),
        ("ACTIVE", "api:1", "registry.local/api:1.1", "1/0/1", "COMPLETED"),
    ]
    assert any("circuit breaker" in line for line in deps.lines)
    events = sections["Events"]
    assert len(events.rows) == 50 and events.rows[0][1] == "event 59"
    assert sections["Task definition api"].rows[0][:2] == ("api", "registry.local/api:1.2")
    (log_title,) = [t for t in sections if t.startswith("Logs")]
    lines = sections[log_title].lines
    # The last 50 of this service's 70 lines, oldest first; the worker's stream is not read.
    assert len(lines) == 50
    assert lines[0].endswith("api line 20") and lines[-1].endswith("api line 69")
    assert not any("worker" in line for line in lines)
    await src.close()


async def test_deploy_revision_prefills_the_latest_and_confirm_shows_from_to_images(
    moto_endpoint: str,
) -> None:
    ecs = seed_api(moto_endpoint, revisions=3, running="api:2")
    src = ecs_source(moto_endpoint)
    assert isinstance(src, RevisionDeployable)
    api = next(r for r in await src.fetch() if r.name == "api")

    params = SERVICE_DEPLOY_REVISION.resolve_params(src, api, None)
    assert params == {
        "revision": 3,  # the latest registered, not the running api:2
        "from": "api:2 (registry.local/api:1.2)",
        "to": "api:3 (registry.local/api:1.3)",
    }
    assert SERVICE_DEPLOY_REVISION.command(src, api, params)[:8] == [
        "aws", "ecs", "update-service", "--cluster", "production", "--service", "api",
        "--task-definition",
    ]  # fmt: skip
    assert SERVICE_DEPLOY_REVISION.command(src, api, params)[8] == "api:3"

    rollback = SERVICE_ROLLBACK.resolve_params(src, api, None)
    assert rollback == {
        "from": "api:2 (registry.local/api:1.2)",
        "to": "api:1 (registry.local/api:1.1)",
    }

    result = await src.deploy_revision(api, 3)
    assert "api:2 -> api:3 (registry.local/api:1.3)" in result
    svc = ecs.describe_services(cluster="production", services=["api"])["services"][0]
    assert svc["taskDefinition"].endswith("api:3")  # moto keeps the raw "api:3", AWS an ARN

    with pytest.raises(BackendError, match="api:9 is not registered"):
        await src.deploy_revision(api, 9)
    # a rollback of the redeployed service goes back one revision
    api = next(r for r in await src.fetch() if r.name == "api")
    assert "api:3 -> api:2" in await src.rollback(api)
    svc = ecs.describe_services(cluster="production", services=["api"])["services"][0]
    assert svc["taskDefinition"].endswith("api:2")
    await src.close()


def put_metrics(endpoint: str, services: list[str]) -> datetime:
    cw = aws_client(endpoint, "cloudwatch")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for k, svc in enumerate(services):
        for metric, base in (("CPUUtilization", 10.0), ("MemoryUtilization", 50.0)):
            cw.put_metric_data(
                Namespace="AWS/ECS",
                MetricData=[
                    {
                        "MetricName": metric,
                        "Dimensions": [
                            {"Name": "ClusterName", "Value": "production"},
                            {"Name": "ServiceName", "Value": svc},
                        ],
                        "Timestamp": now - timedelta(minutes=m),
                        "Value": base + k + (10 - m),  # rising over the last 10 minutes
                        "Unit": "Percent",
                    }
                    for m in range(10, 0, -1)
                ],
            )
    return now


async def test_metrics_for_all_services_in_one_get_metric_data_and_calls_counted(
    moto_endpoint: str,
) -> None:
    ecs = seed_api(moto_endpoint, revisions=1, running="api:1")
    for i in range(12):
        ecs.create_service(
            cluster="production", serviceName=f"svc-{i:02d}", taskDefinition="worker:1",
            desiredCount=1,
        )  # fmt: skip
    names = ["api", "worker"] + [f"svc-{i:02d}" for i in range(12)]
    put_metrics(moto_endpoint, ["api", "worker"])
    src = ecs_source(moto_endpoint)
    src.metrics_interval = 0  # every refresh
    pages: list[Any] = []
    src.client.meta.events.register(
        "before-call.ecs.ListServices",
        lambda params, **_: pages.append(json.loads(params["body"]).get("maxResults")),
    )

    first = {r.name: r for r in await src.fetch()}
    assert set(first) == set(names)
    # Rows never wait for metrics: the first refresh has none, and started reading them.
    assert all(r.metrics == () for r in first.values())
    assert src.ctx.calls[src.id] == {
        "ecs.ListServices": 1,
        "ecs.DescribeServices": 2,
        "ecs.DescribeTaskDefinition": 4,  # api:1, worker:1 and the latest of both families
    }
    assert pages == [100]  # ListServices' largest page, not AWS's default of 10
    assert await asyncio.to_thread(src.wait_for_metrics)
    # One GetMetricData for all 14 services' CPU and memory (28 series).
    assert src.ctx.calls[f"{src.id}/metrics"] == {"cloudwatch.GetMetricData": 1}

    rows = {r.name: r for r in await src.fetch()}
    metrics = dict(rows["api"].metrics)
    assert metrics["cpu"] == tuple(float(10 + 10 - m) for m in range(10, 0, -1))
    assert metrics["mem"][-1] == 59.0
    assert dict(rows["worker"].metrics)["cpu"][-1] == 20.0
    assert rows["svc-00"].metrics == ()  # no datapoints: no sparkline, not zeros
    # Task definitions are learnt once, and the list is kept for list_interval: a refresh
    # is the describe floor.
    assert src.ctx.calls[src.id] == {"ecs.DescribeServices": 2}
    by_title = {s.title: s for s in await src.detail(rows["api"])}
    cpu = by_title["Metrics, last hour (1-minute averages, %)"].rows[0]
    assert cpu == ("cpu", "10.0", "14.5", "19.0", "19.0", "10")
    # No log group yet: the detail still opens and says why there is no log tail.
    assert "log group does not exist" in by_title["Logs"].lines[0]

    # Between metric intervals the last values are kept and nothing is asked.
    assert await asyncio.to_thread(src.wait_for_metrics)
    src.metrics_interval = 3600
    before = src.ctx.total_calls["cloudwatch.GetMetricData"]
    for _ in range(2):
        again = {r.name: r for r in await src.fetch()}
    assert src.ctx.total_calls["cloudwatch.GetMetricData"] == before
    assert again["api"].metrics == rows["api"].metrics
    await src.close()


# --- dead letters ---------------------------------------------------------------------------


def seed_queues(endpoint: str, dead: int) -> tuple[Any, str, str]:
    sqs = aws_client(endpoint, "sqs")
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="jobs",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "5"})
        },
    )["QueueUrl"]
    for i in range(0, dead, 10):
        sqs.send_message_batch(
            QueueUrl=dlq_url,
            Entries=[
                {
                    "Id": str(j),
                    "MessageBody": json.dumps({"job": j}),
                    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "email"}},
                }
                for j in range(i, min(i + 10, dead))
            ],
        )
    return sqs, url, dlq_url


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of a queue (received and deleted), until it answers empty."""
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not msgs:
            return out
        out += msgs
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)
            ],
        )


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def sqs_source(endpoint: str) -> tuple[SqsSource, Any]:
    src = only(build_aws_sources(lab_profile(endpoint, sqs=(SqsQueue("jobs"),)))[0], SqsSource)
    (row,) = await src.fetch()
    return src, row


async def test_service_list_is_kept_for_its_interval_and_a_deleted_service_drops_at_once(
    moto_endpoint: str,
) -> None:
    ecs = seed_api(moto_endpoint, revisions=1, running="api:1")
    src = ecs_source(moto_endpoint)
    assert [r.name for r in await src.fetch()] == ["api", "worker"]
    assert src.ctx.calls[src.id]["ecs.ListServices"] == 1

    # Created between refreshes: the kept list does not know it yet, and asks nothing.
    ecs.create_service(cluster="production", serviceName="billing", taskDefinition="worker:1",
                       desiredCount=1)  # fmt: skip
    assert [r.name for r in await src.fetch()] == ["api", "worker"]
    assert "ecs.ListServices" not in src.ctx.calls[src.id]

    # Deleted: gone from the very next refresh (not a "missing" row), and listed anew after.
    ecs.update_service(cluster="production", service="worker", desiredCount=0)
    ecs.delete_service(cluster="production", service="worker")
    assert [r.name for r in await src.fetch()] == ["api"]
    assert [r.name for r in await src.fetch()] == ["api", "billing"]
    assert src.ctx.calls[src.id]["ecs.ListServices"] == 1

    # Once the interval is over, the list is read again.
    src.list_interval = 0
    ecs.create_service(cluster="production", serviceName="search", taskDefinition="worker:1",
                       desiredCount=1)  # fmt: skip
    assert [r.name for r in await src.fetch()] == ["api", "billing", "search"]


async def test_peek_shows_up_to_10_messages_and_warns_it_raised_the_receive_count(
    moto_endpoint: str,
) -> None:
    sqs, _, dlq_url = seed_queues(moto_endpoint, 12)
    src, row = await sqs_source(moto_endpoint)
    assert isinstance(src, DeadLetterPeekable)
    assert "--visibility-timeout" in src.peek_dlq_command(row)

    text = await src.peek_dlq(row)
    assert text.splitlines()[0] == "10 messages peeked from jobs-dlq (at most 10)"
    assert "a peek is a receive" in text
    assert '{"job": ' in text
    (section,) = await src.detail(row)  # the peek stays on the row's detail
    assert len(section.rows) == 10
    assert {r[2] for r in section.rows} == {"1"}  # receive count after one peek
    assert section.rows[0][4] == "kind=email"
    assert any("receive count" in line for line in section.lines)
    assert depth(sqs, dlq_url) == 12  # nothing deleted, nothing left invisible
    await src.close()


async def test_redrive_moves_every_message_exactly_once(moto_endpoint: str) -> None:
    sqs, url, dlq_url = seed_queues(moto_endpoint, 23)
    src, row = await sqs_source(moto_endpoint)
    assert isinstance(src, DeadLetterRedrivable)
    await src.peek_dlq(row)  # a peek just before must not hide messages from the redrive

    result = await src.redrive_dlq(row)

    assert result == "redrove 23 messages from the dead-letter queue to jobs"
    assert depth(sqs, dlq_url) == 0
    moved = drain(sqs, url)
    assert sorted(json.loads(m["Body"])["job"] for m in moved) == list(range(23))
    assert all(m["MessageAttributes"]["kind"]["StringValue"] == "email" for m in moved)
    assert src.redrive_progress["jobs"] == (23, 23)
    assert src.redrive_dlq_command(row)[:4] == [
        "aws", "sqs", "start-message-move-task", "--source-arn",
    ]  # fmt: skip
    assert src.redrive_dlq_command(row)[4] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs-dlq"
    await src.close()


async def test_redrive_send_failing_half_way_loses_nothing_and_a_retry_finishes(
    moto_endpoint: str,
) -> None:
    sqs, url, dlq_url = seed_queues(moto_endpoint, 25)
    src, row = await sqs_source(moto_endpoint)
    sends = {"n": 0}

    def fail_third_batch(**_: Any) -> None:
        sends["n"] += 1
        if sends["n"] == 3:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=moto_endpoint)

    src.client.meta.events.register("before-call.sqs.SendMessageBatch", fail_third_batch)
    with pytest.raises(BackendError, match="cannot reach"):
        await src.redrive_dlq(row)
    # Two batches moved; the third was received but not sent: it is back in the DLQ, visible.
    assert src.redrive_progress["jobs"] == (20, 25)
    assert depth(sqs, url) == 20 and depth(sqs, dlq_url) == 5
    visible = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert visible == "5"

    assert await src.redrive_dlq(row) == "redrove 5 messages from the dead-letter queue to jobs"
    moved = drain(sqs, url)
    assert sorted(json.loads(m["Body"])["job"] for m in moved) == list(range(25))
    assert depth(sqs, dlq_url) == 0
    await src.close()


async def test_redrive_partial_batch_failure_deletes_only_what_was_sent(
    moto_endpoint: str,
) -> None:
    sqs, url, dlq_url = seed_queues(moto_endpoint, 4)
    src, row = await sqs_source(moto_endpoint)

    # Make one entry invalid for real (a delay over 900 s fails that entry alone, in AWS and
    # moto) rather than faking the reply.
    def poison(params: dict[str, Any], **_: Any) -> None:
        for e in params.get("Entries", []):
            if json.loads(e["MessageBody"])["job"] == 2:
                e["DelaySeconds"] = 901

    src.client.meta.events.register("provide-client-params.sqs.SendMessageBatch", poison)
    with pytest.raises(BackendError, match="redrive stopped after 3 of 4"):
        await src.redrive_dlq(row)
    assert depth(sqs, url) == 3
    (left,) = drain(sqs, dlq_url)
    assert json.loads(left["Body"]) == {"job": 2}
    await src.close()


async def test_purge_still_empties_the_dead_letter_queue(moto_endpoint: str) -> None:
    sqs, url, dlq_url = seed_queues(moto_endpoint, 3)
    src, row = await sqs_source(moto_endpoint)
    assert "jobs-dlq" in await src.purge_dlq(row)
    assert depth(sqs, dlq_url) == 0
    (row,) = await src.fetch()
    assert row.dlq_depth == 0
    await src.close()
