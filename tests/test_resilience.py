"""Issue 11, resilience: real backends against real faults, in a running cockpit.

- A backend that hangs (a TCP listener that accepts and never answers), one test per
  backend kind: its pane says it timed out, the other panes keep refreshing, and keys are
  handled while the hung request is still in flight.
- PostgreSQL, Redis and the moto server killed and restarted under a running cockpit:
  the pane goes into its error state and recovers without a restart; CloudWatch logs lose
  and repeat nothing across the gap. (sshd going away and coming back, with ``tail -F``
  resuming without loss or repeats, is tests/test_hosts.py::test_host_going_away_and_coming_back.)
- Clock skew: log records late by seconds, across sources and batches, are placed by time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.app import CockpitApp
from cockpit.model import LogLevel, LogRecord, PaneKind
from cockpit.profile import (
    AlarmFilter,
    AwsConfig,
    DatabaseConfig,
    EcsCluster,
    HostConfig,
    KubernetesConfig,
    Profile,
    PrometheusConfig,
    RedisConfig,
    SecretRef,
    SqsQueue,
)
from cockpit.sources import Sources, build_sources

from .conftest import skip_or_fail
from .fakes import FakeEstate
from .helpers import wait_until

HANG_TIMEOUT = 1.5  # the hub's timeout in these tests: short, so a hang is seen quickly
REFRESH = 0.2


@pytest.fixture
def hung_listener() -> Iterator[socket.socket]:
    """A listener the kernel accepts connections for (backlog) and nobody ever answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield s
    finally:
        s.close()


def _kubeconfig(tmp_path: Path, port: int) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: hung\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-secret}}]\n"
        "contexts: [{name: hung, context: {cluster: c, user: u}}]\n"
    )
    return str(path)


# kind -> (pane that shows it, profile keys pointing that backend at the hung port)
def _hung_profile(kind: str, port: int, tmp_path: Path) -> tuple[PaneKind, dict[str, Any]]:
    url = f"127.0.0.1:{port}"
    if kind == "postgres":
        return PaneKind.DATABASE, {"databases": (DatabaseConfig("hung-pg", SecretRef(f"postgresql://u@{url}/db")),)}
    if kind == "redis":
        return PaneKind.DATABASE, {"redis": (RedisConfig("hung-redis", SecretRef(f"redis://{url}/0")),)}
    if kind == "aws":
        return PaneKind.SERVICES, {"aws": AwsConfig(
            region="us-east-1", endpoint_url=f"http://{url}", ecs=(EcsCluster("production"),),
            alarms=AlarmFilter(), sqs=(SqsQueue("jobs"),), rds=("db",))}
    if kind == "kubernetes":
        return PaneKind.SERVICES, {"kubernetes": (
            KubernetesConfig(context="hung", namespaces=("ns",), kubeconfig=_kubeconfig(tmp_path, port)),)}
    if kind == "prometheus":
        return PaneKind.ALARMS, {"prometheus": (
            PrometheusConfig("hung-prom", SecretRef(f"http://{url}"), metrics={"error_rate": "up"}),)}
    if kind == "ssh":
        return PaneKind.SERVICES, {"hosts": (HostConfig("stuck", ssh="nobody@127.0.0.1"),)}
    raise AssertionError(kind)


def _real_sources(kind: str, profile: Profile, port: int) -> Sources:
    if kind != "ssh":
        return build_sources(profile)
    from cockpit.backends.hosts import build_host_sources
    from cockpit.backends.ssh import SshTransport

    # The profile's ssh: cannot carry a port; the transport is the real one, pointed at it.
    transport = SshTransport("stuck", "nobody@127.0.0.1", timeout=HANG_TIMEOUT * 3, connect_timeout=10,
                             options=["-F", "/dev/null", "-p", str(port), "-o", "BatchMode=yes"])
    sources, logs = build_host_sources(profile, transports={"stuck": transport})
    return Sources(sources, logs)


class LoopWatch:
    """The longest the event loop went without running this task (a blocked loop shows here)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def stop(self) -> None:
        self._task.cancel()


KINDS = ["postgres", "redis", "ssh", "aws", "kubernetes", "prometheus"]


class InFlight:
    """Counts a source's fetches that started and ended, to know one is hanging right now."""

    def __init__(self, source: Any) -> None:
        self.started = self.ended = 0
        inner = source.fetch

        async def fetch() -> Any:
            self.started += 1
            try:
                return await inner()
            finally:
                self.ended += 1

        source.fetch = fetch

    @property
    def hanging(self) -> bool:
        return self.started > self.ended


