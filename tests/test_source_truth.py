"""Issue 19, the screen tells the truth: pane headers say how many sources answered and which
failed, and the rows of a failing or stale source never stay green.

Real faults on loopback: a listener that accepts and never answers (a hang), a port nobody
listens on (refused), a Redis server killed and started again. Short profile timeouts keep
the tests quick; every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.app import CockpitApp
from cockpit.model import PaneKind, Severity
from cockpit.profile import (
    AwsConfig,
    DatabaseConfig,
    EcsCluster,
    HostConfig,
    Profile,
    RedisConfig,
    SecretRef,
)
from cockpit.sources import Sources, build_sources

from .conftest import skip_or_fail
from .fakes import FakeEstate, ListSource
from .helpers import wait_until

TIMEOUT = 1.0  # the profile's timeout here: a hang is seen within a second
REFRESH = 0.3


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A port whose connections the kernel accepts (backlog) and nobody ever answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def refused_port() -> int:
    """A port that refuses connections: bound for a moment to learn a free one, then closed."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def header(app: CockpitApp, kind: PaneKind) -> str:
    return str(app.cockpit.panes[kind].header.render())


def glyphs(app: CockpitApp, kind: PaneKind) -> list[str]:
    """The status cell of every row of a table pane, as the screen shows it."""
    pane = app.cockpit.panes[kind]
    return [pane.table.get_row_at(i)[0].plain for i in range(pane.table.row_count)]


# --- item 2: a hang is a timeout, and a pane without sources says what would fill it ------


async def test_a_pane_without_sources_names_the_profile_keys_and_a_hung_redis_times_out(hung_port: int) -> None:
    """Redis that accepts TCP and never answers, no queue configured: Database says timeout,
    Queues and Services say which profile keys would fill them; none stays "loading"."""
    profile = Profile(name="hang", refresh=REFRESH, timeout=TIMEOUT,
                      redis=(RedisConfig("hung-redis", SecretRef(f"redis://127.0.0.1:{hung_port}/0")),))
    app = CockpitApp(profile)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: "✖" in header(app, PaneKind.DATABASE), TIMEOUT * 5)
        assert "timeout" in header(app, PaneKind.DATABASE)
        await wait_until(lambda: "no queue sources" in header(app, PaneKind.QUEUES), 5)
        assert "add aws.sqs or redis to the profile" in header(app, PaneKind.QUEUES)
        assert "no service sources" in header(app, PaneKind.SERVICES)
        assert "aws.ecs" in header(app, PaneKind.SERVICES)
        assert "no alarm sources" in header(app, PaneKind.ALARMS)
        for kind in (PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES, PaneKind.DATABASE):
            assert "loading" not in header(app, kind)
        await pilot.press("q")


async def test_a_source_that_ignores_its_timeout_is_shown_as_a_timeout_not_loading() -> None:
    """A fetch that swallows the hub's cancellation never reports: past its deadline the
    pane says timeout by itself, on its next status check."""
    estate = FakeEstate()
    stuck = ListSource("stuck:db", PaneKind.DATABASE, [], title="stuck-db")

    released = asyncio.Event()  # set at the end, so the test's loop can close

    async def deaf() -> list:
        while True:
            try:
                await released.wait()
                return []
            except asyncio.CancelledError:
                if released.is_set():
                    raise
                # a backend that swallows cancellation: the hub's timeout cannot end it

    stuck.fetch = deaf  # type: ignore[method-assign]

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        s = estate.factory(p, notes)
        return Sources([*s.sources, stuck], s.log_sources)

    app = CockpitApp(Profile(name="deaf", refresh=REFRESH, timeout=TIMEOUT), sources_factory=factory)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_until(lambda: "✖" in header(app, PaneKind.DATABASE), TIMEOUT * 6)
            assert "stuck-db" in header(app, PaneKind.DATABASE)
            assert "timeout" in header(app, PaneKind.DATABASE)
            released.set()
            await pilot.press("q")
    finally:
        released.set()


# --- item 3: every failing source is named -------------------------------------------------


async def test_every_failing_database_is_named_in_the_header_and_in_explain(
    hung_port: int, refused_port: int
) -> None:
    profile = Profile(name="dbs", refresh=REFRESH, timeout=TIMEOUT, databases=(
        DatabaseConfig("closed-db", SecretRef(f"postgresql://u@127.0.0.1:{refused_port}/db")),
        DatabaseConfig("hanging-db", SecretRef(f"postgresql://u@127.0.0.1:{hung_port}/db")),
    ))
    app = CockpitApp(profile)
    async with app.run_test(size=(240, 48)) as pilot:
        await wait_until(lambda: "2 of 2 sources failing" in header(app, PaneKind.DATABASE), TIMEOUT * 6)
        text = header(app, PaneKind.DATABASE)
        assert "closed-db" in text and "hanging-db" in text
        # explain (`e`) on the pane lists each source with its own error
        app.cockpit.panes[PaneKind.DATABASE].focus_body()
        await pilot.press("e")
        await pilot.pause()
        explained = app.cockpit.explain_panel.text
        assert "PostgreSQL closed-db" in explained and "PostgreSQL hanging-db" in explained
        assert "timeout" in explained
        await pilot.press("q")


