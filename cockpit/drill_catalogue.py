"""The drill catalogue: each incident the lab can be given, how it is injected, when its goal
is met and how it is cleaned up. ``cockpit.drills`` runs them (sessions, the runner, the CLI).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.errors import CockpitError
from cockpit.profile import Profile, Thresholds

CLUSTER = "production"
READY_TIMEOUT = 20.0  # how long an injection may take to show in the estate


class DrillUnavailable(CockpitError):
    """The drill cannot run on this lab (a backend or server it needs is missing)."""


# --- lab access -----------------------------------------------------------------------------


def _client(lab: Any, service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=lab.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False, read_timeout=5),
    )


def _service(lab: Any, name: str) -> dict[str, Any]:
    return _client(lab, "ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def _set_alarm(lab: Any, name: str, state: str, reason: str) -> None:
    _client(lab, "cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def _ensure_alarm(lab: Any, **spec: Any) -> None:
    """Drill alarms are created on first use, at the runbooks' thresholds."""
    _client(lab, "cloudwatch").put_metric_alarm(
        Period=60,
        EvaluationPeriods=1,
        Statistic=spec.pop("Statistic", "Average"),
        ActionsEnabled=True,
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:oncall-pager"],
        **spec,
    )


def _wait(cond: Any, what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise CockpitError(f"the drill could not {what} within {timeout:.0f} s", "is the lab running?")
        time.sleep(0.1)


def _dlq_url(lab: Any) -> str:
    return str(_client(lab, "sqs").get_queue_url(QueueName="jobs-dlq")["QueueUrl"])


def _incident_apis(lab: Any, on: bool) -> None:
    """The lab's Sentry error spike and PagerDuty page of the api-down drill (or their end)."""
    try:
        from cockpit.lab.incidentlab import api_down_drill

        api_down_drill(lab, on)
    except Exception:  # the drill stands without them (an older lab, a server that failed)
        import logging

        logging.getLogger("cockpit.drills").exception("Sentry/PagerDuty part of api-down")


# --- the drills -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Drill:
    """One incident. Subclasses do the work; instances hold no state (sessions do)."""

    name: str
    title: str
    description: str
    goal_text: str
    detect_on: tuple[str, ...] = ()  # alarm / row names whose first focus counts as detection
    unavailable: str = ""  # why it cannot run yet ("" when it can)
    in_cockpit_only: str = ""  # why `cockpit drill run` cannot run it ("" when it can)

    async def inject(self, lab: Any, sources: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """Break the lab; return what the session keeps for ``goal_met``/``cleanup``.
        ``sources`` finds the cockpit's sources by id, for a drill that changes one."""
        if self.unavailable:
            raise DrillUnavailable(f"drill {self.name} is not available yet", self.unavailable)
        return await asyncio.to_thread(self._inject, lab)

    async def goal_met(self, lab: Any, state: dict[str, Any] | None = None) -> bool:
        return await asyncio.to_thread(self._goal_met, lab, state or {})

    async def cleanup(self, lab: Any, state: dict[str, Any] | None = None) -> None:
        await asyncio.to_thread(self._cleanup, lab, state or {})

    def _inject(self, lab: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        return None


SERVICE_DOWN_ALARM = "api-service-down"
DLQ_ALARM = "jobs-dlq-not-empty"
ERROR_ALARM = "api-5xx-error-rate"


def _settled(svc: dict[str, Any], minimum: int) -> bool:
    deps = svc.get("deployments", [])
    return (
        svc["runningCount"] == svc["desiredCount"] >= minimum
        and all(d.get("rolloutState") in (None, "COMPLETED") for d in deps if d.get("status") == "PRIMARY")
        and not any(d.get("status") == "ACTIVE" and d.get("runningCount") for d in deps)
    )


@dataclass(frozen=True)
class ApiDown(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        desired = int(_service(lab, "api")["desiredCount"]) or 2
        _ensure_alarm(
            lab,
            AlarmName=SERVICE_DOWN_ALARM,
            AlarmDescription="api has fewer running tasks than desired (runbook: service down)",
            Namespace="ECS/ContainerInsights",
            MetricName="RunningTaskCount",
            Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": "api"}],
            Threshold=float(desired),
            ComparisonOperator="LessThanThreshold",
            Unit="Count",
        )
        lab.send("stop-service api")
        _wait(lambda: _service(lab, "api")["runningCount"] == 0, "stop api")
        _set_alarm(
            lab,
            SERVICE_DOWN_ALARM,
            "ALARM",
            f"Threshold Crossed: 1 datapoint [0.0] was less than the threshold ({float(desired)}).",
        )
        _incident_apis(lab, True)
        return {"desired": desired}

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        _incident_apis(lab, False)

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        if not _settled(_service(lab, "api"), int(state.get("desired", 2))):
            return False
        _set_alarm(lab, SERVICE_DOWN_ALARM, "OK", "Threshold Crossed: 1 datapoint was not less than the threshold.")
        return True


@dataclass(frozen=True)
class DlqFlood(Drill):
    count: int = 150

    def _inject(self, lab: Any) -> dict[str, Any]:
        from cockpit.lab import estate

        _ensure_alarm(
            lab,
            AlarmName=DLQ_ALARM,
            AlarmDescription="jobs-dlq holds messages: jobs are failing (runbook: queue depth)",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "jobs-dlq"}],
            Statistic="Maximum",
            Threshold=0.0,
            ComparisonOperator="GreaterThanThreshold",
            Unit="Count",
        )
        import random

        sqs, url, rng = _client(lab, "sqs"), _dlq_url(lab), random.Random()
        for i in range(0, self.count, 10):
            entries = [
                {"Id": str(j), "MessageBody": estate.job_body(rng, failed=True)}
                for j in range(min(10, self.count - i))
            ]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        _set_alarm(
            lab,
            DLQ_ALARM,
            "ALARM",
            f"Threshold Crossed: 1 datapoint [{float(self.count)}] was greater than the threshold (0.0).",
        )
        return {}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        attrs = _client(lab, "sqs").get_queue_attributes(
            QueueUrl=_dlq_url(lab),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(attrs.get("ApproximateNumberOfMessages", 0)) or int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        ):
            return False
        _set_alarm(lab, DLQ_ALARM, "OK", "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (0.0).")
        return True


BLOCKED_SQL = (
    "select count(*) from pg_stat_activity"
    " where datname = current_database() and cardinality(pg_blocking_pids(pid)) > 0"
)


@dataclass(frozen=True)
class DbLock(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        from cockpit.lab.db_drills import start_blocking_chain

        dsn = getattr(lab, "postgres_dsn", None)
        if not dsn:
            note = getattr(lab, "notes", {}).get("database", "")
            raise DrillUnavailable("drill db-lock needs the lab's PostgreSQL", note or "install postgresql")
        return {"stop": start_blocking_chain(dsn)}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        import psycopg

        with psycopg.connect(lab.postgres_dsn, autocommit=True, connect_timeout=3) as c:
            row = c.execute(BLOCKED_SQL).fetchone()
            return row is not None and int(row[0]) == 0

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        stop = state.get("stop")
        if stop is not None:
            stop()


@dataclass(frozen=True)
class BadDeploy(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        ecs = _client(lab, "ecs")
        svc = _service(lab, "api")
        current = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        containers = [dict(c) for c in current["containerDefinitions"]]
        for c in containers:
            c["image"] = c["image"].rsplit(":", 1)[0] + ":1.5.0"
        new = ecs.register_task_definition(
            family=current["family"],
            networkMode=current.get("networkMode", "awsvpc"),
            requiresCompatibilities=current.get("requiresCompatibilities", ["FARGATE"]),
            cpu=current.get("cpu", "512"),
            memory=current.get("memory", "1024"),
            containerDefinitions=containers,
        )["taskDefinition"]
        bad = f"{new['family']}:{new['revision']}"
        lab.send("fail-next-deployment api")
        ecs.update_service(cluster=CLUSTER, service="api", taskDefinition=bad)
        _set_alarm(
            lab,
            ERROR_ALARM,
            "ALARM",
            f"Threshold Crossed: 3 out of the last 5 datapoints were greater than the threshold (0.5)"
            f" after deployment of {bad}.",
        )
        return {"bad": new["taskDefinitionArn"], "bad_name": bad}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        svc = _service(lab, "api")
        primary: dict[str, Any] = next(
            (d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        if primary.get("taskDefinition") == state.get("bad") or not _settled(svc, 1):
            return False
        _set_alarm(lab, ERROR_ALARM, "OK", "Threshold Crossed: 5 out of the last 5 datapoints were not greater than 0.5.")
        return True


class _Names(tuple[str, ...]):
    """``detect_on`` names: exact, or a prefix when the entry ends in a space ("host disk ")."""

    def __contains__(self, name: object) -> bool:
        text = str(name)
        return any(text == n or (n.endswith(" ") and text.startswith(n)) for n in self)


DISK_HOST = "this-machine"
BALLAST_MARGIN = 0.25  # percent points kept between the usage and the lowered threshold
BALLAST_MAX_SHARE = 0.02  # never more than 2 % of the file system ...
BALLAST_MAX_OF_FREE = 0.25  # ... nor a quarter of its free space
BALLAST_AGE_S = 3 * 86400  # an old rotated log, as the trainee would find it


def _df(path: Path) -> Any:
    """The file system holding ``path`` as the host probe sees it (``df -P -k``), or None."""
    import subprocess

    from cockpit.backends.hosts import parse_df

    out = subprocess.run(["df", "-P", "-k", str(path)], capture_output=True, text=True, timeout=10)
    disks = parse_df(out.stdout.splitlines())
    return disks[0] if disks else None


@dataclass(frozen=True)
class DiskFull(Drill):
    """A rotated log grew huge beside a followed log of the lab's host; its disk alarm fires.

    Filling a real disk to 80 % is out of the question on a trainee's machine, so the drill
    lowers that mount's disk threshold (the ``ThresholdOverrides`` the cockpit's host sources
    share, found through the session's ``sources``) to just above today's usage and writes a
    ballast file (``<log>.1``, allocated, three days old) big enough to cross it: about
    0.5-1.5 % of the file system. Deleting it ("host: delete rotated logs")
    brings the usage back under; the override is removed when the drill ends either way.
    """

    def _host_log(self, lab: Any) -> Path:
        hosts = lab.profile(Profile("lab", lab=True)).hosts
        host = next((h for h in hosts if h.name == DISK_HOST), None)
        if host is None or not host.logs:
            note = getattr(lab, "notes", {}).get("queues", "")
            raise DrillUnavailable(
                f"drill {self.name} needs a followed log on the lab's host {DISK_HOST}"
                " (the lab follows its Redis log)",
                note or "install redis-server",
            )
        return Path(host.logs[0])

    def _overrides(self, sources: Callable[[str], Any] | None) -> Any:
        """The run-time thresholds the cockpit's alarms and row of ``DISK_HOST`` read."""
        from cockpit.backends.hosts import ThresholdOverrides

        try:
            source = sources(f"hosts:{DISK_HOST}:alarms") if sources else None
        except LookupError:
            source = None
        overrides = getattr(source, "overrides", None)
        if not isinstance(overrides, ThresholdOverrides):
            raise DrillUnavailable(
                f"drill {self.name} lowers a disk threshold of the cockpit's host {DISK_HOST},"
                " and no cockpit shows that host here",
                f"start it from the cockpit's palette (drill: start {self.name}) on the lab",
            )
        return overrides

    async def inject(self, lab: Any, sources: Callable[[str], Any] | None = None) -> dict[str, Any]:
        overrides = self._overrides(sources)
        state = await super().inject(lab)
        overrides.set(state["metric"], state["threshold"])
        return {**state, "overrides": overrides}

    def _inject(self, lab: Any) -> dict[str, Any]:
        import math
        import os

        log = self._host_log(lab)
        ballast = log.with_name(log.name + ".1")
        if ballast.exists():
            raise CockpitError(f"{ballast} exists already", "delete it, then start the drill again")
        disk = _df(log.parent)
        if disk is None:
            raise DrillUnavailable(
                f"drill {self.name}: {log.parent} is on a file system the host pane does not show",
                "run the lab with its state dir on a real disk (not tmpfs)",
            )
        st = os.statvfs(log.parent)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        free = st.f_bavail * st.f_frsize
        total = used + free  # df's base for Use%
        now = 100.0 * used / total
        threshold = math.ceil(now + BALLAST_MARGIN)
        if threshold >= Thresholds().disk:
            raise DrillUnavailable(
                f"drill {self.name}: {disk.mount} is {disk.percent:.0f} % full already",
                "free some space first; the disk alarm is real then",
            )
        size = int((threshold + BALLAST_MARGIN - now) * total / 100)
        if size > min(BALLAST_MAX_SHARE * total, BALLAST_MAX_OF_FREE * free):
            raise DrillUnavailable(
                f"drill {self.name} would need a {size >> 20} MiB file on {disk.mount}: too big a"
                " share of that disk to fill safely",
                "run the lab on a smaller or emptier disk",
            )
        try:
            fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.posix_fallocate(fd, 0, size)  # real blocks, no time spent writing them
            finally:
                os.close(fd)
            old = time.time() - BALLAST_AGE_S
            os.utime(ballast, (old, old))
        except OSError as e:
            ballast.unlink(missing_ok=True)
            raise DrillUnavailable(f"drill {self.name} could not write {ballast}: {e}", "is the disk full?") from e
        metric = f"disk {disk.mount}"
        after = _df(log.parent)
        if after is None or after.percent <= threshold:
            ballast.unlink(missing_ok=True)
            raise CockpitError(
                f"drill {self.name}: {disk.mount} did not cross {threshold} % (something freed space"
                " meanwhile)",
                "start it again",
            )
        return {"ballast": str(ballast), "metric": metric, "threshold": threshold, "size": size}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        if Path(state["ballast"]).exists():
            return False
        self._cleanup(lab, state)
        return True

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        if state.get("ballast"):
            Path(state["ballast"]).unlink(missing_ok=True)
        if state.get("metric") and state.get("overrides") is not None:
            state["overrides"].set(state["metric"], None)


DRILLS: dict[str, Drill] = {
    d.name: d
    for d in (
        ApiDown(
            "api-down",
            "api is down",
            "Every api task exits (out of memory) and none comes back: running 0/2, the "
            "service-down alarm fires, the log shows the tasks' last ERROR lines, Sentry's "
            "errors spike and PagerDuty pages the on-call.",
            "api running 2/2 again (restart or scale it) and alarm api-service-down OK",
            detect_on=(SERVICE_DOWN_ALARM, "api"),
        ),
        DlqFlood(
            "dlq-flood",
            "dead-letter queue flood",
            "150 failed jobs land in jobs-dlq and its alarm fires.",
            "jobs-dlq empty (purge or redrive it) and alarm jobs-dlq-not-empty OK",
            detect_on=(DLQ_ALARM, "jobs", "jobs-dlq"),
        ),
        DbLock(
            "db-lock",
            "blocking chain in PostgreSQL",
            "A session (application drill-holder) holds a row lock, idle in transaction; "
            "two sessions wait behind it, one behind the other.",
            "no blocked sessions (terminate the session that holds the lock)",
            detect_on=("lab-postgres",),
        ),
        BadDeploy(
            "bad-deploy",
            "bad deployment of api",
            "A new api revision fails its container health checks; the rollout fails and "
            "the 5xx error-rate alarm fires.",
            "api deployment COMPLETED on a good revision (roll back) and alarm api-5xx-error-rate OK",
            detect_on=(ERROR_ALARM, "api"),
        ),
        DiskFull(
            "disk-full",
            "disk full on a host",
            f"An old rotated log beside {DISK_HOST}'s followed Redis log has grown huge and its"
            " disk alarm fires (the lab lowers that disk's threshold to just above today's usage).",
            f"{DISK_HOST}'s disk back under its threshold (delete the rotated logs on the host row)",
            detect_on=_Names((DISK_HOST, f"{DISK_HOST} disk ")),
            in_cockpit_only="it lowers a threshold inside the cockpit: start it from the cockpit's"
            " palette (drill: start) on the lab",
        ),
    )
}