def _threaded(source: Any) -> None:
    """The fake does its work in asyncio's default executor, as Kubernetes row building and
    the audit write before an action do: a hung backend must not starve those threads."""
    inner = source.fetch

    async def fetch() -> Any:
        return await asyncio.to_thread(lambda: asyncio.run(inner()))

    source.fetch = fetch


@pytest.mark.parametrize("kind", KINDS)
async def test_a_hung_backend_times_out_on_its_pane_while_the_ui_and_the_others_go_on(
    kind: str, hung_listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "ssh" and shutil.which("ssh") is None:
        skip_or_fail("the OpenSSH client is not installed")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    port = hung_listener.getsockname()[1]
    pane_kind, keys = _hung_profile(kind, port, tmp_path)
    profile = Profile(name="hang", refresh=REFRESH, timeout=HANG_TIMEOUT, **keys)
    estate = FakeEstate()
    _threaded(estate.queues)
    watched: list[InFlight] = []
    hung_ids: list[str] = []

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        built = _real_sources(kind, p, port)
        for src in built.sources:
            if src.pane is pane_kind:
                watched.append(InFlight(src))
                hung_ids.append(src.id)
        return Sources([*built.sources, estate.services, estate.alarms, estate.queues, estate.database],
                       [*built.log_sources, estate.logs])

    app = CockpitApp(profile, sources_factory=factory)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.cockpit
        await wait_until(lambda: app.hub is not None and screen.panes[PaneKind.SERVICES].row_count() >= 2, 10)
        assert watched, f"no {kind} source on the {pane_kind.value} pane"
        watch = LoopWatch()
        try:
            # Keys are handled while a request hangs: the focus moves within one hung fetch
            # (pressed again if that fetch happened to time out meanwhile).
            moved = 0
            for _ in range(10):
                await wait_until(lambda: any(w.hanging for w in watched), HANG_TIMEOUT * 2)
                ended = [w.ended for w in watched]
                before = screen.focused_pane()
                await pilot.press("tab")
                await wait_until(lambda b=before: screen.focused_pane() is not b, 2)
                if [w.ended for w in watched] == ended:
                    moved += 1
                    if moved == 2:
                        break
            assert moved == 2, "no key press fell within a hung fetch"

            # The hung pane says so.
            header = screen.panes[pane_kind].header

            def says_timeout() -> bool:
                text = str(header.render())
                return "✖" in text and any(w in text for w in ("no answer within", "did not answer", "timed out"))

            await wait_until(says_timeout, HANG_TIMEOUT * 4)
            # Every fake source keeps refreshing, also once the hung requests have piled up
            # (abandoned threads still blocked in reads): after a second timeout.
            await wait_until(lambda: all(w.ended >= 2 for w in watched), HANG_TIMEOUT * 4)
            fakes = (estate.services, estate.alarms, estate.queues, estate.database)
            calls = {s.id: s.calls for s in fakes}
            await wait_until(lambda: all(s.calls - calls[s.id] >= 3 for s in fakes), HANG_TIMEOUT * 2)
            assert all(not app.hub.snapshot(sid).error for sid in calls)
            assert any(app.hub.snapshot(sid).error for sid in hung_ids)
            # A backend that blocked the loop would stall it for its whole timeout; anything
            # shorter is the machine's load (CI shares two cores), not a hang.
            assert watch.worst < HANG_TIMEOUT, f"the event loop stalled {watch.worst:.2f} s"
        finally:
            watch.stop()
            # Connections reset: threads still blocked in a read (boto3, kubernetes) end now
            # instead of at their read timeouts, so the test's loop closes at once.
            hung_listener.close()
        await pilot.press("q")


# --- servers killed and restarted under a running cockpit -----------------------------


class Respawn:
    """Kill a server process and start it again with the same argv, cwd and user (the
    same port and data), as a supervisor would after a crash."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        # The Popen's own argv: redis-server rewrites its /proc cmdline.
        proc = Path(f"/proc/{child.pid}")
        self.pid = child.pid
        self.argv = [str(a) for a in child.args]  # type: ignore[union-attr]
        self.cwd = os.readlink(proc / "cwd")
        status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
        self.uid, self.gid = int(status["Uid"].split()[0]), int(status["Gid"].split()[0])
        self.again: subprocess.Popen[bytes] | None = None

    def kill(self, sig: int) -> None:
        os.kill(self.pid, sig)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{self.pid}").exists() and _state(self.pid) != "Z":
            assert time.monotonic() < deadline, f"pid {self.pid} did not exit"
            time.sleep(0.02)

    def start(self) -> None:
        self.again = subprocess.Popen(
            self.argv, cwd=self.cwd, user=self.uid, group=self.gid, extra_groups=[],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.again is not None and self.again.poll() is None:
            os.killpg(self.again.pid, sig)
            self.again.wait(10)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def _header(app: CockpitApp, kind: PaneKind) -> str:
    return str(app.cockpit.panes[kind].header.render())


async def _error_then_recovery(app: CockpitApp, panes: tuple[PaneKind, ...], kill: Any, start: Any) -> None:
    """Live, then the server goes: each pane shows its error; it comes back: live again."""
    await wait_until(lambda: all("● live" in _header(app, k) for k in panes), 15)
    await asyncio.to_thread(kill)
    await wait_until(lambda: all("✖" in _header(app, k) for k in panes), 15)
    await asyncio.to_thread(start)
    # Backoff after a few failures is a few seconds at this refresh; no restart of the cockpit.
    await wait_until(lambda: all("● live" in _header(app, k) for k in panes), 20)


async def test_postgres_killed_and_restarted_under_a_running_cockpit(tmp_path: Path) -> None:
    from cockpit.lab.servers import ServerUnavailable, postgres_bindir, start_postgres

    if postgres_bindir() is None:
        skip_or_fail("PostgreSQL is not installed")
    try:
        server = await asyncio.to_thread(start_postgres, tmp_path / "pg")  # its own: this one dies
    except ServerUnavailable as e:
        pytest.fail(f"PostgreSQL did not start: {e}")
    respawn = Respawn(server._child.proc)  # type: ignore[union-attr]
    try:
        profile = Profile(name="pg", refresh=0.3, timeout=3,
                          databases=(DatabaseConfig("pg", SecretRef(server.dsn)),))
        app = CockpitApp(profile)
        async with app.run_test(size=(160, 48)) as pilot:
            # SIGQUIT: postgres' immediate shutdown, a crash as far as clients can tell.
            await _error_then_recovery(app, (PaneKind.DATABASE,), lambda: respawn.kill(signal.SIGQUIT),
                                       respawn.start)
            await pilot.press("q")
    finally:
        respawn.stop(signal.SIGINT)
        server.stop()


async def test_redis_killed_and_restarted_under_a_running_cockpit(tmp_path: Path) -> None:
    from cockpit.lab.servers import start_redis

    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    server = await asyncio.to_thread(start_redis, tmp_path / "redis")
    respawn = Respawn(server._child.proc)  # type: ignore[union-attr]
    try:
        profile = Profile(name="redis", refresh=0.3, timeout=3,
                          redis=(RedisConfig("cache", SecretRef(server.url), queues=("queue:default",)),))
        app = CockpitApp(profile)
        async with app.run_test(size=(160, 48)) as pilot:
            await _error_then_recovery(app, (PaneKind.DATABASE, PaneKind.QUEUES),
                                       lambda: respawn.kill(signal.SIGKILL), respawn.start)
            await pilot.press("q")
    finally:
        respawn.stop()
        server.stop()


async def test_moto_killed_and_restarted_cloudwatch_logs_lose_and_repeat_nothing(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto keeps its estate in this process, shared by every server object: the cockpit
    talks to a server of this test's own, whose stop is the outage; meanwhile CloudWatch
    (the session's server, same estate) keeps receiving the service's log lines."""
    import logging

    from moto.server import ThreadedMotoServer

    from .fixtures.moto import aws_client

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ecs = aws_client(moto_endpoint, "ecs")
    ecs.create_cluster(clusterName="resilience")
    td = ecs.register_task_definition(
        family="api", containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="resilience", serviceName="api", taskDefinition=td, desiredCount=1)
    logs = aws_client(moto_endpoint, "logs")
    group, stream = "/ecs/resilience", "ecs/api/0123456789abcdef"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)

    def put(*texts: str) -> None:
        now = int(time.time() * 1000)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": now - len(texts) + i, "message": t} for i, t in enumerate(texts)])

    put("before 0", "before 1", "before 2")
    own = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    own.start()
    host, port = own.get_host_and_port()
    servers = [own]
    profile = Profile(name="aws", refresh=0.3, timeout=3, aws=AwsConfig(
        region="us-east-1", endpoint_url=f"http://{host}:{port}",
        ecs=(EcsCluster("resilience", log_groups=(group,)),)))
    app = CockpitApp(profile)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            view = app.cockpit.logs.view

            def ours() -> list[str]:
                return [ln.text for ln in view.lines if ln.text.startswith(("before", "during", "after"))]

            await wait_until(lambda: ours() == ["before 0", "before 1", "before 2"], 15)

            def outage() -> None:
                servers[0].stop()
                put("during the outage 0", "during the outage 1")

            def back() -> None:
                again = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
                again.start()
                servers[0] = again

            await wait_until(lambda: "● live" in _header(app, PaneKind.SERVICES), 15)
            await asyncio.to_thread(outage)
            # Both the services refresh and the log follower saw the endpoint go.
            await wait_until(lambda: all("✖" in _header(app, k) for k in (PaneKind.SERVICES, PaneKind.LOGS)), 15)
            await asyncio.to_thread(back)
            await wait_until(lambda: "● live" in _header(app, PaneKind.SERVICES), 20)
            put("after 0")
            await wait_until(lambda: "after 0" in ours(), 20)
            # The log pane's error clears with the first lines after the gap (it has no
            # other sign of a recovered follower).
            await wait_until(lambda: "●" in _header(app, PaneKind.LOGS), 5)
            assert ours() == ["before 0", "before 1", "before 2", "during the outage 0",
                              "during the outage 1", "after 0"]
            await pilot.press("q")
    finally:
        await asyncio.to_thread(servers[0].stop)


