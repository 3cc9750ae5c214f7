"""Several estates in one profile: ``aws:`` as a list of named estates, each Kubernetes context
an estate; bad entries are refused with the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit.config import load_text
from cockpit.errors import ConfigError

TWO = """\
profiles:
  p:
    aws:
      - {name: prod-eu, profile: prod, region: eu-west-1, ecs: [{cluster: production}]}
      - name: prod-us
        profile: prod-us-admin
        region: us-east-1
        sqs: [{queue: jobs}]
    kubernetes:
      - {context: eks-eu}
      - {context: eks-us, name: k8s-us}
"""


def test_aws_list_gives_each_estate_and_keeps_the_first_as_aws() -> None:
    p = load_text(TWO, Path("p.yaml")).get("p")
    assert [a.estate for a in p.aws_estates] == ["prod-eu", "prod-us"]
    assert p.aws is not None and p.aws.region == "eu-west-1"
    assert p.aws_estates[1].profile == "prod-us-admin"
    assert [k.estate for k in p.kubernetes] == ["eks-eu", "k8s-us"]
    assert p.several_estates


def test_one_aws_mapping_is_one_estate_as_before() -> None:
    p = load_text("profiles: {p: {aws: {profile: prod, region: eu-west-1}}}\n", Path("p.yaml")).get("p")
    assert len(p.aws_estates) == 1 and p.aws is not None and p.aws_more == ()
    assert p.aws.estate == "prod"  # no name: the AWS profile's
    assert not p.several_estates


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "profiles:\n  p:\n    aws:\n      - {name: a, region: eu-west-1}\n      - {region: us-east-1}\n",
            "p.yaml:5: profiles.p.aws[1]: missing required key 'name'",
        ),
        (
            "profiles:\n  p:\n    aws:\n      - {name: a, region: eu-west-1}\n      - name: a\n        region: us-east-1\n",
            "p.yaml:5: profiles.p.aws[1].name: 'a' is used twice (first at line 4)",
        ),
        ("profiles:\n  p:\n    aws: []\n", "p.yaml:3: profiles.p.aws: an empty list"),
        (
            "profiles:\n  p:\n    aws:\n      - {name: a, regoin: eu-west-1}\n",
            "p.yaml:4: profiles.p.aws[0].regoin: unknown key 'regoin'",
        ),
        (
            "profiles:\n  p:\n    aws:\n      - {name: 'prod eu'}\n",
            "p.yaml:4: profiles.p.aws[0].name: an estate name must not contain spaces",
        ),
        (
            "profiles:\n  p:\n    aws:\n      - {name: a}\n      - [x]\n",
            "p.yaml:5: profiles.p.aws[1]: expected a mapping, got a list",
        ),
        (
            "profiles:\n  p:\n    kubernetes:\n      - {context: eks}\n      - {context: eks}\n",
            "p.yaml:5: profiles.p.kubernetes[1]: estate 'eks' is used twice (first at line 4)",
        ),
    ],
)
def test_bad_estate_entries_name_the_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_text(text, Path("p.yaml"))
    assert e.value.message.startswith(message), e.value.message


async def test_a_local_custom_action_runs_in_the_rows_estate_not_the_first() -> None:
    """The same queue name in another region is another queue: the command's AWS region,
    endpoint and profile are those of the row's estate."""
    from types import SimpleNamespace

    from cockpit.backends.aws import AwsContext
    from cockpit.custom_actions import profile_actions
    from cockpit.model import QueueStatus
    from cockpit.profile import ActionConfig, ActionTarget, AwsConfig, Profile

    eu = AwsConfig(name="prod-eu", profile="prod", region="eu-west-1", endpoint_url="http://127.0.0.1:9")
    us = AwsConfig(name="prod-us", profile="prod-us", region="us-east-1", endpoint_url="http://127.0.0.1:8")
    action = ActionConfig(id="dlq.where", title="queue: where", risk="read",
                          argv=("printenv", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"),
                          applies_to=ActionTarget("queues", "sqs"))
    profile = Profile(name="p", aws=eu, aws_more=(us,), actions=(action,))
    (spec,) = profile_actions(profile)
    row = QueueStatus("jobs", "sqs", "aws:sqs@prod-us", 3, estate="prod-us")
    out = await spec.run(SimpleNamespace(ctx=AwsContext(us, several=True)), row, {})
    assert out.split("\n")[1:] == ["us-east-1", "prod-us", "http://127.0.0.1:8"]
