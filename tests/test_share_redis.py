"""Issue 25: sharing on Redis Streams, against real redis-servers (the session's, and private
ones for the restarts): share → attach in another process, resume without gap or duplicate,
the driver lease, replay and export from XRANGE, a driver that Redis cannot slow down."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from cockpit.app import CockpitApp
from cockpit.errors import CockpitError
from cockpit.hub import LogBatch
from cockpit.lab.servers import free_port
from cockpit.model import LogLevel, LogRecord, PaneKind
from cockpit.profile import Profile, ShareConfig
from cockpit.redis_watch import Entry, RedisWatcher, Status, read_range
from cockpit.replay import Player
from cockpit.share_redis import DriverLease, RedisShare, parse_redis_target
from cockpit.stream import StreamEncoder

from .fakes import FakeEstate
from .helpers import wait_until

pytestmark = pytest.mark.servers
ROOT = Path(__file__).resolve().parent.parent


class PrivateRedis:
    """A redis-server of this test's own on a fixed port, with an append-only file, so it can
    be stopped and started again with its streams."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.dir, self.port = workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log"), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, (self.dir / "redis.log").read_text()[-2000:]
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)  # writes the append-only file and exits
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def line(n: int) -> LogBatch:
    return LogBatch("fake:logs", "fake logs",
                    records=(LogRecord(datetime.now(UTC), "api/task-1", LogLevel.INFO, f"line {n}"),))


def numbers(entries: list[Entry]) -> list[int]:
    return [int(r["text"].split()[1]) for e in entries if e.kind == "logs" for ev in e.events for r in ev["records"]]


def test_target_refuses_a_password_in_arguments_and_reads_its_reference(monkeypatch):
    with pytest.raises(CockpitError, match="ps"):
        parse_redis_target("redis://:hunter2@127.0.0.1:6379/0?stream=s")
    with pytest.raises(CockpitError, match="literal password"):
        parse_redis_target("redis://127.0.0.1:6379/0?stream=s&password=hunter2")
    t = parse_redis_target("rediss://ops@redis.internal:6380/2?stream=cockpit:prod&password=env:PW")
    assert str(t) == "rediss://ops@redis.internal:6380/2?stream=cockpit:prod"
    assert t.password is not None and str(t.password) == "env:PW"
    assert parse_redis_target("redis://127.0.0.1:6379/0", "prod").stream == "cockpit:prod"


def test_share_section_is_validated_with_file_and_line(tmp_path):
    from cockpit.config import load_config

    path = tmp_path / "profiles.yaml"
    path.write_text("profiles:\n  prod:\n    share:\n      maxlen: 10\n")
    with pytest.raises(CockpitError) as err:
        load_config(path)
    assert f"{path}:4" in str(err.value) and "maxlen" in str(err.value) and "100" in str(err.value)
    path.write_text("profiles:\n  prod:\n    share:\n      snapshot_every: 600\n      max_age: 60\n")
    with pytest.raises(CockpitError, match="snapshot_every"):
        load_config(path)
    path.write_text("profiles:\n  prod:\n    share:\n      url: env:SHARE_URL\n      maxlen: 500\n      max_age: null\n")
    share = load_config(path).get("prod").share
    assert (share.maxlen, share.max_age, str(share.url)) == (500, None, "env:SHARE_URL")


async def test_attach_in_another_process_sees_the_drivers_panes(redis_url):
    url = f"{redis_url}?stream=cockpit:prod-eu"
    estate = FakeEstate()
    driver = CockpitApp(Profile(name="prod-eu", refresh=0.2, production=True),
                        sources_factory=estate.factory, share=url)
    async with driver.run_test(size=(160, 48)):
        panes = driver.cockpit.panes
        kinds = [PaneKind.SERVICES, PaneKind.ALARMS, PaneKind.QUEUES, PaneKind.DATABASE]
        await wait_until(lambda: all(panes[k].row_count() for k in kinds), 10)
        counts = {k.value: panes[k].row_count() for k in kinds}
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "tests" / "redis_attach_child.py"), url, json.dumps(counts),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(child.communicate(), 60)
        assert child.returncode == 0, err.decode()[-3000:]
        seen = json.loads(out.decode().strip().splitlines()[-1])
        for k in kinds:
            assert seen[k.value] == sorted(repr(r) for r in panes[k].records.values()), k
        assert "PRODUCTION: prod-eu" in seen["banner"][0]
        assert seen["live"] == ["● live"]


