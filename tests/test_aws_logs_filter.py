"""The `/` filter sent to CloudWatch Logs while following (moto's server over HTTP): only
matching lines cross the network, and setting or clearing it neither skips nor repeats."""

from __future__ import annotations

import time
from typing import Any

from cockpit.backends.aws import build_aws_sources
from cockpit.backends.logs import EcsLogSource, cloudwatch_pattern
from cockpit.hub import Hub
from cockpit.profile import AwsConfig, EcsCluster, Profile
from tests.fixtures.moto import aws_client

GROUP, STREAM = "/ecs/api", "ecs/api/1a2b3c4d"


def setup(endpoint: str) -> tuple[Any, EcsLogSource, list[dict[str, Any]]]:
    logs = aws_client(endpoint, "logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    profile = Profile(
        name="lab", lab=True,
        aws=AwsConfig(endpoint_url=endpoint, ecs=(EcsCluster("production", log_groups=(GROUP,)),)),
    )  # fmt: skip
    (src,) = build_aws_sources(profile)[1]
    assert isinstance(src, EcsLogSource)
    sent: list[dict[str, Any]] = []
    src.client.meta.events.register(
        "provide-client-params.logs.FilterLogEvents", lambda params, **_: sent.append(params)
    )
    return logs, src, sent


def put(logs: Any, *texts: str) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[
        {"timestamp": now + i, "message": t} for i, t in enumerate(texts)])  # fmt: skip


def test_pattern_translation() -> None:
    assert cloudwatch_pattern("db timeout") == '"db timeout"'
    assert cloudwatch_pattern("  5xx ") == '"5xx"'
    for pattern in ('{ $.level = "error" }', "[ip, user, status=5*]", "?ERROR ?WARN", '"a b"'):
        assert cloudwatch_pattern(pattern) == pattern
    assert cloudwatch_pattern(None) is None and cloudwatch_pattern("  ") is None
    assert cloudwatch_pattern('say "hi"') is None  # no faithful quoted form: stays local


async def test_filter_is_sent_server_side_and_clearing_it_resumes_without_gaps(
    moto_endpoint: str,
) -> None:
    logs, src, sent = setup(moto_endpoint)
    put(logs, "GET /health 200", "ERROR db timeout on orders")
    assert [r.text for r in src.poll_once()] == ["GET /health 200", "ERROR db timeout on orders"]

    assert src.set_server_filter("db timeout") is True
    put(logs, "GET /health 200 again", "ERROR db timeout on users")
    assert [r.text for r in src.poll_once()] == ["ERROR db timeout on users"]
    assert sent[-1]["filterPattern"] == '"db timeout"'
    argv = src.explain_command()
    assert argv[argv.index("--filter-pattern") + 1] == '"db timeout"'

    assert src.set_server_filter(None) is False
    put(logs, "GET /health 200 third")
    # The overlap window sees the filtered-out line of before again: it is new to the pane.
    texts = [r.text for r in src.poll_once()]
    assert texts[-1] == "GET /health 200 third"
    assert "ERROR db timeout on users" not in texts and "filterPattern" not in sent[-1]
    assert src.poll_once() == []


async def test_a_poll_in_flight_when_the_filter_changes_is_redone(moto_endpoint: str) -> None:
    logs, src, _ = setup(moto_endpoint)
    put(logs, "before")
    assert [r.text for r in src.poll_once()] == ["before"]
    put(logs, "INFO ok", "ERROR bad")
    stale = src._poll()  # what a thread was fetching when the user typed /ERROR
    assert src.set_server_filter("ERROR") is True
    assert src._commit(stale) == []
    assert [r.text for r in src.poll_once()] == ["ERROR bad"]
    # Setting the same filter again changes nothing and drops nothing.
    put(logs, "ERROR worse")
    stale = src._poll()
    assert src.set_server_filter("ERROR") is True
    assert [r.text for r in src._commit(stale)] == ["ERROR worse"]


async def test_hub_passes_the_filter_to_the_logs_follower(moto_endpoint: str) -> None:
    _, src, _ = setup(moto_endpoint)
    hub = Hub([], [src], on_update=lambda u: None, on_logs=lambda b: None)
    assert hub.set_log_filter("timeout") == [src.id]
    assert src.server_filter == '"timeout"'
    assert hub.set_log_filter(None) == [] and src.server_filter is None
