"""What every drill shares: the ``Drill`` base (inject, goal, cleanup, run in a thread), and
its access to the lab's AWS side (clients from ``cockpit.lab.awsclient``, the ECS service,
alarms the drill sets since the lab has no CloudWatch evaluation).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cockpit.errors import CockpitError

CLUSTER = "production"
READY_TIMEOUT = 20.0  # how long an injection may take to show in the estate


class DrillUnavailable(CockpitError):
    """The drill cannot run on this lab (a backend or server it needs is missing)."""


# --- lab access -----------------------------------------------------------------------------


def client(lab: Any, service: str) -> Any:
    from cockpit.lab.awsclient import lab_client

    return lab_client(lab.aws_endpoint, service, read_timeout=5)


def ecs_service(lab: Any, name: str) -> dict[str, Any]:
    return client(lab, "ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def set_alarm(lab: Any, name: str, state: str, reason: str) -> None:
    client(lab, "cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def ensure_alarm(lab: Any, **spec: Any) -> None:
    """Drill alarms are created on first use, at the runbooks' thresholds."""
    client(lab, "cloudwatch").put_metric_alarm(
        Period=60,
        EvaluationPeriods=1,
        Statistic=spec.pop("Statistic", "Average"),
        ActionsEnabled=True,
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:oncall-pager"],
        **spec,
    )


def wait(cond: Any, what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise CockpitError(f"the drill could not {what} within {timeout:.0f} s", "is the lab running?")
        time.sleep(0.1)


def dlq_url(lab: Any) -> str:
    return str(client(lab, "sqs").get_queue_url(QueueName="jobs-dlq")["QueueUrl"])


def settled(svc: dict[str, Any], minimum: int) -> bool:
    deps = svc.get("deployments", [])
    return (
        svc["runningCount"] == svc["desiredCount"] >= minimum
        and all(d.get("rolloutState") in (None, "COMPLETED") for d in deps if d.get("status") == "PRIMARY")
        and not any(d.get("status") == "ACTIVE" and d.get("runningCount") for d in deps)
    )


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