# --- clock skew ------------------------------------------------------------------------


async def test_log_lines_late_by_seconds_are_shown_and_placed_by_time(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers whose clocks disagree: CloudWatch lines stamped seconds before the newest
    line already shown (they are still fetched), and a host 3 s behind whose lines arrive
    after newer ones. The log pane shows them by time, on screen too."""
    from datetime import UTC, datetime, timedelta

    from .fixtures.moto import aws_client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    logs = aws_client(moto_endpoint, "logs")
    group = "/ecs/skew"
    logs.create_log_group(logGroupName=group)
    for s in ("ecs/api/aaaaaaaa", "ecs/worker/bbbbbbbb"):
        logs.create_log_stream(logGroupName=group, logStreamName=s)

    def put(stream: str, text: str, ms: int) -> None:
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": ms, "message": text}])

    estate = FakeEstate()
    profile = Profile(name="skew", refresh=0.5, timeout=3, aws=AwsConfig(
        region="us-east-1", endpoint_url=moto_endpoint, ecs=(EcsCluster("skew", log_groups=(group,)),)))

    def factory(p: Profile, notes: dict[str, str]) -> Sources:
        built = build_sources(p)
        return Sources([estate.services], [*built.log_sources, estate.logs])

    app = CockpitApp(profile, sources_factory=factory)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.cockpit.logs.view

        def ours() -> list[str]:
            return [ln.text for ln in view.lines if ln.text.startswith("t-")]

        now = datetime.now(UTC)
        ms = int(now.timestamp() * 1000)
        put("ecs/api/aaaaaaaa", "t-0 api", ms)
        await wait_until(lambda: ours() == ["t-0 api"], 15)
        # Late: the worker's lines are stamped 6 s and 1 s before the api's, and arrive after.
        put("ecs/worker/bbbbbbbb", "t-6 worker", ms - 6000)
        put("ecs/worker/bbbbbbbb", "t-1 worker", ms - 1000)
        # A host 3 s behind, in one burst whose own lines are out of order.
        estate.logs.queue.put_nowait([
            LogRecord(now - timedelta(seconds=2), "host-b", LogLevel.INFO, "t-2 host"),
            LogRecord(now - timedelta(seconds=3), "host-b", LogLevel.INFO, "t-3 host"),
        ])
        expected = ["t-6 worker", "t-3 host", "t-2 host", "t-1 worker", "t-0 api"]
        await wait_until(lambda: sorted(ours()) == sorted(expected), 15)
        assert ours() == expected
        await pilot.pause()
        rows = [view.render_line(y).text for y in range(view.size.height)]
        on_screen = [next(t for t in expected if t in row) for row in rows if any(t in row for t in expected)]
        assert on_screen == expected
        await pilot.press("q")
