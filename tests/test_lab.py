"""The embedded lab, end to end: a real child process serving moto over HTTP, real private
PostgreSQL and Redis when installed, checked through boto3/psycopg/redis-py as the panes
would read them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.lab import Lab, start_lab
from cockpit.profile import Profile
from tests.conftest import skip_or_fail
from tests.fixtures.moto import aws_client
from tests.helpers import wait_until_sync

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie nobody reaped yet counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][:1] != "Z"


def _env(**values: str) -> dict[str, str | None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    return old


def _restore(old: dict[str, str | None]) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    # A faster tick and log rate keep the waits short; the behaviour is the same.
    old = _env(COCKPIT_LAB_TICK="0.4", COCKPIT_LAB_LOG_RATE="4", COCKPIT_LAB_SERVICES="0")
    try:
        lab = start_lab()
    finally:
        _restore(old)
    try:
        yield lab
    finally:
        lab.stop()


def ecs_service(lab: Lab, name: str) -> dict[str, Any]:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    return ecs.describe_services(cluster="production", services=[name])["services"][0]


def primary(svc: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in svc["deployments"] if d["status"] == "PRIMARY")


# --- the seeded estate -------------------------------------------------------------------


def test_services_are_running_on_their_latest_revision(lab: Lab) -> None:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    svcs = {
        s["serviceName"]: s
        for s in ecs.describe_services(cluster="production", services=["api", "worker"])["services"]
    }
    assert (svcs["api"]["desiredCount"], svcs["api"]["runningCount"]) == (2, 2)
    assert (svcs["worker"]["desiredCount"], svcs["worker"]["runningCount"]) == (3, 3)
    assert svcs["api"]["taskDefinition"].endswith("task-definition/api:2")
    assert primary(svcs["worker"])["rolloutState"] == "COMPLETED"
    assert any("steady state" in e["message"] for e in svcs["api"]["events"])
    td = ecs.describe_task_definition(taskDefinition="api:2")["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == "registry.local/api:1.4.2"
    assert ecs.list_task_definitions(familyPrefix="worker")["taskDefinitionArns"][-1].endswith(
        "worker:2"
    )


def test_cluster_counts_its_services_and_tasks(lab: Lab) -> None:
    cluster = aws_client(lab.aws_endpoint, "ecs").describe_clusters(clusters=["production"])[
        "clusters"
    ][0]
    assert cluster["activeServicesCount"] == 2
    assert cluster["runningTasksCount"] >= 5


def test_alarms_at_runbook_thresholds_one_firing(lab: Lab) -> None:
    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    assert {n: a["Threshold"] for n, a in alarms.items()} == {
        "api-high-cpu": 80.0,
        "api-high-memory": 85.0,
        "api-5xx-error-rate": 0.5,
        "api-p95-latency": 2.0,
        "jobs-queue-depth": 1000.0,
    }
    firing = cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in firing] == ["api-5xx-error-rate"]
    assert "Threshold Crossed" in firing[0]["StateReason"]
    unknown = cw.describe_alarms(StateValue="INSUFFICIENT_DATA")["MetricAlarms"]
    assert [a["AlarmName"] for a in unknown] == ["api-p95-latency"]


def test_alarm_history_answers_with_the_transitions(lab: Lab) -> None:
    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    items = cw.describe_alarm_history(AlarmName="api-5xx-error-rate")["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
    ]
    assert items[0]["Timestamp"] > items[1]["Timestamp"] > items[2]["Timestamp"]
    assert json.loads(items[0]["HistoryData"])["newState"]["stateValue"] == "ALARM"


def test_alarm_metrics_have_an_hour_of_history(lab: Lab) -> None:
    from datetime import UTC, datetime, timedelta

    cw = aws_client(lab.aws_endpoint, "cloudwatch")
    now = datetime.now(UTC)
    got = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "cpu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ECS",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [
                            {"Name": "ClusterName", "Value": "production"},
                            {"Name": "ServiceName", "Value": "api"},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=now - timedelta(hours=1, minutes=5),
        EndTime=now,
    )["MetricDataResults"][0]
    assert len(got["Values"]) >= 50
    assert all(0 <= v <= 100 for v in got["Values"])


def test_log_events_keep_arriving(lab: Lab) -> None:
    logs = aws_client(lab.aws_endpoint, "logs")
    start = int(time.time() * 1000) - 10 * 60 * 1000

    def event_ids() -> dict[str, str]:
        out: dict[str, str] = {}
        kwargs: dict[str, Any] = {"logGroupName": "/ecs/api-production", "startTime": start}
        while True:
            page = logs.filter_log_events(**kwargs, interleaved=True)
            out.update({e["eventId"]: e["message"] for e in page["events"]})
            if not page.get("nextToken"):
                return out
            kwargs["nextToken"] = page["nextToken"]

    first = event_ids()
    assert len(first) >= 100  # a few minutes of history
    assert any(m.startswith("INFO GET /v1/orders 200 ") for m in first.values())
    assert any(m.startswith("ERROR ") for m in first.values())
    streams = logs.describe_log_streams(logGroupName="/ecs/api-production")["logStreams"]
    names = {s["logStreamName"].rsplit("/", 1)[0] for s in streams}
    assert names == {"api/api", "worker/worker"}
    wait_until_sync(lambda: set(event_ids()) - set(first), timeout=15, interval=0.3)


def test_live_tail_streams_only_new_matching_events(lab: Lab) -> None:
    """moto answers StartLiveTail with HTTP 500; the lab serves it as AWS does."""
    logs = aws_client(lab.aws_endpoint, "logs")
    group = f"/test/live-tail-{time.monotonic_ns()}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]

    def put(message: str) -> None:
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])  # fmt: skip

    put("ERROR before the session")  # history: live tail sends what is ingested from now on
    stream = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR")[
        "responseStream"
    ]
    try:
        events = iter(stream)
        start = next(events)["sessionStart"]
        assert start["logGroupIdentifiers"] == [arn] and start["logEventFilterPattern"] == "ERROR"
        put("INFO not matched")
        put("ERROR matched")
        deadline = time.monotonic() + 10
        seen: list[str] = []
        while "ERROR matched" not in seen:
            assert time.monotonic() < deadline, f"no update with the new event: {seen}"
            update = next(events)["sessionUpdate"]
            seen += [r["message"] for r in update["sessionResults"]]
            assert all(r["logGroupIdentifier"] == arn for r in update["sessionResults"])
        assert seen == ["ERROR matched"]
    finally:
        stream.close()


def test_cockpit_follows_the_lab_logs_by_live_tail_not_polling(lab: Lab) -> None:
    import asyncio

    from cockpit.sources import build_sources

    profile = lab.profile(Profile(name="lab", lab=True))
    source = next(s for s in build_sources(profile, lab.notes).log_sources
                  if s.id.startswith("aws:logs"))  # fmt: skip
    polls: list[str] = []
    source.client.meta.events.register(
        "before-call.cloudwatch-logs.FilterLogEvents", lambda **_: polls.append("poll")
    )
    started = int(time.time() * 1000)

    async def follow() -> list[str]:
        got: list[str] = []
        async with asyncio.timeout(20):
            async for batch in source.follow():
                got += [r.text for r in batch if r.time.timestamp() * 1000 >= started]
                if len(got) >= 3:  # lines written after the session began
                    return got
        return got

    assert len(asyncio.run(follow())) >= 3
    assert source.live_tail_unsupported == ""
    assert len(polls) == 1, "one catch-up poll when the session starts, then the stream"


def test_jobs_queue_has_a_dead_letter_queue_with_messages(lab: Lab) -> None:
    sqs = aws_client(lab.aws_endpoint, "sqs")
    jobs = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="jobs-dlq")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["All"])["Attributes"]
    policy = json.loads(attrs["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(":jobs-dlq")
    assert int(policy["maxReceiveCount"]) == 3
    assert int(attrs["ApproximateNumberOfMessages"]) >= 20
    dlq_attrs = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(dlq_attrs["ApproximateNumberOfMessages"]) == 4


def test_rds_instance_exists(lab: Lab) -> None:
    rds = aws_client(lab.aws_endpoint, "rds")
    db = rds.describe_db_instances(DBInstanceIdentifier="prod-postgresql")["DBInstances"][0]
    assert (db["Engine"], db["DBInstanceClass"]) == ("postgres", "db.t3.medium")


def test_profile_points_at_the_lab(lab: Lab) -> None:
    p = lab.profile(Profile("lab", lab=True))
    assert p.lab and p.aws is not None
    assert p.aws.endpoint_url == lab.aws_endpoint
    assert p.aws.ecs[0].cluster == "production"
    assert p.aws.ecs[0].log_groups == ("/ecs/api-production",)
    assert p.aws.sqs[0].queue == "jobs" and p.aws.rds == ("prod-postgresql",)
    assert bool(p.databases) == bool(lab.postgres_dsn)
    assert bool(p.redis) == bool(lab.redis_url)
    if lab.redis_url:
        assert p.redis[0].queues == ("jobs:email", "orders:events", "jobs:email:scheduled", "auto")


async def test_lab_host_rows_are_the_labs_own_servers_not_another_users(lab: Lab, tmp_path: Path) -> None:
    """Issue 22 item 2: another redis-server on the machine is not the lab's."""
    from cockpit.backends.hosts import build_host_sources
    from cockpit.lab.servers import start_redis

    if not (lab.redis_url and lab.postgres_dsn):
        skip_or_fail("the lab runs without its PostgreSQL or Redis")
    decoy = start_redis(tmp_path)  # someone else's redis-server on this machine
    try:
        (services, alarms), logs = build_host_sources(lab.profile(Profile("lab", lab=True)))
        try:
            rows = {r.name: r for r in await services.fetch()}  # type: ignore[attr-defined]
        finally:
            for src in (services, alarms, *logs):
                await src.close()  # type: ignore[attr-defined]
    finally:
        decoy.stop()
    own = {("postgres" if hasattr(s, "dsn") else "redis-server"): s.pid for s in lab._servers}
    for name in ("postgres", "redis-server"):
        row = rows[name]
        assert (row.running, row.status_text, row.deployment) == (1, "running (pid file)", "1 process")
        assert row.task_definition.startswith(f"pid {own[name]} ")


