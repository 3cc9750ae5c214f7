"""The lab controller: what makes the estate move once it is seeded.

- rollouts: ``update_service`` with a new task definition or ``forceNewDeployment`` starts a
  new PRIMARY deployment (0 running) and keeps the old one ACTIVE; every tick replaces one
  task until the rollout is COMPLETED (or FAILED, when a drill asked for it);
- scaling: ``update_service(desiredCount=N)`` moves running towards N one task per tick
  (stock moto jumps straight to N);
- logs: ``COCKPIT_LAB_LOG_RATE`` lines a second (default 1; 0 pauses) into the log group;
- metrics: one datapoint a minute per alarm metric, so sparklines keep moving.

All backend writes happen under the request lock (see ``server.install_request_lock``).
Relies on moto internals (pinned in pyproject); tests/test_lab.py smoke-tests each patch.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

from cockpit.lab import estate

log = logging.getLogger("cockpit.lab")

MAX_EVENTS = 100  # ECS returns at most 100 events; moto keeps them all
FAIL_AFTER = 3  # failed tasks before a failing rollout is marked FAILED


class LabController:
    def __init__(self, endpoint: str, lock: threading.RLock) -> None:
        self.endpoint = endpoint
        self.lock = lock
        self.tick_s = float(os.environ.get("COCKPIT_LAB_TICK", "2") or 2)
        self.log_rate = float(os.environ.get("COCKPIT_LAB_LOG_RATE", "1") or 0)
        self.metric_s = 60.0
        self._fail_next: set[str] = set()
        self._down: set[str] = set()  # services a drill stopped; they stay down until updated
        # Running task ids of the services that log (api, worker): their log streams follow
        # rollouts and scaling, as awslogs streams do. Lists are replaced, never edited.
        self._tasks: dict[str, list[str]] = {k: list(v) for k, v in estate.TASKS.items()}
        self._dying: list[tuple[str, str]] = []  # (stream, line) of tasks that failed to start
        self._rng = random.Random()
        self._threads: list[threading.Thread] = []

    # --- commands from the parent (one line each on the child's stdin) --------------

    def command(self, line: str) -> None:
        """``fail-next-deployment SERVICE`` | ``stop-service SERVICE`` | ``log-rate N`` | ``tick``."""
        verb, _, arg = line.partition(" ")
        if verb == "fail-next-deployment":
            with self.lock:
                self._fail_next.add(arg.strip())
        elif verb == "stop-service":
            self.stop_service(arg.strip())
        elif verb == "log-rate":
            self.log_rate = max(0.0, float(arg))
        elif verb == "tick":
            self.tick()
        else:
            log.warning("unknown lab command %r", line)

    # --- moto patches ---------------------------------------------------------------

    def install_patches(self) -> None:
        from moto.ecs.models import EC2ContainerServiceBackend as Backend

        original = getattr(Backend.update_service, "_cockpit_original", Backend.update_service)
        controller = self

        def update_service(be: Any, props: dict[str, Any]) -> Any:
            with controller.lock:
                return controller._update_service(be, original, props)

        update_service._cockpit_original = original  # type: ignore[attr-defined]
        Backend.update_service = update_service  # type: ignore[method-assign,assignment]
        install_alarm_history()

    def stop_service(self, name: str) -> None:
        """Every task of ``name`` exits and none comes back (a drill's outage) until the
        service is updated: a restart or a scale brings it back, as on ECS after a fix."""
        with self.lock:
            be = estate.ecs_backend()
            svc = next(
                (s for s in be.services.values() if s.name == name and s.status == "ACTIVE"), None
            )
            if svc is None:
                log.warning("stop-service: no service %r", name)
                return
            self._down.add(name)
            stamp = estate.now()
            deps = [dict(d) for d in svc.deployments]
            primary = next((d for d in deps if d.get("status") == "PRIMARY"), None)
            if primary is not None:
                primary.update(runningCount=0, pendingCount=0, updatedAt=stamp)
                deps = [primary]
            svc.deployments = deps
            stopped = list(self._tasks.get(name, ()))
            if name in self._tasks:
                self._tasks = {**self._tasks, name: []}
            self._dying = [
                *self._dying,
                *(
                    (
                        f"{name}/{name}/{task}",
                        "ERROR fatal: out of memory (heap limit reached); "
                        "Essential container in task exited (exit code 137)",
                    )
                    for task in stopped
                ),
            ]
            self._sync_counts(svc)
            self._add_events(
                svc,
                *(
                    f"(task {t}) stopped: Essential container in task exited."
                    for t in stopped or [self._task_id()]
                ),
            )
            estate.recount_cluster(be, svc.cluster_name)

    def _update_service(self, be: Any, original: Any, props: dict[str, Any]) -> Any:
        name = str(props["service"]).split("/")[-1]
        self._down.discard(name)
        svc = be._get_service(props.get("cluster", "default"), name)
        before_td = svc.task_definition
        before_running = int(svc.running_count)
        before = [dict(d) for d in svc.deployments]  # moto edits deployments[0] in place
        td_str = props.get("task_definition")
        force = bool(props.get("force_new_deployment"))

        svc = original(be, dict(props))  # validates, applies desiredCount and the rest

        # moto stores the raw "api:1" and jumps running to desired: undo both.
        new_td = be.describe_task_definition(td_str).arn if td_str else before_td
        svc.task_definition = new_td
        svc.running_count = before_running
        stamp = estate.now()
        if force or new_td != before_td:
            dep_id = estate.deployment_id()
            old = [
                {**d, "status": "ACTIVE", "updatedAt": stamp} if d.get("status") == "PRIMARY" else d
                for d in before
            ]
            primary = {
                **(before[0] if before else {}),
                "id": dep_id,
                "status": "PRIMARY",
                "taskDefinition": new_td,
                "desiredCount": svc.desired_count,
                "runningCount": 0,
                "pendingCount": svc.desired_count,
                "failedTasks": 0,
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment in progress.",
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            svc.deployments = [primary, *old]
            self._add_events(svc, f"(deployment {dep_id}) deployment started.")
        else:
            svc.deployments = [
                {**d, "desiredCount": svc.desired_count, "updatedAt": stamp}
                if d.get("status") == "PRIMARY"
                else d
                for d in before
            ]
        self._sync_counts(svc)
        estate.recount_cluster(be, svc.cluster_name)
        return svc

    # --- the tick: one task per service per step ---------------------------------------

    def tick(self) -> None:
        with self.lock:
            be = estate.ecs_backend()
            touched: set[str] = set()
            for svc in list(be.services.values()):
                if svc.status == "ACTIVE" and self._step(svc):
                    touched.add(svc.cluster_name)
            for cluster in touched:
                estate.recount_cluster(be, cluster)

    def _step(self, svc: Any) -> bool:
        if svc.name in self._down:
            return False
        if svc.running_count == svc.desired_count and not any(
            d.get("rolloutState") == "IN_PROGRESS" for d in svc.deployments
        ):
            return False  # settled: the common case, cheap for thousands of services
        deps = [dict(d) for d in svc.deployments]
        primary = next((d for d in deps if d.get("status") == "PRIMARY"), None)
        if primary is None:
            return False
        desired = int(svc.desired_count)
        primary["desiredCount"] = desired
        running = int(primary.get("runningCount", 0) or 0)
        stamp = estate.now()
        events: list[str] = []
        if primary.get("rolloutState") == "IN_PROGRESS":
            if svc.name in self._fail_next:
                failed = int(primary.get("failedTasks", 0) or 0) + 1
                primary["failedTasks"] = failed
                task = self._task_id()
                events.append(
                    f"(task {task}) failed container health checks "
                    f"in (target-group {svc.name}-production)."
                )
                if svc.name in self._tasks:
                    self._dying = [
                        *self._dying,
                        (
                            f"{svc.name}/{svc.name}/{task}",
                            "ERROR startup failed: could not connect to postgres "
                            "host=prod-postgresql port=5432: connection refused; exiting (code 1)",
                        ),
                    ]
                if failed >= FAIL_AFTER:
                    self._fail_next.discard(svc.name)
                    primary["rolloutState"] = "FAILED"
                    primary["rolloutStateReason"] = (
                        "ECS deployment circuit breaker: tasks failed to start."
                    )
                    primary["pendingCount"] = 0
                    events.append(
                        f"(deployment {primary['id']}) deployment failed: tasks failed to start."
                    )
            else:
                if running < desired:
                    running += 1
                    events.append(f"has started 1 tasks: (task {self._start_task(svc.name)}).")
                active = [d for d in deps if d.get("status") == "ACTIVE" and d.get("runningCount")]
                if active and running + sum(int(d["runningCount"]) for d in active) > desired:
                    active[-1]["runningCount"] = int(active[-1]["runningCount"]) - 1
                    events.append(
                        f"has stopped 1 running tasks: (task {self._stop_task(svc.name)})."
                    )
                primary["runningCount"] = running
                primary["pendingCount"] = max(0, desired - running)
                if running >= desired and not any(
                    d.get("status") == "ACTIVE" and d.get("runningCount") for d in deps
                ):
                    primary["rolloutState"] = "COMPLETED"
                    primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
                    deps = [primary]
                    events.append(f"(deployment {primary['id']}) deployment completed.")
                    events.append("has reached a steady state.")
        elif primary.get("rolloutState") != "FAILED" and running != desired:
            if running < desired:
                running += 1
                events.append(f"has started 1 tasks: (task {self._start_task(svc.name)}).")
            else:
                running -= 1
                events.append(f"has stopped 1 running tasks: (task {self._stop_task(svc.name)}).")
            primary["runningCount"] = running
            primary["pendingCount"] = max(0, desired - running)
            if running == desired:
                events.append("has reached a steady state.")
        if not events:
            return False
        primary["updatedAt"] = stamp
        svc.deployments = [primary if d.get("id") == primary["id"] else d for d in deps]
        self._sync_counts(svc)
        self._add_events(svc, *events)
        return True

    @staticmethod
    def _sync_counts(svc: Any) -> None:
        svc.running_count = sum(int(d.get("runningCount", 0) or 0) for d in svc.deployments)
        svc.pending_count = sum(int(d.get("pendingCount", 0) or 0) for d in svc.deployments)

    @staticmethod
    def _add_events(svc: Any, *texts: str) -> None:
        # Newest first, as ECS returns them; every event gets its own instant for ordering.
        new = [estate.event(svc.name, t) for t in texts]
        new.reverse()
        svc.events = (new + list(svc.events))[:MAX_EVENTS]

    def _task_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _start_task(self, service: str) -> str:
        task = self._task_id()
        if service in self._tasks:
            self._tasks = {**self._tasks, service: [*self._tasks[service], task]}
        return task

    def _stop_task(self, service: str) -> str:
        tasks = self._tasks.get(service)
        if not tasks:
            return self._task_id()
        # The oldest task goes first, as ECS drains the old deployment.
        self._tasks = {**self._tasks, service: tasks[1:]}
        return tasks[0]

    def log_streams(self) -> list[str]:
        """The streams of the tasks running now."""
        return [f"{s}/{s}/{t}" for s, tasks in self._tasks.items() for t in tasks]

    # --- threads ------------------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        for target, name in ((self._tick_loop, "lab-tick"), (self._feed_loop, "lab-feed")):
            t = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _tick_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:  # keep the estate alive; the log file says what broke
                log.exception("lab tick failed")

    def _feed_loop(self, stop: threading.Event) -> None:
        from cockpit.lab.seed import LOG_GROUP, client

        logs = client(self.endpoint, "logs")
        cw = client(self.endpoint, "cloudwatch")
        sqs = client(self.endpoint, "sqs")
        created = set(estate.log_streams())  # seeded
        owed = 0.0
        next_metrics = time.monotonic() + self.metric_s
        while not stop.wait(1.0):
            try:
                owed = min(owed + self.log_rate, 10_000.0)
                n = int(owed)
                streams = self.log_streams()
                with self.lock:
                    dying, self._dying = self._dying, []
                for stream in {*streams, *(d[0] for d in dying)} - created:
                    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
                    created.add(stream)
                for stream, line in dying:
                    logs.put_log_events(
                        logGroupName=LOG_GROUP,
                        logStreamName=stream,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
                    )
                if n and streams:
                    owed -= n
                    self._put_logs(logs, LOG_GROUP, streams, n)
                if time.monotonic() >= next_metrics:
                    next_metrics += self.metric_s
                    self._put_metrics(cw, sqs)
            except Exception:
                log.exception("lab feed failed")

    def _put_logs(self, logs: Any, group: str, streams: list[str], n: int) -> None:
        now_ms = int(time.time() * 1000)
        batches: dict[str, list[dict[str, Any]]] = {}
        for i in range(n):
            stream = self._rng.choice(streams)
            # spread the second's lines over the second just gone, in order
            ts = now_ms - 1000 + (i * 1000) // n
            batches.setdefault(stream, []).append(
                {"timestamp": ts, "message": estate.log_line(stream, self._rng)}
            )
        for stream, events in batches.items():
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _put_metrics(self, cw: Any, sqs: Any) -> None:
        ts = datetime.now(UTC).replace(second=0, microsecond=0)
        by_ns: dict[str, list[dict[str, Any]]] = {}
        for metric in estate.SERVICE_METRICS:
            datum = estate.metric_datum(metric, ts, self._rng)
            if metric.name == "ApproximateNumberOfMessagesVisible":
                url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
                attrs = sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                datum["Value"] = float(attrs.get("ApproximateNumberOfMessages", 0))
            by_ns.setdefault(metric.namespace, []).append(datum)
        for ns, data in by_ns.items():
            cw.put_metric_data(Namespace=ns, MetricData=data)


def alarm_history_items(alarm: Any) -> list[dict[str, Any]]:
    """moto keeps each alarm's previous states (``Alarm.history``); turn the transitions into
    DescribeAlarmHistory items, newest first, as AWS words them."""
    states = [(h[3], h[1], h[4]) for h in alarm.history if h and h[0] == "StateUpdate"]
    states.append((alarm.state_value, alarm.state_reason, alarm.state_updated_timestamp))
    items = []
    for (old, old_reason, _), (new, new_reason, at) in zip(states, states[1:], strict=False):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": new, "stateReason": new_reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": at,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {new}",
                "HistoryData": json.dumps(data),
            }
        )
    items.reverse()
    return items


def install_alarm_history() -> None:
    """moto 5.2 answers DescribeAlarmHistory with HTTP 500; actions are looked up on the
    response class per request, so adding the method is enough (tried on moto 5.2.5)."""
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    def describe_alarm_history(self: Any) -> Any:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start = self._get_param("StartDate")
        end = self._get_param("EndDate")
        limit = int(self._get_param("MaxRecords") or 100)
        alarms = self.cloudwatch_backend.describe_alarms()
        items = [
            item
            for a in alarms
            if not name or a.name == name
            for item in alarm_history_items(a)
            if not kind or item["HistoryItemType"] == kind
        ]
        items = [i for i in items if _within(i["Timestamp"], start, end)]
        items.sort(
            key=lambda i: i["Timestamp"],
            reverse=self._get_param("ScanBy") != "TimestampAscending",
        )
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    CloudWatchResponse.describe_alarm_history = describe_alarm_history  # type: ignore[attr-defined]


def _within(at: datetime, start: Any, end: Any) -> bool:
    def parse(v: Any) -> datetime | None:
        if not v:
            return None
        if isinstance(v, datetime):
            return v
        return datetime.fromisoformat(str(v).replace("Z", "+00:00"))

    lo, hi = parse(start), parse(end)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (lo is None or at >= lo) and (hi is None or at <= hi)
