"""The lab's second region: a smaller copy of the estate in eu-west-1, beside the main one in
us-east-1, so a profile of several estates (``lab-two-regions``) has two to show.

moto's server keeps each region apart behind one endpoint (the region is the request's
signing region), so this is the same front door with another ``region_name``. The lab's
controller (incidents, drills, moving metrics) acts in the main region only: this one is
seeded once, settled, and then stays as it is.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from typing import Any

from cockpit.lab import estate

SECOND_REGION = "eu-west-1"
CLUSTER = estate.CLUSTER  # the same cluster name in both: the estate column tells them apart
SERVICES = (("api", 2), ("billing", 1))


def client(endpoint: str, service: str) -> Any:
    from cockpit.lab.seed import client as main_region_client

    return main_region_client(endpoint, service, region=SECOND_REGION)


def seed_second_region(endpoint: str, lock: threading.RLock) -> None:
    """Services ``api`` and ``billing``, two alarms (one firing) and a ``jobs`` queue with a
    dead-letter queue, in eu-west-1."""
    ecs = client(endpoint, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for name, desired in SERVICES:
        ecs.register_task_definition(
            family=name,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": name, "image": f"registry.local/{name}:3.0.1",
                                   "cpu": 256, "memory": 512, "essential": True}],
        )
        ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=f"{name}:1",
                           desiredCount=desired, launchType="FARGATE")
    with lock:
        be = estate.ecs_backend(SECOND_REGION)
        for name, _ in SERVICES:
            estate.settle_service(be.services[f"{CLUSTER}:{name}"],
                                  created=estate.now() - timedelta(days=9))
        estate.recount_cluster(be, CLUSTER)

    cw = client(endpoint, "cloudwatch")
    for alarm_name, service, threshold in (("billing-high-cpu", "billing", 80.0),
                                           ("api-high-memory-eu", "api", 85.0)):
        cw.put_metric_alarm(
            AlarmName=alarm_name, Namespace="AWS/ECS",
            MetricName="CPUUtilization" if "cpu" in alarm_name else "MemoryUtilization",
            Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": service}],
            Statistic="Average", Threshold=threshold, Period=60, EvaluationPeriods=5,
            ComparisonOperator="GreaterThanThreshold", Unit="Percent",
        )
    cw.set_alarm_state(AlarmName="billing-high-cpu", StateValue="ALARM",
                       StateReason="Threshold Crossed: 5 out of the last 5 datapoints were greater than 80.")
    cw.set_alarm_state(AlarmName="api-high-memory-eu", StateValue="INSUFFICIENT_DATA",
                       StateReason="Insufficient Data: 5 datapoints were unknown.")

    sqs = client(endpoint, "sqs")
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    arn = f"arn:aws:sqs:{SECOND_REGION}:{estate.ACCOUNT}:jobs-dlq"
    jobs = sqs.create_queue(QueueName="jobs", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})})["QueueUrl"]
    rng = random.Random(21)
    sqs.send_message_batch(QueueUrl=jobs, Entries=[
        {"Id": str(i), "MessageBody": estate.job_body(rng)} for i in range(7)])
    sqs.send_message(QueueUrl=dlq, MessageBody=estate.job_body(rng, failed=True))
