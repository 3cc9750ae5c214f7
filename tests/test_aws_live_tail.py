"""Live tail: StartLiveTail from a loopback endpoint that speaks the real event stream
framing (tests/livetail_stub.py), the fall back to FilterLogEvents polling when a stream
ends or breaks, and endpoints that do not serve it (moto) remembered and polled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cockpit.backends import logs as logs_mod
from cockpit.backends.aws import build_aws_sources
from cockpit.backends.logs import EcsLogSource
from cockpit.lab.eventstream import exception
from cockpit.profile import AwsConfig, EcsCluster, Profile
from tests.fixtures.moto import aws_client
from tests.livetail_stub import (
    ARN_PREFIX,
    LogsStub,
    logs_stub,
    session_start,
    session_update,
)

GROUP, STREAM = "/ecs/api", "ecs/api/1a2b3c4d"


def follower(endpoint: str) -> EcsLogSource:
    profile = Profile(
        name="lab", lab=True,
        aws=AwsConfig(endpoint_url=endpoint, ecs=(EcsCluster("production", log_groups=(GROUP,)),)),
    )  # fmt: skip
    (src,) = build_aws_sources(profile)[1]
    assert isinstance(src, EcsLogSource)
    src.poll_interval = 0.01
    return src


def ev(eid: str, ts: int, message: str) -> dict[str, Any]:
    return {"eventId": eid, "timestamp": ts, "message": message, "logStreamName": STREAM,
            "ingestionTime": ts + 5}  # fmt: skip


async def next_batch(gen: Any, deadline_s: float = 5.0) -> list[str]:
    return [r.text for r in await asyncio.wait_for(gen.__anext__(), deadline_s)]


def stub_with(stub: LogsStub, *events: dict[str, Any]) -> None:
    stub.groups = [GROUP]
    stub.events = {GROUP: list(events)}


async def test_live_tail_yields_the_stream_then_polls_from_its_last_timestamp() -> None:
    now = int(time.time() * 1000)
    one, two = ev("1", now - 10_000, "INFO one"), ev("2", now - 5_000, "INFO two")
    three, four = ev("3", now - 1_000, "WARN three"), ev("4", now, "ERROR four")
    five = ev("5", now + 1, "INFO five")
    with logs_stub() as stub:
        stub_with(stub, one, two)
        gate = stub.gate()
        stub.sessions.append([
            session_start([GROUP]),
            # "two" was ingested while the catch-up poll ran: the stream repeats it.
            session_update(GROUP, [two, three]),
            gate,
            session_update(GROUP, [four]),
            exception("SessionStreamingException", "stream broke"),
        ])  # fmt: skip
        src = follower(stub.url)
        gen = src.follow()
        # The catch-up poll after the session start, then the stream's new events only.
        assert await next_batch(gen) == ["INFO one", "INFO two"]
        assert await next_batch(gen) == ["WARN three"]
        stub.events[GROUP] += [three, four, five]  # what FilterLogEvents will find
        gate.set()
        assert await next_batch(gen) == ["ERROR four"]
        # The stream broke: polling resumes from the last streamed timestamp, and what the
        # stream already yielded ("three", "four") is not yielded again.
        assert await next_batch(gen) == ["INFO five"]
        polls = stub.calls("FilterLogEvents")
        assert polls[-1]["startTime"] == four["timestamp"] - logs_mod.OVERLAP_MS
        assert len(stub.calls("StartLiveTail")) == 1
        (req,) = stub.calls("StartLiveTail")
        assert req["logGroupIdentifiers"] == [ARN_PREFIX + GROUP]
        assert src.live_tail_unsupported == ""  # a broken session is retried later
        await gen.aclose()
        await src.close()


async def test_a_stream_that_ends_at_once_is_a_one_shot_endpoint_and_is_polled() -> None:
    now = int(time.time() * 1000)
    old, new = ev("1", now - 100_000, "INFO old"), ev("2", now - 50, "INFO new")
    with logs_stub() as stub:
        stub_with(stub, old, new)
        # moto 5.2.5's imitation: everything the group holds, history included, then the end.
        stub.sessions.append([session_start([GROUP]), session_update(GROUP, [old, new])])
        src = follower(stub.url)
        gen = src.follow()
        assert await next_batch(gen) == ["INFO old", "INFO new"]
        stub.events[GROUP].append(ev("3", now, "INFO later"))
        assert await next_batch(gen) == ["INFO later"]
        assert "at once" in src.live_tail_unsupported
        # Remembered for the endpoint: another follower of it polls from the start.
        other = follower(stub.url)
        assert await next_batch(other.follow()) == ["INFO old", "INFO new", "INFO later"]
        assert len(stub.calls("StartLiveTail")) == 1
        await gen.aclose()


async def test_changing_the_filter_reopens_the_session_with_the_pattern() -> None:
    now = int(time.time() * 1000)
    with logs_stub() as stub:
        stub_with(stub, ev("1", now - 1000, "INFO one"))
        first, second = stub.gate(), stub.gate()
        stub.sessions.append([session_start([GROUP]), first])
        stub.sessions.append([
            session_start([GROUP], '"ERROR"'),
            session_update(GROUP, [ev("", now + 5, "ERROR streamed")]),
            second,
        ])  # fmt: skip
        src = follower(stub.url)
        gen = src.follow()
        assert await next_batch(gen) == ["INFO one"]
        assert src.set_server_filter("ERROR") is True
        assert await next_batch(gen) == ["ERROR streamed"]
        reqs = stub.calls("StartLiveTail")
        assert [r.get("logEventFilterPattern") for r in reqs] == [None, '"ERROR"']
        assert stub.calls("FilterLogEvents")[-1]["filterPattern"] == '"ERROR"'
        await gen.aclose()


async def test_moto_without_live_tail_falls_back_and_remembers(moto_endpoint: str) -> None:
    logs = aws_client(moto_endpoint, "logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=STREAM,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello"}],
    )
    logs_mod._NO_LIVE_TAIL.pop(f"@{moto_endpoint}", None)  # other tests share this server
    src = follower(moto_endpoint)
    tries: list[int] = []
    src.ctx.stream_client("logs").meta.events.register(
        "before-call.logs.StartLiveTail", lambda **_: tries.append(1)
    )
    gen = src.follow()
    assert await next_batch(gen) == ["hello"]
    assert src.live_tail_unsupported and tries == [1]
    await gen.aclose()
    again = follower(moto_endpoint)
    assert await next_batch(again.follow()) == ["hello"]
    assert tries == [1]
