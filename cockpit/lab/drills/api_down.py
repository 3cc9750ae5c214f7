"""Drill api-down: every api task exits and none comes back; the service-down alarm fires,
the lab's Sentry sees an error spike and its PagerDuty pages the on-call.
The goal: api running its desired count again (restart or scale it) and that alarm OK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cockpit.lab.drills.base import (
    CLUSTER,
    Drill,
    ecs_service,
    ensure_alarm,
    set_alarm,
    settled,
    wait,
)

SERVICE_DOWN_ALARM = "api-service-down"


def _incident_apis(lab: Any, on: bool) -> None:
    """The lab's Sentry error spike and PagerDuty page of the api-down drill (or their end)."""
    try:
        from cockpit.lab.incidentlab import api_down_drill

        api_down_drill(lab, on)
    except Exception:  # the drill stands without them (an older lab, a server that failed)
        import logging

        logging.getLogger("cockpit.drills").exception("Sentry/PagerDuty part of api-down")


@dataclass(frozen=True)
class ApiDown(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        desired = int(ecs_service(lab, "api")["desiredCount"]) or 2
        ensure_alarm(
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
        wait(lambda: ecs_service(lab, "api")["runningCount"] == 0, "stop api")
        set_alarm(
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
        if not settled(ecs_service(lab, "api"), int(state.get("desired", 2))):
            return False
        set_alarm(lab, SERVICE_DOWN_ALARM, "OK", "Threshold Crossed: 1 datapoint was not less than the threshold.")
        return True


API_DOWN = ApiDown(
    "api-down",
    "api is down",
    "Every api task exits (out of memory) and none comes back: running 0/2, the "
    "service-down alarm fires, the log shows the tasks' last ERROR lines, Sentry's "
    "errors spike and PagerDuty pages the on-call.",
    "api running 2/2 again (restart or scale it) and alarm api-service-down OK",
    detect_on=(SERVICE_DOWN_ALARM, "api"),
)