# --- the estate moves ----------------------------------------------------------------------


def _wait_rollout(lab: Lab, name: str, state: str, timeout: float = 30) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen["svc"] = ecs_service(lab, name)
        return primary(seen["svc"])["rolloutState"] == state

    wait_until_sync(reached, timeout=timeout, interval=0.1)
    return seen["svc"]


def test_force_new_deployment_rolls_out_task_by_task(lab: Lab) -> None:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    before = primary(ecs_service(lab, "api"))["id"]
    ecs.update_service(cluster="production", service="api", forceNewDeployment=True)
    svc = ecs_service(lab, "api")
    new = primary(svc)
    assert new["id"] != before and new["rolloutState"] == "IN_PROGRESS"
    assert new["runningCount"] < 2
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert svc["runningCount"] >= 2  # the old tasks keep serving meanwhile

    done = _wait_rollout(lab, "api", "COMPLETED")
    assert [d["status"] for d in done["deployments"]] == ["PRIMARY"]
    assert (done["runningCount"], primary(done)["runningCount"]) == (2, 2)
    assert "steady state" in done["events"][0]["message"]

    # The new tasks log into their own streams, as awslogs names them after the task id.
    logs = aws_client(lab.aws_endpoint, "logs")
    started = {
        e["message"].rsplit("(task ", 1)[1].rstrip(").")
        for e in done["events"]
        if "has started 1 tasks" in e["message"]
    }
    assert len(started) >= 2

    def streams_exist() -> bool:
        names = {
            s["logStreamName"]
            for s in logs.describe_log_streams(
                logGroupName="/ecs/api-production", logStreamNamePrefix="api/api/"
            )["logStreams"]
        }
        return {f"api/api/{t}" for t in started} <= names

    wait_until_sync(streams_exist, timeout=10, interval=0.2)


