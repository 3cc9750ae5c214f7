"""The AWS backend against moto's server over HTTP (boto3 all the way, no SDK mocks)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.base import (
    Explainable,
    LogSource,
    Purgeable,
    Restartable,
    Scalable,
    Snapshottable,
    Source,
)
from cockpit.backends.cloudwatch import AlarmsSource
from cockpit.backends.ecs import EcsServicesSource
from cockpit.backends.logs import EcsLogSource
from cockpit.backends.rds import RdsSource
from cockpit.backends.sqs import SqsSource
from cockpit.model import PaneKind, Severity
from cockpit.profile import AlarmFilter, AwsConfig, EcsCluster, Profile, SqsQueue, Thresholds
from tests.fixtures.moto import ACCOUNT, REGION, aws_client


def lab_profile(endpoint: str, **aws: Any) -> Profile:
    return Profile(name="lab", lab=True, aws=AwsConfig(endpoint_url=endpoint, **aws))


def only(sources: list[Any], cls: type) -> Any:
    (src,) = [s for s in sources if isinstance(s, cls)]
    return src


def ecs_backend() -> Any:
    # ThreadedMotoServer serves from this process, so the test can set what ECS would
    # report (moto starts no tasks) on the same backend the HTTP requests read.
    from moto.backends import get_backend

    return get_backend("ecs")[ACCOUNT][REGION]


def seed_cluster(endpoint: str, n: int) -> Any:
    ecs = aws_client(endpoint, "ecs")
    ecs.create_cluster(clusterName="production")
    td = ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    for i in range(n):
        ecs.create_service(
            cluster="production", serviceName=f"svc-{i:02d}", taskDefinition=td, desiredCount=2
        )
    return ecs


def set_counts(name: str, running: int, rollout: str = "COMPLETED") -> None:
    svc = ecs_backend().services[f"production:{name}"]
    svc.running_count, svc.pending_count = running, svc.desired_count - running
    dep = dict(svc.deployments[0])
    dep.update(runningCount=running, rolloutState=rollout)
    svc.deployments = [dep]


def test_build_sources_from_profile(moto_endpoint: str) -> None:
    profile = lab_profile(
        moto_endpoint,
        ecs=(EcsCluster("production", log_groups=("/ecs/api",)), EcsCluster("staging")),
        alarms=AlarmFilter(),
        sqs=(SqsQueue("jobs"),),
        rds=("orders-db",),
    )
    sources, logs = build_aws_sources(profile)
    assert [(s.id, s.pane) for s in sources] == [
        ("aws:ecs:production", PaneKind.SERVICES),
        ("aws:ecs:staging", PaneKind.SERVICES),
        ("aws:alarms", PaneKind.ALARMS),
        ("aws:sqs", PaneKind.QUEUES),
        ("aws:rds", PaneKind.DATABASE),
    ]
    assert [lg.id for lg in logs] == ["aws:logs:production"]
    assert all(isinstance(s, Source) and isinstance(s, Explainable) for s in sources)
    assert isinstance(logs[0], LogSource)
    assert build_aws_sources(Profile(name="none")) == ([], [])


async def test_ecs_lists_all_services_in_batches_and_computes_status(moto_endpoint: str) -> None:
    seed_cluster(moto_endpoint, 12)
    set_counts("svc-00", 2)  # healthy
    set_counts("svc-01", 1)  # degraded
    set_counts("svc-02", 2, rollout="IN_PROGRESS")  # deploying
    set_counts("svc-03", 2, rollout="FAILED")  # failed
    # the rest: moto's fresh services, running 0 of 2 -> down
    sources, _ = build_aws_sources(lab_profile(moto_endpoint, ecs=(EcsCluster("production"),)))
    src = only(sources, EcsServicesSource)
    calls: list[int] = []
    src.client.meta.events.register(
        "before-call.ecs.DescribeServices",
        # before-call sees the wire request: the JSON body holds the batch
        lambda params, **_: calls.append(len(json.loads(params["body"])["services"])),
    )

    rows = await src.fetch()

    assert [r.name for r in rows] == [f"svc-{i:02d}" for i in range(12)]
    assert sorted(calls) == [2, 10]  # batches run concurrently: any order
    status = {r.name: (r.status, r.status_text) for r in rows}
    assert status["svc-00"] == (Severity.OK, "healthy")
    assert status["svc-01"] == (Severity.WARNING, "degraded")
    assert status["svc-02"] == (Severity.INFO, "deploying")
    assert status["svc-03"] == (Severity.CRITICAL, "failed")
    assert status["svc-04"] == (Severity.CRITICAL, "down")
    api = rows[0]
    assert (api.backend, api.cluster, api.task_definition) == ("ecs", "production", "api:1")
    assert (api.running, api.desired, api.deployment) == (2, 2, "COMPLETED")
    assert api.deployments[0].status == "PRIMARY"
    assert rows[2].deployment == "IN_PROGRESS 2/2"
    await src.close()


async def test_a_large_cluster_reads_unsettled_services_each_refresh_and_settled_ones_in_turn(
    moto_endpoint: str,
) -> None:
    ecs = seed_cluster(moto_endpoint, 40)
    for i in range(40):
        set_counts(f"svc-{i:02d}", 2)
    set_counts("svc-01", 1)  # degraded: read on every refresh
    sources, _ = build_aws_sources(lab_profile(moto_endpoint, ecs=(EcsCluster("production"),)))
    src = only(sources, EcsServicesSource)
    src.describe_all_up_to = 10  # a "large" cluster at test size
    read: list[str] = []
    src.client.meta.events.register(
        "before-call.ecs.DescribeServices",
        lambda params, **_: read.extend(a.rsplit("/", 1)[-1] for a in json.loads(params["body"])["services"]),
    )

    async def refresh(after_s: float = 5.0) -> dict[str, Any]:
        read.clear()
        if src._fetched_at is not None:
            src._fetched_at -= after_s  # as if the hub's interval had passed
        return {r.name: r for r in await src.fetch()}

    rows = await refresh()
    # The first refresh reads the top of the pane and says it is partial; the next (the hub
    # asks at once) reads the rest.
    assert src.partial and sorted(read) == list(rows) == [f"svc-{i:02d}" for i in range(10)]
    rows = await refresh(after_s=0.0)
    assert not src.partial and len(rows) == 40
    rest = {f"svc-{i:02d}" for i in range(10, 40)}
    assert rest <= set(read) and len(read) <= len(rest) + 2  # + svc-01 (degraded), + the oldest
    rows = await refresh()
    assert len(rows) == 40, "services not read this time keep their last row"
    assert "svc-01" in read and len(read) == 1 + 7  # the unsettled one, and 39 settled / 6
    set_counts("svc-05", 0)  # goes down; seen within a sweep, then read every time
    ecs.delete_service(cluster="production", service="svc-20", force=True)
    await src.scale(rows["svc-10"], 3)  # acted on from here: read on the next refresh
    rows = await refresh()
    assert "svc-10" in read and rows["svc-10"].desired == 3
    seen: set[str] = set(read)
    for _ in range(6):  # a sweep (30 s) of 5 s refreshes reads every settled service
        rows = await refresh()
        seen.update(read)
        assert len(read) < 20
    assert seen >= {f"svc-{i:02d}" for i in range(40)} - {"svc-20"}
    assert rows["svc-05"].status_text == "down"
    assert "svc-20" not in rows, "a deleted service stayed"
    await refresh()
    assert {"svc-01", "svc-05"} <= set(read), "unsettled services are read on every refresh"
    await src.close()


async def test_ecs_configured_services_only_and_missing_one_shown(moto_endpoint: str) -> None:
    seed_cluster(moto_endpoint, 3)
    profile = lab_profile(
        moto_endpoint, ecs=(EcsCluster("production", services=("svc-02", "svc-00", "gone")),)
    )
    src = only(build_aws_sources(profile)[0], EcsServicesSource)
    rows = await src.fetch()
    assert [(r.name, r.status_text) for r in rows] == [
        ("svc-02", "down"),
        ("svc-00", "down"),
        ("gone", "missing"),
    ]
    assert src.explain_command() == [
        "aws", "ecs", "describe-services", "--cluster", "production",
        "--services", "svc-02", "svc-00", "gone",
        "--region", "us-east-1", "--endpoint-url", moto_endpoint,
    ]  # fmt: skip


async def test_ecs_restart_and_scale_are_seen_by_describe_services(moto_endpoint: str) -> None:
    ecs = seed_cluster(moto_endpoint, 1)
    src = only(
        build_aws_sources(lab_profile(moto_endpoint, ecs=(EcsCluster("production"),)))[0],
        EcsServicesSource,
    )
    assert isinstance(src, Restartable) and isinstance(src, Scalable)
    (row,) = await src.fetch()
    before = row.deployments[0].id

    result = await src.restart(row)
    after = ecs.describe_services(cluster="production", services=["svc-00"])["services"][0]
    new_id = after["deployments"][0]["id"]
    # moto replaces the PRIMARY deployment's id rather than adding one; AWS adds one.
    assert new_id != before
    assert new_id in result
    assert src.restart_command(row) == [
        "aws", "ecs", "update-service", "--cluster", "production", "--service", "svc-00",
        "--force-new-deployment", "--region", "us-east-1", "--endpoint-url", moto_endpoint,
    ]  # fmt: skip

    await src.scale(row, 5)
    svc = ecs.describe_services(cluster="production", services=["svc-00"])["services"][0]
    assert svc["desiredCount"] == 5
    assert src.scale_command(row, 5)[:9] == [
        "aws", "ecs", "update-service", "--cluster", "production",
        "--service", "svc-00", "--desired-count", "5",
    ]  # fmt: skip


async def test_alarms_in_alarm_returned_with_reason_and_filtered_by_state(
    moto_endpoint: str,
) -> None:
    cw = aws_client(moto_endpoint, "cloudwatch")
    for name, metric, dims in [
        ("prod-api-cpu", "CPUUtilization", [{"Name": "ServiceName", "Value": "api"}]),
        ("prod-jobs-depth", "ApproximateNumberOfMessagesVisible", [{"Name": "QueueName", "Value": "jobs"}]),
        ("prod-quiet", "CPUUtilization", []),
        ("other-cpu", "CPUUtilization", []),
    ]:  # fmt: skip
        cw.put_metric_alarm(
            AlarmName=name, MetricName=metric, Namespace="AWS/ECS", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=80, Dimensions=dims,
            ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    cw.set_alarm_state(AlarmName="prod-api-cpu", StateValue="ALARM", StateReason="CPU 93 > 80")
    cw.set_alarm_state(
        AlarmName="prod-jobs-depth", StateValue="INSUFFICIENT_DATA", StateReason="no data"
    )
    cw.set_alarm_state(AlarmName="other-cpu", StateValue="ALARM", StateReason="not ours")

    profile = lab_profile(moto_endpoint, alarms=AlarmFilter(prefix="prod-"))
    src = only(build_aws_sources(profile)[0], AlarmsSource)
    alarms = await src.fetch()
    assert [(a.name, a.severity, a.state) for a in alarms] == [
        ("prod-jobs-depth", Severity.UNKNOWN, "INSUFFICIENT_DATA"),
        ("prod-api-cpu", Severity.CRITICAL, "ALARM"),
    ]  # UNKNOWN sorts above CRITICAL: Severity orders it worst
    cpu = alarms[1]
    assert (cpu.reason, cpu.resource, cpu.threshold) == (
        "CPU 93 > 80",
        "api",
        "CPUUtilization > 80",
    )
    assert cpu.since is not None and cpu.since.utcoffset() == timedelta(0)
    assert alarms[0].resource == "jobs"

    only_alarm = AlarmsSource(src.ctx, AlarmFilter(states=("ALARM",)))
    assert {a.name for a in await only_alarm.fetch()} == {"prod-api-cpu", "other-cpu"}


async def test_alarms_fitting_one_page_take_one_call_and_a_larger_estate_one_per_state(
    moto_endpoint: str,
) -> None:
    cw = aws_client(moto_endpoint, "cloudwatch")

    def put(name: str, state: str) -> None:
        cw.put_metric_alarm(
            AlarmName=name, MetricName="CPUUtilization", Namespace="AWS/ECS", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=80, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"{name} is {state}")

    put("api-cpu", "ALARM")
    put("jobs-depth", "INSUFFICIENT_DATA")
    put("db-cpu", "OK")
    profile = lab_profile(moto_endpoint, alarms=AlarmFilter(states=("ALARM", "INSUFFICIENT_DATA")))
    src = only(build_aws_sources(profile)[0], AlarmsSource)
    calls: list[dict[str, Any]] = []
    src.client.meta.events.register(
        "provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: calls.append(dict(params))
    )
    assert {a.name for a in await src.fetch()} == {"api-cpu", "jobs-depth"}
    assert len(calls) == 1 and "StateValue" not in calls[0]

    # More than a page: most are OK, so AWS filters them out, one call per state. (AWS
    # says so with a NextToken and is asked per state at once; moto answers in full.)
    for i in range(101):
        put(f"ok-{i:03d}", "OK")
    calls.clear()
    assert {a.name for a in await src.fetch()} == {"api-cpu", "jobs-depth"}
    assert [c.get("StateValue") for c in calls] == [None]
    calls.clear()
    assert {a.name for a in await src.fetch()} == {"api-cpu", "jobs-depth"}
    assert [c.get("StateValue") for c in calls] == ["ALARM", "INSUFFICIENT_DATA"]


async def test_sqs_depth_and_dlq_depth_through_redrive_policy(moto_endpoint: str) -> None:
    sqs = aws_client(moto_endpoint, "sqs")
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    url = sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    plain = sqs.create_queue(QueueName="emails")["QueueUrl"]
    for i in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {i}")
    for i in range(2):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=f"dead {i}")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=300)
    for i in range(3):
        sqs.send_message(QueueUrl=plain, MessageBody=f"mail {i}")

    profile = Profile(
        name="lab",
        lab=True,
        aws=AwsConfig(endpoint_url=moto_endpoint, sqs=(SqsQueue("jobs"), SqsQueue("emails"))),
        thresholds=Thresholds(queue_depth=2),
    )
    src = only(build_aws_sources(profile)[0], SqsSource)
    jobs, emails = await src.fetch()
    assert (jobs.name, jobs.depth, jobs.in_flight) == ("jobs", 3, 1)
    assert (jobs.dlq_name, jobs.dlq_depth, jobs.severity) == ("jobs-dlq", 2, Severity.WARNING)
    assert jobs.oldest_age_s is None and jobs.url == url
    # no DLQ; depth 3 is over the profile's threshold of 2
    assert (emails.depth, emails.dlq_depth, emails.severity) == (3, None, Severity.WARNING)

    assert isinstance(src, Purgeable)
    assert src.purge_dlq_command(jobs) == [
        "aws", "sqs", "purge-queue", "--queue-url", dlq_url,
        "--region", "us-east-1", "--endpoint-url", moto_endpoint,
    ]  # fmt: skip
    assert "jobs-dlq" in await src.purge_dlq(jobs)
    jobs, _ = await src.fetch()
    assert jobs.dlq_depth == 0 and jobs.depth == 3 and jobs.severity == Severity.WARNING

    from cockpit.errors import BackendError

    with pytest.raises(BackendError, match="no dead-letter queue"):
        await src.purge_dlq(emails)


async def test_rds_status_and_snapshot(moto_endpoint: str) -> None:
    rds = aws_client(moto_endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        MasterUsername="admin", MasterUserPassword="secret-password", AllocatedStorage=20,
    )  # fmt: skip
    src = only(
        build_aws_sources(lab_profile(moto_endpoint, rds=("orders-db", "gone-db")))[0], RdsSource
    )
    db, gone = await src.fetch()
    assert (db.name, db.backend, db.status, db.severity) == (
        "orders-db", "rds", "available", Severity.OK,
    )  # fmt: skip
    detail = dict(db.detail)
    assert detail["class"] == "db.t3.micro" and detail["engine"].startswith("postgres")
    assert "endpoint" in detail
    assert (gone.status, gone.severity) == ("not found", Severity.UNKNOWN)

    assert isinstance(src, Snapshottable)
    await src.snapshot(db, "before-migration")
    snaps = rds.describe_db_snapshots(DBInstanceIdentifier="orders-db", SnapshotType="manual")[
        "DBSnapshots"
    ]
    assert [s["DBSnapshotIdentifier"] for s in snaps] == ["before-migration"]
    assert src.snapshot_command(db, "x")[:7] == [
        "aws", "rds", "create-db-snapshot", "--db-instance-identifier", "orders-db",
        "--db-snapshot-identifier", "x",
    ]  # fmt: skip


def put_events(
    logs: Any, group: str, stream: str, texts: list[str], base_ms: int, step_ms: int = 1
) -> None:
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": base_ms + i * step_ms, "message": t} for i, t in enumerate(texts)],
    )


def log_setup(endpoint: str) -> tuple[Any, EcsLogSource]:
    logs = aws_client(endpoint, "logs")
    for group, stream in [("/ecs/api", "ecs/api/1a2b3c4d"), ("/ecs/worker", "ecs/worker/9f8e7d")]:
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    profile = lab_profile(
        endpoint, ecs=(EcsCluster("production", log_groups=("/ecs/api", "/ecs/worker")),)
    )
    (src,) = build_aws_sources(profile)[1]
    assert isinstance(src, EcsLogSource)
    src.poll_interval = 0.01
    return logs, src


async def next_batch(gen: Any, deadline_s: float = 5.0) -> list[Any]:
    import asyncio

    return await asyncio.wait_for(gen.__anext__(), deadline_s)


async def test_logs_follow_two_polls_in_order_without_duplicates(moto_endpoint: str) -> None:
    logs, src = log_setup(moto_endpoint)
    now = int(time.time() * 1000)
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["INFO start", "ERROR boom"], now - 3000, 1000)
    put_events(logs, "/ecs/worker", "ecs/worker/9f8e7d", ["level=warning slow"], now - 2500)
    gen = src.follow()

    first = await next_batch(gen)
    assert [r.text for r in first] == ["INFO start", "level=warning slow", "ERROR boom"]
    assert [r.level.name for r in first] == ["INFO", "WARN", "ERROR"]
    assert first[0].source == "api/1a2b3c" and first[1].source == "worker/9f8e7d"

    # The next poll overlaps the last 2 s, so it sees the old events again: only new ones
    # may come out.
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["DEBUG later"], now + 10)
    put_events(logs, "/ecs/worker", "ecs/worker/9f8e7d", ["done"], now + 5)
    second = await next_batch(gen)
    assert [r.text for r in second] == ["done", "DEBUG later"]
    seen = [r.id for r in first + second]
    assert len(seen) == len(set(seen))
    times = [r.time for r in first + second]
    assert times == sorted(times)
    await gen.aclose()


async def test_logs_first_poll_is_capped_to_the_newest_500(moto_endpoint: str) -> None:
    logs, src = log_setup(moto_endpoint)
    now = int(time.time() * 1000) - 60_000
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", [f"line {i}" for i in range(600)], now)
    src.page_limit = 70  # many pages: every nextToken must be followed
    pages: list[int] = []
    src.client.meta.events.register("before-call.logs.FilterLogEvents", lambda **_: pages.append(1))
    records = src.poll_once()
    assert len(pages) >= 600 // 70
    assert len(records) == 500
    assert records[0].text == "line 100" and records[-1].text == "line 599"


async def test_logs_resume_after_an_error_without_loss(moto_endpoint: str) -> None:
    from cockpit.errors import BackendError

    logs, src = log_setup(moto_endpoint)
    now = int(time.time() * 1000)
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["one"], now - 1000)
    gen = src.follow()
    assert [r.text for r in await next_batch(gen)] == ["one"]

    # Fail the next FilterLogEvents call, after new events were written.
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["two"], now)
    state = {"fail": True}

    def boom(**_: Any) -> None:
        if state.pop("fail", False):
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=moto_endpoint)

    src.client.meta.events.register("before-call.logs.FilterLogEvents", boom)
    with pytest.raises(BackendError, match="cannot reach"):
        await next_batch(gen)

    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["three"], now + 1)
    gen = src.follow()  # what the hub does after an error
    assert [r.text for r in await next_batch(gen)] == ["two", "three"]
    await gen.aclose()


def test_parse_level_and_labels() -> None:
    from cockpit.backends.logs import parse_level, source_label

    assert parse_level("2024-01-01 WARN disk").name == "WARN"
    assert parse_level('{"level": "error", "msg": "x"}').name == "ERROR"
    assert parse_level("no error here").name == "INFO"
    assert parse_level("[DEBUG] x").name == "DEBUG"
    assert source_label("/ecs/api", "ecs/api/1a2b3c4d5e") == "api/1a2b3c"
    assert source_label("app", "single-stream") == "app/single-stream"


async def test_ecs_rollback_goes_to_the_previous_revision(moto_endpoint: str) -> None:
    ecs = seed_cluster(moto_endpoint, 0)
    td2 = ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": "nginx:2", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="production", serviceName="api", taskDefinition=td2, desiredCount=1)
    src = only(
        build_aws_sources(lab_profile(moto_endpoint, ecs=(EcsCluster("production"),)))[0],
        EcsServicesSource,
    )
    (row,) = await src.fetch()
    assert row.task_definition == "api:2"
    assert "api:2 -> api:1" in await src.rollback(row)
    (row,) = await src.fetch()
    assert row.task_definition == "api:1"


async def test_logs_cancelled_poll_loses_nothing(moto_endpoint: str) -> None:
    import asyncio
    import threading

    logs, src = log_setup(moto_endpoint)
    now = int(time.time() * 1000)
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["one"], now - 1000)
    gen = src.follow()
    assert [r.text for r in await next_batch(gen)] == ["one"]

    # The hub is stopped while a poll is in its thread: that poll's events must come out
    # of the next follow(), because the cursor only moves when a batch is handed over.
    put_events(logs, "/ecs/api", "ecs/api/1a2b3c4d", ["two"], now)
    entered, release = threading.Event(), threading.Event()

    def hold(**_: Any) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(5)

    src.client.meta.events.register("before-call.logs.FilterLogEvents", hold)
    task = asyncio.ensure_future(next_batch(gen))
    await asyncio.to_thread(entered.wait, 5)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task

    gen = src.follow()
    assert [r.text for r in await next_batch(gen)] == ["two"]
    await gen.aclose()
