"""Drill dlq-flood: failed jobs land in the dead-letter queue and its alarm fires. The goal:
jobs-dlq empty (purge or redrive it) and that alarm OK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cockpit.lab.drills.base import Drill, client, dlq_url, ensure_alarm, set_alarm

DLQ_ALARM = "jobs-dlq-not-empty"


@dataclass(frozen=True)
class DlqFlood(Drill):
    count: int = 150

    def _inject(self, lab: Any) -> dict[str, Any]:
        from cockpit.lab import estate

        ensure_alarm(
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

        sqs, url, rng = client(lab, "sqs"), dlq_url(lab), random.Random()
        for i in range(0, self.count, 10):
            entries = [
                {"Id": str(j), "MessageBody": estate.job_body(rng, failed=True)}
                for j in range(min(10, self.count - i))
            ]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
        set_alarm(
            lab,
            DLQ_ALARM,
            "ALARM",
            f"Threshold Crossed: 1 datapoint [{float(self.count)}] was greater than the threshold (0.0).",
        )
        return {}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        attrs = client(lab, "sqs").get_queue_attributes(
            QueueUrl=dlq_url(lab),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(attrs.get("ApproximateNumberOfMessages", 0)) or int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        ):
            return False
        set_alarm(lab, DLQ_ALARM, "OK", "Threshold Crossed: 1 datapoint [0.0] was not greater than the threshold (0.0).")
        return True


DLQ_FLOOD = DlqFlood(
    "dlq-flood",
    "dead-letter queue flood",
    "150 failed jobs land in jobs-dlq and its alarm fires.",
    "jobs-dlq empty (purge or redrive it) and alarm jobs-dlq-not-empty OK",
    detect_on=(DLQ_ALARM, "jobs", "jobs-dlq"),
)