def test_new_task_definition_rolls_out_and_shows_its_arn(lab: Lab) -> None:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    ecs.update_service(cluster="production", service="worker", taskDefinition="worker:1")
    svc = ecs_service(lab, "worker")
    assert svc["taskDefinition"].endswith("task-definition/worker:1")
    assert primary(svc)["rolloutState"] == "IN_PROGRESS"
    done = _wait_rollout(lab, "worker", "COMPLETED")
    assert primary(done)["taskDefinition"].endswith("worker:1")
    ecs.update_service(cluster="production", service="worker", taskDefinition="worker:2")
    _wait_rollout(lab, "worker", "COMPLETED")


def test_scaling_moves_one_task_at_a_time(lab: Lab) -> None:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    _wait_rollout(lab, "api", "COMPLETED")
    ecs.update_service(cluster="production", service="api", desiredCount=5)
    seen: set[int] = set()

    def scaled() -> bool:
        svc = ecs_service(lab, "api")
        seen.add(svc["runningCount"])
        return svc["runningCount"] == 5

    wait_until_sync(scaled, timeout=30, interval=0.05)
    assert min(seen) < 5 and len(seen & {3, 4}) >= 1  # it did not jump
    ecs.update_service(cluster="production", service="api", desiredCount=2)
    wait_until_sync(lambda: ecs_service(lab, "api")["runningCount"] == 2, timeout=30)


