"""Seen item 10: a CloudWatch Logs endpoint that restarts under a running cockpit.

moto's server is the endpoint. ``POST /moto-api/reset`` empties its estate (the log group
is gone until the service recreates it); a restarted moto process also numbers its log
events from 0 again, which the reset alone does not do in this process (moto keeps the
counter on a class), so the test sets that counter back as a restart would.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from cockpit.app import CockpitApp
from cockpit.backends.logs import EcsLogSource
from cockpit.model import PaneKind
from cockpit.profile import AwsConfig, EcsCluster, Profile
from cockpit.sources import Sources, build_sources
from tests.fakes import FakeEstate
from tests.fixtures.moto import aws_client
from tests.helpers import wait_until

GROUP, STREAM = "/ecs/restart", "ecs/api/0123456789abcdef"


def restart_endpoint(endpoint: str) -> None:
    """What the follower sees of a restarted endpoint: its estate gone, its ids from 0."""
    from moto.logs.models import LogEvent

    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
        resp.read()
    LogEvent._event_id = 0


def create_group(logs: Any) -> None:
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)


def put(logs: Any, *texts: str) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM, logEvents=[
        {"timestamp": now - len(texts) + i, "message": t} for i, t in enumerate(texts)])  # fmt: skip


def header(app: CockpitApp) -> str:
    return str(app.cockpit.panes[PaneKind.LOGS].header.render())


async def test_after_an_endpoint_restart_new_lines_show_and_the_error_clears_without_one(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    restart_endpoint(moto_endpoint)  # ids from 0 for the lines before, too
    logs = aws_client(moto_endpoint, "logs")
    create_group(logs)
    put(logs, *(f"before {i}" for i in range(25)))
    estate = FakeEstate()
    profile = Profile(name="restart", refresh=0.5, timeout=3, aws=AwsConfig(
        region="us-east-1", endpoint_url=moto_endpoint,
        ecs=(EcsCluster("restart", log_groups=(GROUP,)),)))  # fmt: skip

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        built = build_sources(p)
        followers = [s for s in built.log_sources if isinstance(s, EcsLogSource)]
        for f in followers:
            f.live_tail = False  # moto serves no live tail: polling is what is followed
        return Sources([estate.services], followers)

    app = CockpitApp(profile, sources_factory=factory)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.cockpit.logs.view

        def ours(prefix: str) -> list[str]:
            return [ln.text for ln in view.lines if ln.text.startswith(prefix)]

        await wait_until(lambda: len(ours("before")) == 25, 15)
        restart_endpoint(moto_endpoint)
        await wait_until(lambda: "✖" in header(app), 15)  # the group is gone for now
        logs = aws_client(moto_endpoint, "logs")
        create_group(logs)
        # Back: the follower's next poll answers, with no line yet; the error goes with it.
        await wait_until(lambda: "✖" not in header(app), 15)
        put(logs, *(f"after {i}" for i in range(21)))
        # Renumbered ids ("0" ... "20" again) are new lines, not lines already seen.
        await wait_until(lambda: len(ours("after")) == 21, 15)
        assert ours("after") == [f"after {i}" for i in range(21)]
        assert ours("before") == [f"before {i}" for i in range(25)]
        await pilot.press("q")


async def test_a_follower_treats_renumbered_ids_after_a_restart_as_new_lines(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    restart_endpoint(moto_endpoint)
    logs = aws_client(moto_endpoint, "logs")
    create_group(logs)
    put(logs, *(f"before {i}" for i in range(25)))
    profile = Profile(name="restart", aws=AwsConfig(
        region="us-east-1", endpoint_url=moto_endpoint,
        ecs=(EcsCluster("restart", log_groups=(GROUP,)),)))  # fmt: skip
    (src,) = [s for s in build_sources(profile).log_sources if isinstance(s, EcsLogSource)]
    try:
        assert len(src.poll_once()) == 25
        restart_endpoint(moto_endpoint)
        logs = aws_client(moto_endpoint, "logs")
        create_group(logs)
        put(logs, *(f"after {i}" for i in range(21)))
        assert [r.text for r in src.poll_once()] == [f"after {i}" for i in range(21)]
        assert src.poll_once() == []  # and each only once
    finally:
        await src.close()