async def watch_into(watcher: RedisWatcher, got: list[Entry], statuses: list[Status]) -> None:
    async for item in watcher.entries():
        (got if isinstance(item, Entry) else statuses).append(item)  # type: ignore[arg-type]


async def test_watcher_resumes_without_gap_or_duplicate_after_kill_and_restart(private_redis):
    target = parse_redis_target(f"{private_redis.url}?stream=cockpit:t")
    enc = StreamEncoder("t")
    share = RedisShare(target, enc.full_state, ShareConfig(snapshot_every=3600))
    await share.start()
    watcher = RedisWatcher(target, block_ms=200, retry=0.05)
    got: list[Entry] = []
    statuses: list[Status] = []
    task = asyncio.create_task(watch_into(watcher, got, statuses))
    sent = 0

    async def send(n: int) -> None:
        nonlocal sent
        for _ in range(n):
            sent += 1
            share.publish(enc.logs(line(sent)))
            await asyncio.sleep(0.002)

    try:
        await send(50)
        await wait_until(lambda: numbers(got)[-1:] == [sent], 10)
        # The watcher's connection is killed while it waits in XREAD.
        admin = redis.Redis(port=private_redis.port, decode_responses=True)
        ids = [c["id"] for c in admin.client_list() if c.get("cmd") == "xread"]
        assert ids
        for cid in ids:
            admin.client_kill_filter(_id=cid)
        await send(50)
        await wait_until(lambda: numbers(got)[-1:] == [sent], 10)
        assert watcher.reconnects >= 1
        # redis-server goes away (lines keep coming: queued by the driver) and comes back.
        admin.close()
        private_redis.stop()
        await send(30)
        await wait_until(lambda: any(not s.connected for s in statuses), 10)
        await wait_until(lambda: not share.status()[1], 10)
        assert "retrying" in share.status()[0]
        private_redis.start()
        await send(20)
        await wait_until(lambda: numbers(got)[-1:] == [sent], 20)
        assert numbers(got) == list(range(1, sent + 1))  # every line once, in order
        await wait_until(lambda: share.status()[1], 10)
    finally:
        task.cancel()  # a watcher that quits never waits on Redis
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        await share.stop()


async def test_a_duplicate_entry_from_a_resent_batch_is_skipped(redis_url):
    target = parse_redis_target(f"{redis_url}?stream=dup")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for n in (1, 2, 3, 2, 3, 4):  # a batch of 2..3 resent after an ambiguous failure
        client.xadd("dup", {"k": "logs", "s": "abc", "n": str(n),
                            "d": json.dumps(StreamEncoder("t").logs(line(n)))})
    watcher = RedisWatcher(target, block_ms=100)
    got: list[Entry] = []
    task = asyncio.create_task(watch_into(watcher, got, []))
    try:
        await wait_until(lambda: numbers(got)[-1:] == [4], 10)
        assert numbers(got) == [1, 2, 3, 4]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_lease_gives_exactly_one_driver(redis_url):
    target = parse_redis_target(f"{redis_url}?stream=lease")
    a = DriverLease(target, ttl=0.6, owner="ann@bastion")
    b = DriverLease(target, ttl=0.6, owner="bob@laptop")
    won = await asyncio.gather(a.acquire(), b.acquire())
    assert sorted(won) == [False, True]
    holder, other = (a, b) if won[0] else (b, a)
    assert await other.holder() == holder.name
    await asyncio.sleep(1.5)  # renewed past two TTLs: still the one driver
    assert holder.held and not await other.acquire()
    await holder.release()  # leaving gives it up at once
    assert await other.acquire() and await holder.holder() == other.name
    # A driver that dies without releasing: the lease lapses after its TTL, not before.
    lost: list[str] = []
    holder.on_lost = lost.append
    other._task.cancel()  # type: ignore[union-attr]
    assert not await holder.acquire()
    await wait_until(lambda: not other.held, 2)
    await wait_until_async(holder.acquire, 3)
    assert holder.held
    await holder.release()
    await other.release()