def test_a_drilled_deployment_fails_and_a_redeploy_recovers(lab: Lab) -> None:
    ecs = aws_client(lab.aws_endpoint, "ecs")
    lab.send("fail-next-deployment worker")
    ecs.update_service(cluster="production", service="worker", forceNewDeployment=True)
    failed = _wait_rollout(lab, "worker", "FAILED")
    assert primary(failed)["failedTasks"] == 3
    assert failed["runningCount"] == 3  # the old deployment still serves
    logs = aws_client(lab.aws_endpoint, "logs")
    wait_until_sync(
        lambda: logs.filter_log_events(
            logGroupName="/ecs/api-production",
            logStreamNamePrefix="worker/",
            filterPattern='"startup failed"',
        )["events"],
        timeout=10,
        interval=0.2,
    )
    ecs.update_service(cluster="production", service="worker", forceNewDeployment=True)
    _wait_rollout(lab, "worker", "COMPLETED")


# --- private servers -------------------------------------------------------------------------


@pytest.mark.servers
def test_postgres_has_orders_and_sessions_in_several_states(lab: Lab) -> None:
    if lab.postgres_dsn is None:
        skip_or_fail(lab.notes.get("database", "the lab has no PostgreSQL"))
    import psycopg

    with psycopg.connect(lab.postgres_dsn, autocommit=True) as conn:

        def ready() -> bool:
            rows = conn.execute(
                "select count(*) from pg_stat_activity where application_name = 'metabase'"
            ).fetchone()
            return bool(rows and rows[0])

        wait_until_sync(ready, timeout=15)
        assert conn.execute("select count(*) from orders").fetchone()[0] >= 2000


@pytest.mark.servers
def test_redis_queue_and_stream_move(lab: Lab) -> None:
    if lab.redis_url is None:
        skip_or_fail(lab.notes.get("queues", "the lab has no Redis"))
    import redis

    r = redis.Redis.from_url(lab.redis_url, decode_responses=True)
    depths: set[int] = set()

    def moving() -> bool:
        depths.add(int(r.llen("jobs:email")))
        return len(depths) >= 3

    wait_until_sync(moving, timeout=15, interval=0.2)
    assert max(depths) <= 400
    wait_until_sync(lambda: r.exists("orders:events"), timeout=10)
    groups = r.xinfo_groups("orders:events")
    assert sorted(g["name"] for g in groups) == ["analytics", "fulfilment"]
    # The keys of a real application's job libraries, for queues: auto.
    assert r.type("jobs:email:scheduled") == "zset"
    assert r.sismember("rq:queues", "rq:queue:default")
    assert r.type("bull:emails:meta") == "hash" and r.type("_kombu.binding.celery") == "set"
    r.close()


@pytest.mark.servers
async def test_lab_queues_pane_rows_are_a_real_applications(lab: Lab) -> None:
    if lab.redis_url is None:
        skip_or_fail(lab.notes.get("queues", "the lab has no Redis"))
    import redis

    from cockpit.backends.redis import build_redis_sources

    r = redis.Redis.from_url(lab.redis_url, decode_responses=True)
    # The activity seeds every key at its start, the BullMQ hash last.
    wait_until_sync(lambda: r.exists("bull:emails:meta", "jobs:email:scheduled") == 2, timeout=15)
    r.close()
    p = lab.profile(Profile("lab", lab=True))
    _, queues = build_redis_sources(Profile("t", redis=p.redis))
    try:
        rows = {row.name: row for row in await queues.fetch()}
    finally:
        await queues.close()
    assert {"jobs:email", "orders:events", "jobs:email:scheduled", "celery", "rq:queue:default",
            "bull:emails:wait"} <= set(rows)  # fmt: skip
    kinds = {name: row.kind for name, row in rows.items()}
    assert kinds["orders:events"] == "stream" and kinds["jobs:email:scheduled"] == "zset"
    assert (kinds["celery"], kinds["rq:queue:default"], kinds["bull:emails:wait"]) == (
        "celery", "rq", "bullmq",
    )
    assert "backlog of group" in rows["orders:events"].note
    assert all(row.depth is not None for row in rows.values())


