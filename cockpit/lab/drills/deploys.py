"""Drill bad-deploy: a new api revision fails its health checks, the rollout fails and the
5xx error-rate alarm fires. The goal: api on a good revision (roll back) and that alarm OK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cockpit.lab.drills.base import CLUSTER, Drill, client, ecs_service, set_alarm, settled

ERROR_ALARM = "api-5xx-error-rate"


@dataclass(frozen=True)
class BadDeploy(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        ecs = client(lab, "ecs")
        svc = ecs_service(lab, "api")
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
        set_alarm(
            lab,
            ERROR_ALARM,
            "ALARM",
            f"Threshold Crossed: 3 out of the last 5 datapoints were greater than the threshold (0.5)"
            f" after deployment of {bad}.",
        )
        return {"bad": new["taskDefinitionArn"], "bad_name": bad}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        svc = ecs_service(lab, "api")
        primary: dict[str, Any] = next(
            (d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        if primary.get("taskDefinition") == state.get("bad") or not settled(svc, 1):
            return False
        set_alarm(lab, ERROR_ALARM, "OK", "Threshold Crossed: 5 out of the last 5 datapoints were not greater than 0.5.")
        return True


BAD_DEPLOY = BadDeploy(
    "bad-deploy",
    "bad deployment of api",
    "A new api revision fails its container health checks; the rollout fails and "
    "the 5xx error-rate alarm fires.",
    "api deployment COMPLETED on a good revision (roll back) and alarm api-5xx-error-rate OK",
    detect_on=(ERROR_ALARM, "api"),
)