async def wait_until_async(cond, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_replay_from_xrange_matches_the_file_recording(redis_url, tmp_path):
    url = f"{redis_url}?stream=cockpit:rec"
    record = tmp_path / "session.cz"
    estate = FakeEstate()
    driver = CockpitApp(Profile(name="rec", refresh=0.2), sources_factory=estate.factory,
                        share=url, record=str(record))
    async with driver.run_test(size=(160, 48)):
        await wait_until(lambda: driver.cockpit.panes[PaneKind.QUEUES].row_count() == 1, 10)
        estate.logs.push("first", "second")
        estate.queues.records[0] = estate.queues.records[0].__class__(
            **{**estate.queues.records[0].__dict__, "depth": 4321})
        stream = redis.Redis.from_url(redis_url, decode_responses=True)

        def streamed_all() -> bool:
            text = repr(stream.xrange("cockpit:rec"))
            return "4321" in text and "second" in text

        await wait_until(streamed_all, 10)
        await driver.shutdown()
    from cockpit.record import read_recording

    recorded = read_recording(record)
    streamed = await read_range(parse_redis_target(url))
    first_state = next(i for i, e in enumerate(streamed) if e["kind"] != "hello" and not e.get("full"))
    assert recorded[0]["kind"] == "hello" and streamed[0]["kind"] == "hello"
    assert recorded[1:] == streamed[first_state:]
    end = max(e["t"] for e in recorded)
    a, b = Player(recorded).state_at(end), Player(streamed).state_at(end)
    assert {k: u.records for k, u in a.updates.items()} == {k: u.records for k, u in b.updates.items()}
    assert any("4321" in repr(u.records) for u in b.updates.values())
    # Export writes today's recording format: a replay of it is the same.
    from cockpit.poll import main_record

    out = tmp_path / "export.cz"
    assert await asyncio.to_thread(main_record, ["export", url, str(out)]) == 0
    assert read_recording(out) == streamed


async def test_an_unreachable_redis_never_slows_the_driver_and_a_state_heals(tmp_path):
    server = PrivateRedis(tmp_path)  # not started yet: nothing listens on its port
    target = parse_redis_target(f"{server.url}?stream=heal")
    enc = StreamEncoder("t")
    said: list[tuple[str, bool]] = []
    share = RedisShare(target, enc.full_state, ShareConfig(snapshot_every=3600), queue_max=100,
                       on_status=lambda text, ok: said.append((text, ok)))
    await share.start()
    try:
        started = time.perf_counter()
        for n in range(5000):
            share.publish(enc.logs(line(n)))
        assert time.perf_counter() - started < 1.0  # 5,000 events: a deque append each
        await wait_until(lambda: said and not said[-1][1], 10)
        assert "retrying" in said[-1][0] and share.dropped >= 4900
        assert "dropped" in share.status()[0]
        server.start()
        await wait_until(lambda: said[-1][1], 20)
        share.publish(enc.logs(line(9999)))
        await wait_until(lambda: not share._queue, 10)
        entries = redis.Redis(port=server.port, decode_responses=True).xrange("heal")
        heal = [f for _, f in entries if f["k"] == "state" and f.get("h") == "1"]
        assert heal, "after drops the next entry written is a healing state"
        assert entries[-1][1]["k"] == "logs"
    finally:
        await share.stop()
        server.stop()


async def test_poller_publishes_headless_and_an_attached_watcher_sees_it(redis_url):
    from tests.helpers import polled_and_watched

    url = f"{redis_url}?stream=cockpit:poll"
    estate = FakeEstate()
    profile = Profile(name="prod", refresh=0.2, production=True)
    async with polled_and_watched(url, profile, estate.factory) as watcher, watcher.run_test(size=(160, 48)):
        await wait_until(lambda: watcher.cockpit.panes[PaneKind.SERVICES].row_count() == 2, 10)
        assert watcher.hub is None  # no backend in the watcher
        calls = estate.services.calls
        await asyncio.sleep(0.5)
        assert estate.services.calls - calls <= 4  # the poller's refreshes only


async def test_attach_drive_one_driver_of_two_with_backends_and_an_audit_naming_it(redis_url, tmp_path):
    from cockpit.poll import Drive, Poller
    from cockpit.share_redis import RedisShare, owner_name
    from screens.redis_watch import RedisWatchScreen, redis_feed

    url = f"{redis_url}?stream=cockpit:drive"
    target = parse_redis_target(url)
    audit = tmp_path / "audit.jsonl"
    profile = Profile(name="prod", refresh=0.2, audit_log=str(audit), share=ShareConfig(lease_ttl=2))
    estate = FakeEstate()
    poller = Poller(profile, target, sources_factory=estate.factory, log=lambda text: None)
    task = asyncio.create_task(poller.run())

    def contender() -> CockpitApp:
        drive = Drive(target, profile, sources_factory=FakeEstate().factory)
        return CockpitApp(profile, feed=redis_feed(target, drive), screen_factory=RedisWatchScreen)

    try:
        await asyncio.wait_for(poller.started.wait(), 10)
        a, b = contender(), contender()
        async with a.run_test(size=(160, 48)), b.run_test(size=(160, 48)):
            await wait_until(lambda: sorted([a.runner.read_only, b.runner.read_only]) == [False, True], 10)
            driver, other = (a, b) if not a.runner.read_only else (b, a)
            services = driver.cockpit.panes[PaneKind.SERVICES]
            await wait_until(lambda: services.row_count() == 2, 10)
            row = next(iter(services.records.values()))
            assert driver.backend_for(row) is not None  # its actions reach a backend
            assert other.backend_for(row) is None and other.hub is None  # the other only watches
            assert any(isinstance(s, RedisShare) and not s.states for s in driver.sinks)
            assert redis.Redis.from_url(redis_url, decode_responses=True).get(target.lease_key).startswith(owner_name())
        notes = [json.loads(x) for x in audit.read_text().splitlines()]
        said = [n["summary"] for n in notes if n.get("type") == "note"]
        assert said == [f"driver lease on {target} taken by {owner_name()}",
                        f"driver lease on {target} released by {owner_name()}"]
        assert all(n["driver"] == owner_name() for n in notes if n.get("type") == "note")
        assert redis.Redis.from_url(redis_url).get(target.lease_key) is None  # released on exit
    finally:
        poller.stop()
        await asyncio.wait_for(task, 30)


def test_cli_says_what_is_wrong_with_redis_instead_of_a_traceback(tmp_path, capsys):
    from cockpit import cli

    port = free_port()  # nothing listens there
    assert cli.main(["record", "export", f"redis://127.0.0.1:{port}/0?stream=x", str(tmp_path / "o.cz")]) == 2
    assert "cannot read the stream" in capsys.readouterr().err
    assert cli.main(["poll", "--share", f"redis://:hunter2@127.0.0.1:{port}/0"]) == 2
    err = capsys.readouterr().err
    assert "ps" in err and "hunter2" not in err


def test_the_watchers_headers_say_how_far_behind_the_driver_it_is():
    from screens.redis_watch import RedisWatchScreen

    screen = RedisWatchScreen.__new__(RedisWatchScreen)  # the word alone, no app
    screen.connected, screen.lag = True, 0.4
    assert screen.live_word() == "● live"
    screen.lag = 4.2
    assert screen.live_word() == "▲ 4 s behind the driver"
    screen.connected, screen.lost_at = False, time.time() - 3
    assert screen.live_word().startswith("▲ 7 s behind the driver · reconnecting")


async def test_a_range_starts_at_the_last_state_before_it_and_the_whole_stream_at_the_first(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    enc = StreamEncoder("t")

    def add(ms: int, kind: str, data: str, n: int) -> None:
        client.xadd("r", {"k": kind, "s": "a", "n": str(n), "d": data}, id=f"{ms}-0")

    hello = json.dumps(enc.hello())
    add(1_000_000, "state", f"[{hello}]", 1)
    add(1_001_000, "logs", json.dumps(enc.logs(line(1))), 2)
    add(1_002_000, "state", f"[{hello}]", 3)  # a periodic state: not in the events
    add(1_003_000, "logs", json.dumps(enc.logs(line(2))), 4)
    target = parse_redis_target(f"{redis_url}?stream=r")
    whole = await read_range(target)
    assert [e["kind"] for e in whole] == ["hello", "logs", "logs"]
    late = await read_range(target, start=1_002_500)  # from the second state on
    assert [e["kind"] for e in late] == ["hello", "logs"] and "line 2" in json.dumps(late)


async def test_a_second_cockpit_sharing_on_the_same_stream_does_not_drive(redis_url):
    url = f"{redis_url}?stream=cockpit:two"
    holder = DriverLease(parse_redis_target(url), ttl=5, owner="ann@bastion")
    assert await holder.acquire()
    app = CockpitApp(Profile(name="two", refresh=0.2), sources_factory=FakeEstate().factory, share=url)
    try:
        async with app.run_test(size=(160, 48)):
            await wait_until(lambda: app.runner.read_only, 10)  # ann drives: actions refused here
        assert await holder.holder() == "ann@bastion"
    finally:
        await holder.release()
    app = CockpitApp(Profile(name="two", refresh=0.2), sources_factory=FakeEstate().factory, share=url)
    async with app.run_test(size=(160, 48)):
        await wait_until(lambda: getattr(app, "_lease", None) is not None, 10)
        assert not app.runner.read_only
        assert await holder.holder() == owner_of(app)
    assert await holder.holder() is None  # released on quit


def owner_of(app: CockpitApp) -> str:
    return app._lease.name  # type: ignore[attr-defined]