def test_a_missing_server_becomes_a_note_on_its_pane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit import lab as lab_module
    from cockpit.lab import servers
    from cockpit.model import PaneKind

    def missing(workdir: Path) -> Any:
        raise servers.ServerUnavailable(
            "redis-server is not installed", "apt-get install redis-server"
        )

    monkeypatch.setattr(servers, "start_redis", missing)
    results: dict[str, Any] = {}
    lab_module._start_server("queues", tmp_path, results)
    stub = Lab("http://127.0.0.1:1", None, None, {}, tmp_path)
    lab_module._adopt_servers(stub, results)
    assert stub.redis_url is None
    assert stub.notes == {"queues": "redis-server is not installed: apt-get install redis-server"}
    assert all(PaneKind(k) for k in stub.notes)  # the app keys notices by pane
    assert stub.profile(Profile("lab", lab=True)).redis == ()


# --- lifecycle ------------------------------------------------------------------------------


def test_size_option_and_stop_ends_the_child() -> None:
    old = _env(COCKPIT_LAB_SERVICES="30", COCKPIT_LAB_ALARMS="5")
    try:
        lab = start_lab(with_servers=False)
    finally:
        _restore(old)
    pid, state_dir = lab.pid, lab.state_dir
    assert pid and _alive(pid)
    try:
        ecs = aws_client(lab.aws_endpoint, "ecs")
        arns = ecs.list_services(cluster="production")["serviceArns"]
        assert len(arns) == 32
        svc = ecs.describe_services(cluster="production", services=["svc-0030"])["services"][0]
        assert svc["runningCount"] == svc["desiredCount"] == 2
        cw = aws_client(lab.aws_endpoint, "cloudwatch")
        extra = cw.describe_alarms(AlarmNamePrefix="svc-")["MetricAlarms"]
        assert [a["AlarmName"] for a in extra] == [f"svc-{i:04d}-high-cpu" for i in range(1, 6)]
        assert {a["StateValue"] for a in extra} == {"INSUFFICIENT_DATA"}  # shown by the lab profile
    finally:
        lab.stop()
    assert not _alive(pid)
    assert not state_dir.exists()
    lab.stop()  # idempotent


def test_a_lab_that_cannot_start_says_why_and_leaves_nothing_behind() -> None:
    from cockpit.lab import LabError

    old = _env(COCKPIT_LAB_SERVICES="many")  # the child's seed rejects it and exits
    try:
        with pytest.raises(LabError) as err:
            start_lab(with_servers=False)
    finally:
        _restore(old)
    assert "exited with code 1" in err.value.message
    assert "COCKPIT_LAB_SERVICES must be a whole number" in err.value.message
    state_dir = Path(err.value.hint.split("see ", 1)[1].split(";")[0]).parent
    assert not state_dir.exists()


PARENT = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from cockpit.lab import start_lab
    lab = start_lab()
    pids = [lab.pid] + [s.pid for s in lab._servers]
    print(json.dumps({"pids": pids, "state_dir": str(lab.state_dir)}), flush=True)
    time.sleep(600)
    """
)


def test_the_lab_stops_when_the_cockpit_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(ROOT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line, "the parent did not start the lab"
        info = json.loads(line)
        pids = [p for p in info["pids"] if p]
        assert all(_alive(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    # the moto child, and PostgreSQL/Redis through it, stop without anyone's help
    wait_until_sync(lambda: not any(_alive(p) for p in pids), timeout=10, interval=0.1)
    wait_until_sync(lambda: not Path(info["state_dir"]).exists(), timeout=5)
