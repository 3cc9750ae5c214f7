"""Stuck CloudFormation stacks raise alarms (moto server; stack states set as the lab does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.cloudformation import StacksSource, matches, stack_alarm
from cockpit.lab.aws_extras import STACK_PATTERNS, seed_extras
from cockpit.model import Severity
from cockpit.profile import AwsConfig, Profile
from tests.fixtures.moto import aws_client

TEMPLATE = '{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'


def stacks_source(endpoint: str, stacks: tuple[str, ...], minutes: float = 30) -> StacksSource:
    profile = Profile(
        name="lab",
        lab=True,
        aws=AwsConfig(endpoint_url=endpoint, stacks=stacks, stack_stuck_minutes=minutes),
    )
    (src,) = [s for s in build_aws_sources(profile)[0] if isinstance(s, StacksSource)]
    return src


async def test_failed_and_long_in_progress_stacks_alarm_with_their_reason(
    moto_endpoint: str,
) -> None:
    seed_extras(moto_endpoint)
    aws_client(moto_endpoint, "cloudformation").create_stack(
        StackName="other-failed", TemplateBody=TEMPLATE
    )  # not ours: never shown
    src = stacks_source(moto_endpoint, (*STACK_PATTERNS, "legacy"))

    alarms = await src.fetch()

    assert [(a.name, a.severity, a.state) for a in alarms] == [
        ("stack legacy", Severity.UNKNOWN, "NOT_FOUND"),
        ("stack app-queues", Severity.CRITICAL, "UPDATE_ROLLBACK_FAILED"),
        ("stack app-network", Severity.WARNING, "UPDATE_IN_PROGRESS"),
    ]  # app-service is CREATE_COMPLETE: no alarm
    queues, network = alarms[1], alarms[2]
    assert queues.reason.startswith("UPDATE_ROLLBACK_FAILED: ") and "referenced by a RedrivePolicy" in queues.reason
    assert network.reason == "UPDATE_IN_PROGRESS for 2 h 0 min: User Initiated"
    assert network.resource == "app-network" and network.since is not None
    assert src.ctx.calls[src.id] == {"cloudformation.DescribeStacks": 1}

    (events,) = await src.detail(queues)
    assert events.rows[0][2] == "UPDATE_ROLLBACK_FAILED"

    # A longer threshold: two hours in progress is not stuck yet; failed stays failed.
    patient = stacks_source(moto_endpoint, STACK_PATTERNS, minutes=180)
    assert [a.name for a in await patient.fetch()] == ["stack app-queues"]
    await src.close()


def test_stack_rules() -> None:
    now = datetime.now(UTC)
    stuck = timedelta(minutes=30)

    def alarm(status: str, minutes: float) -> Any:
        stack = {
            "StackName": "s",
            "StackStatus": status,
            "CreationTime": now - timedelta(days=9),
            "LastUpdatedTime": now - timedelta(minutes=minutes),
        }
        return stack_alarm(stack, source="x", stuck_after=stuck, now=now)

    assert alarm("UPDATE_IN_PROGRESS", 29) is None
    assert alarm("UPDATE_ROLLBACK_IN_PROGRESS", 31).severity is Severity.WARNING
    assert alarm("ROLLBACK_FAILED", 1).severity is Severity.CRITICAL
    assert alarm("UPDATE_COMPLETE", 600) is None
    assert alarm("DELETE_FAILED", 5).reason.startswith("DELETE_FAILED: needs a human")
    assert matches("app-x", ("app-*",)) and not matches("apps", ("app",))
    assert matches("app", ("app",)) and not matches("xapp-", ("app-*",))