async def test_every_failing_service_source_is_named(
    hung_port: int, refused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hanging ECS endpoint, a hanging host and a refused host: all three named."""
    if shutil.which("ssh") is None:
        skip_or_fail("the OpenSSH client is not installed")
    from cockpit.backends.hosts import build_host_sources
    from cockpit.backends.ssh import SshTransport

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    profile = Profile(
        name="svc", refresh=REFRESH, timeout=TIMEOUT,
        aws=AwsConfig(region="us-east-1", endpoint_url=f"http://127.0.0.1:{hung_port}",
                      ecs=(EcsCluster("hanging-ecs"),)),
        hosts=(HostConfig("closed-host", ssh="nobody@127.0.0.1"), HostConfig("hanging-host", ssh="nobody@127.0.0.1")),
    )

    def transport(name: str, port: int) -> SshTransport:
        return SshTransport(name, "nobody@127.0.0.1", timeout=TIMEOUT * 3, connect_timeout=10,
                            options=["-F", "/dev/null", "-p", str(port), "-o", "BatchMode=yes"])

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        aws = build_sources(Profile(name=p.name, refresh=p.refresh, timeout=p.timeout, aws=p.aws))
        hosts, logs = build_host_sources(p, transports={
            "closed-host": transport("closed-host", refused_port),
            "hanging-host": transport("hanging-host", hung_port),
        })
        return Sources([*aws.sources, *hosts], [*aws.log_sources, *logs])

    app = CockpitApp(profile, sources_factory=factory)
    async with app.run_test(size=(240, 48)) as pilot:
        await wait_until(lambda: "3 of 3 sources failing" in header(app, PaneKind.SERVICES), TIMEOUT * 8)
        text = header(app, PaneKind.SERVICES)
        assert all(name in text for name in ("closed-host", "hanging-host", "hanging-ecs")), text
        await pilot.press("q")


# --- item 4: rows of a failing or stale source lose their green glyph ----------------------


async def test_rows_of_a_failing_source_lose_their_green_glyph_until_it_answers(tmp_path: Path) -> None:
    from cockpit.lab.servers import start_redis

    from .test_resilience import Respawn

    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    server = await asyncio.to_thread(start_redis, tmp_path / "redis")
    respawn = Respawn(server._child.proc)  # type: ignore[union-attr]
    try:
        import redis as redis_client

        # A queue that exists: a missing key is `? missing`, never green.
        redis_client.Redis.from_url(server.url).rpush("jobs:email", "x")
        profile = Profile(name="redis", refresh=REFRESH, timeout=TIMEOUT,
                          redis=(RedisConfig("cache", SecretRef(server.url), queues=("jobs:email",)),))
        app = CockpitApp(profile)
        async with app.run_test(size=(160, 48)) as pilot:
            panes = (PaneKind.DATABASE, PaneKind.QUEUES)
            await wait_until(lambda: all(glyphs(app, k) == [Severity.OK.symbol] for k in panes), 15)
            await asyncio.to_thread(respawn.kill, signal.SIGKILL)
            await wait_until(lambda: all("✖" in header(app, k) for k in panes), 15)
            # The rows stay (last good data) but are no longer shown as healthy.
            for k in panes:
                assert glyphs(app, k) == [Severity.UNKNOWN.symbol], (k, glyphs(app, k))
            await asyncio.to_thread(respawn.start)
            await wait_until(lambda: all(glyphs(app, k) == [Severity.OK.symbol] for k in panes), 20)
            await pilot.press("q")
    finally:
        respawn.stop()
        server.stop()


async def test_an_ok_service_row_of_a_failing_source_says_unknown_and_a_stale_one_stale() -> None:
    estate = FakeEstate()
    app = CockpitApp(Profile(name="t", refresh=REFRESH, timeout=TIMEOUT), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: glyphs(app, PaneKind.SERVICES)[:1] == ["● healthy"], 5)
        estate.services.fail = "cannot reach ECS"
        await wait_until(lambda: "✖" in header(app, PaneKind.SERVICES), 5)
        await pilot.pause()
        rows = glyphs(app, PaneKind.SERVICES)
        assert rows[0] == "? unknown" and rows[1].startswith("▲"), rows  # the degraded row keeps ▲
        estate.services.fail = None
        await wait_until(lambda: glyphs(app, PaneKind.SERVICES)[:1] == ["● healthy"], 5)
        # Stale: the source answered once, then no answer for three intervals, no error.
        pane = app.cockpit.panes[PaneKind.SERVICES]
        update = pane.updates["fake:ecs"]
        pane.refresh_status(now=update.fetched_at + 10 * update.interval)
        await pilot.pause()
        assert glyphs(app, PaneKind.SERVICES)[0] == "▲ stale"
        await pilot.press("q")


# --- item 5: not live until every source answered ------------------------------------------


async def test_the_header_counts_sources_until_every_one_has_answered(hung_port: int) -> None:
    """One alarm source answers at once, another hangs: the header says 1 of 2, not live."""
    from cockpit.profile import PrometheusConfig

    estate = FakeEstate()
    profile = Profile(name="count", refresh=REFRESH, timeout=5.0, prometheus=(
        PrometheusConfig("hung-prom", SecretRef(f"http://127.0.0.1:{hung_port}"), metrics={"error_rate": "up"}),))

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        built = build_sources(p)
        return Sources([estate.alarms, *[s for s in built.sources if s.pane is PaneKind.ALARMS]], [estate.logs])

    app = CockpitApp(profile, sources_factory=factory)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.ALARMS]
        await wait_until(lambda: pane.row_count() == 1, 5)
        await pilot.pause()
        assert "⧗ loading · 1 of 2 sources" in header(app, PaneKind.ALARMS)
        assert "● live" not in header(app, PaneKind.ALARMS)
        # past the hung one's timeout it is failing, named, never loading
        await wait_until(lambda: "✖" in header(app, PaneKind.ALARMS), 10)
        assert "1 of 2 sources failing" in header(app, PaneKind.ALARMS)
        await pilot.press("q")


def test_status_line_counts_names_and_never_says_live_too_early() -> None:
    from cockpit.hub import SourceUpdate
    from widgets.pane import status_line

    def src(name: str, **kw: object) -> SourceUpdate:
        base: dict = {"records": None, "fetched_at": None, "interval": 5.0}
        base.update(kw)
        return SourceUpdate(name, PaneKind.SERVICES, name, **base)

    ok = src("ecs", records=(1, 2), fetched_at=100.0)
    waiting = src("host-a", deadline=110.0)
    closed = src("closed-host", error="cannot reach closed-host", error_since=101.0, next_retry=106.0)
    assert status_line([], 100, 0, "services", empty="no service sources: add x") == (
        Severity.UNKNOWN, "? no service sources: add x")
    assert status_line([], 100, 0, "services", complete=False, empty="x")[1] == "⧗ loading…"
    assert status_line([ok, waiting], 101, 2, "services")[1] == "⧗ loading · 1 of 2 sources · 2 services"
    assert status_line([ok], 101, 2, "services", complete=False)[1].startswith("⧗ loading · 1 of 1 source, more")
    # past its deadline a silent source is a timeout, never loading
    sev, text = status_line([ok, waiting], 111, 2, "services")
    assert sev is Severity.CRITICAL and text.startswith("✖ 1 of 2 sources failing: host-a: timeout")
    sev, text = status_line([ok, waiting, closed], 111, 2, "services")
    assert text.startswith("✖ 2 of 3 sources failing: host-a (timeout), closed-host · since")
    # a watcher (complete=None) counts what it has heard of
    assert status_line([ok], 101, 2, "services", complete=None)[1] == "● live · 2 services · every 5s"


async def test_every_failing_log_source_is_named() -> None:
    from cockpit.hub import LogBatch

    estate = FakeEstate()
    app = CockpitApp(Profile(name="t", refresh=REFRESH, timeout=TIMEOUT), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)) as pilot:
        logs = app.cockpit.logs
        logs.add_batch(LogBatch("a", "tail web-1", error="cannot reach web-1", next_retry=1.0))
        logs.add_batch(LogBatch("b", "journal db-1", error="cannot reach db-1", next_retry=2.0))
        text = header(app, PaneKind.LOGS)
        assert "2 of 2 log sources failing: tail web-1, journal db-1" in text, text
        await pilot.press("q")


async def test_a_start_up_failure_stays_on_the_headers() -> None:
    """Sources that cannot be built: every pane says so, and the periodic status check does
    not turn it back into "loading"."""
    from cockpit.errors import ConfigError

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        raise ConfigError("profiles.yaml: redis[0].url: env:NOPE is not set", "export NOPE")

    app = CockpitApp(Profile(name="t", refresh=REFRESH, timeout=TIMEOUT), sources_factory=factory)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: "start-up failed" in header(app, PaneKind.QUEUES), 5)
        app.cockpit.refresh_status()  # what the staleness timer does every interval
        await pilot.pause()
        assert all("start-up failed" in header(app, k) for k in
                   (PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES, PaneKind.DATABASE))
        await pilot.press("q")
