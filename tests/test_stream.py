"""One driver, many watchers: the stream's format, recording, replay and live sharing."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from cockpit.app import CockpitApp
from cockpit.hub import LogBatch, SourceUpdate
from cockpit.model import LogLevel, LogRecord, PaneKind
from cockpit.profile import Profile
from cockpit.record import Recorder, read_recording
from cockpit.replay import Player
from cockpit.share import ShareServer, Target, parse_target, watch
from cockpit.stream import VERSION, StreamDecoder, StreamEncoder, StreamError, decode, encode

from .fakes import FakeEstate, alarms, databases, queues, services
from .helpers import wait_until

T0 = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)


def update(records, source="fake:ecs", pane=PaneKind.SERVICES, fetched_at=100.0, **kw):
    return SourceUpdate(source, pane, source, tuple(records), fetched_at, 5.0, **kw)


def test_every_record_type_round_trips():
    for rec in [*services(), *alarms(), *queues(), *databases(),
                LogRecord(T0, "api", LogLevel.ERROR, "boom", id="7")]:
        assert decode(encode(rec)) == rec


def test_snapshots_are_diffs_and_an_unchanged_refresh_costs_nothing():
    enc, dec = StreamEncoder("lab"), StreamDecoder()
    first = enc.snapshot(update(services()))
    assert len(first["upsert"]) == 2 and first["remove"] == []
    assert enc.snapshot(update(services(), fetched_at=104.0)) is None  # nothing a watcher sees changed
    alive = enc.snapshot(update(services(), fetched_at=105.0))  # an interval on: alive, no records
    assert alive["upsert"] == [] and alive["remove"] == []
    changed = services()
    changed[1] = type(changed[1])(**{**changed[1].__dict__, "running": 3})
    diff = enc.snapshot(update(changed, fetched_at=110.0))
    assert [u["name"] for u in diff["upsert"]] == ["worker"]
    gone = enc.snapshot(update(changed[:1], fetched_at=115.0))
    assert gone["upsert"] == [] and gone["remove"] == ["fake:ecs/production/worker"]
    for event in (enc.hello(), first, diff, gone):
        out = dec.apply(event)
    assert [s.name for s in out.records] == ["api"]


def test_an_unknown_format_version_is_refused_clearly():
    with pytest.raises(StreamError, match="version 99 is not supported"):
        StreamDecoder().apply({"v": 99, "kind": "hello"})
    with pytest.raises(StreamError, match="unknown record type"):
        decode({"_t": "os.system"})


def test_recording_is_compressed_rotated_masked_and_survives_a_torn_tail(tmp_path):
    path = tmp_path / "incident.cz"
    rec = Recorder(path, max_bytes=2000)
    enc = StreamEncoder("lab")
    rec.header = [enc.hello()]
    rec.publish(enc.hello())
    for i in range(200):
        batch = LogBatch("logs", "logs", (LogRecord(T0 + timedelta(seconds=i), "api", LogLevel.INFO,
                                                     f"GET /x?token=sekrit{i} {'x' * 50}"),))
        rec.publish(enc.logs(batch))
    rec.close()
    assert (tmp_path / "incident.cz.1").exists(), "no rotation happened"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    events = read_recording(path)
    logs = [e for e in events if e["kind"] == "logs"]
    assert len(logs) == 200 and "sekrit" not in str(events)
    # a torn last write (the cockpit was killed) loses only that line
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    assert len([e for e in read_recording(path) if e["kind"] == "logs"]) >= 190
    with pytest.raises(StreamError, match="not a cockpit recording"):
        (tmp_path / "junk").write_bytes(b"not gzip")
        read_recording(tmp_path / "junk")


async def test_replay_shows_what_the_driver_showed(tmp_path):
    estate = FakeEstate()
    path = tmp_path / "run.cz"
    app = CockpitApp(Profile(name="lab", refresh=0.1), sources_factory=estate.factory, record=str(path))
    seen: list[tuple[float, dict]] = []
    async with app.run_test(size=(160, 48)) as pilot:
        panes = app.cockpit.panes
        await wait_until(lambda: panes[PaneKind.SERVICES].row_count() == 2, 5)
        estate.logs.push("GET /v1/orders 200")
        await wait_until(lambda: app.cockpit.logs.view.total == 1, 5)
        seen.append((app.encoder.clock(), {k: v.row_count() for k, v in panes.items() if k != PaneKind.LOGS}))
        estate.alarms.records.clear()  # the alarm clears
        await wait_until(lambda: panes[PaneKind.ALARMS].row_count() == 0, 5)
        estate.services.fail = "cannot reach ECS"
        await wait_until(lambda: panes[PaneKind.SERVICES].updates["fake:ecs"].error, 5)
        await pilot.press("q")  # quits through the app's own loop, closing the recording
    player = Player(read_recording(path))
    state = player.state_at(seen[0][0])
    assert {u.pane: len(u.records or ()) for u in state.updates.values()} == {
        PaneKind.SERVICES: 2, PaneKind.ALARMS: 1, PaneKind.QUEUES: 1, PaneKind.DATABASE: 1}
    assert [r.text for b in state.logs for r in b.records] == ["GET /v1/orders 200"]
    end = player.state_at(player.end)
    assert end.updates["fake:alarms"].records == ()
    assert end.updates["fake:ecs"].error == "cannot reach ECS"
    assert end.updates["fake:ecs"].records and len(end.updates["fake:ecs"].records) == 2
    assert player.next_mark() is None or player.next_mark() > player.start


async def test_replay_screen_plays_and_seeks(tmp_path):
    from screens.replay import ReplayScreen, replay_feed

    enc = StreamEncoder("lab", clock=lambda: 1000.0)
    events = [enc.hello()]
    for i, recs in enumerate([services(), services()[:1]]):
        enc.clock = lambda i=i: 1000.0 + 30 * (i + 1)
        events.append(enc.snapshot(update(recs, fetched_at=1000.0 + 30 * (i + 1))))
    player = Player(events)
    app = CockpitApp(Profile(name="lab", read_only=True), read_only=True, feed=replay_feed(player),
                     screen_factory=lambda banner: ReplayScreen(banner, player))
    async with app.run_test(size=(160, 48)) as pilot:
        services_pane = app.cockpit.panes[PaneKind.SERVICES]
        await pilot.press("3")  # 60x: 30 s of recording in half a second
        await wait_until(lambda: services_pane.row_count() == 2, 5)
        await wait_until(lambda: services_pane.row_count() == 1, 5)
        await pilot.press("space")
        assert not player.playing
        await pilot.press("left", "left", "left")  # back 30 s: both services again
        assert services_pane.row_count() == 2
        assert "‖ 60x" in str(app.cockpit.timebar.render())


async def test_share_fans_out_and_drops_a_slow_watcher_without_waiting(tmp_path):
    enc = StreamEncoder("lab")
    enc.snapshot(update(services()))
    server = ShareServer(Target("unix", tmp_path / "s.sock"), enc.full_state)
    await server.start()
    assert stat.S_IMODE(os.stat(tmp_path / "s.sock").st_mode) == 0o600
    got: dict[int, list] = {0: [], 1: []}

    async def watcher(n):
        async for event in watch(Target("unix", tmp_path / "s.sock")):
            got[n].append(event)

    tasks = [asyncio.create_task(watcher(n)) for n in (0, 1)]
    slow_r, slow_w = await asyncio.open_unix_connection(str(tmp_path / "s.sock"))  # never reads
    await wait_until(lambda: len(server.watchers) == 3, 5)
    assert all(e["kind"] == "hello" for e in (got[0][0], got[1][0]))  # late joiners: full state first
    big = "x" * 20000
    loop = asyncio.get_running_loop()
    publishing = 0.0
    for chunk in range(30):
        start = loop.time()
        for i in range(chunk * 100, chunk * 100 + 100):
            server.publish({"v": VERSION, "kind": "logs", "source": "s", "title": "s", "records": [],
                            "n": i, "pad": big})
        publishing += loop.time() - start
        await asyncio.sleep(0.02)  # a producer's pace (the hub batches 4 times a second), not a wait
    assert publishing < 2  # publishing never waits for a watcher
    await wait_until(lambda: server.dropped >= 1, 10)
    await wait_until(lambda: sum(e.get("n") == 2999 for e in got[0]) == 1, 20)
    await wait_until(lambda: sum(e.get("n") == 2999 for e in got[1]) == 1, 20)
    slow_w.close()
    for t in tasks:
        t.cancel()
    await server.stop()


async def test_tcp_share_requires_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # where the driver keeps its token file
    enc = StreamEncoder("lab")
    server = ShareServer(parse_target("tcp://127.0.0.1:0"), enc.full_state)
    address = await server.start()
    assert "token" not in address
    good = Target("tcp", port=server.target.port, token=server.target.token)
    bad = Target("tcp", port=server.target.port, token="wrong")
    first_good = await anext(watch(good))
    first_bad = await anext(watch(bad))
    assert first_good["kind"] == "hello"
    assert first_bad["kind"] == "refused"
    with pytest.raises(Exception, match="loopback only"):
        parse_target("tcp://10.0.0.1:7000")
    await server.stop()


async def test_two_watchers_see_the_driver_and_cost_the_estate_nothing(tmp_path):
    from screens.replay import attach_feed

    estate = FakeEstate()
    sock = str(tmp_path / "drv.sock")
    driver = CockpitApp(Profile(name="lab", refresh=0.2), sources_factory=estate.factory, share=sock)
    watchers = [CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                           feed=attach_feed(parse_target(sock))) for _ in range(2)]
    async with driver.run_test(size=(160, 48)):
        await wait_until(lambda: driver.share_server is not None, 5)
        async with watchers[0].run_test(size=(160, 48)) as w0, watchers[1].run_test(size=(160, 48)) as w1:
            for w in watchers:
                pane = w.cockpit.panes[PaneKind.SERVICES]
                await wait_until(lambda pane=pane: pane.row_count() == 2, 10)
                assert w.hub is None  # no backend exists in a watcher
            estate.logs.push("hello watchers")
            for w in watchers:
                await wait_until(lambda w=w: w.cockpit.logs.view.total == 1, 10)
            # the estate served one driver: calls are those of its own refresh cadence
            calls = estate.services.calls
            await wait_until(lambda: estate.services.calls >= calls + 3, 5)
            assert len(driver.share_server.watchers) == 2
            # a watcher cannot act: no action is offered on its rows, and keys do nothing
            pane = watchers[0].cockpit.panes[PaneKind.SERVICES]
            pane.focus_body()
            await w0.press("r")
            assert watchers[0].screen is watchers[0].cockpit
            assert not [e for e in watchers[0].runner.audit.read() if e.get("action")]
            del w1


def test_serve_answers_on_loopback_and_leaves_no_process(tmp_path):
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    from cockpit.lab.servers import free_port

    port = free_port()
    import os

    proc = subprocess.Popen([sys.executable, "-m", "cockpit.cli", "serve", f"unix:{tmp_path}/none.sock",
                             "--port", str(port)], start_new_session=True,
                            env={**os.environ, "COCKPIT_SERVE_TOKEN": "t0ken"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"serve did not listen: {proc.stderr.read().decode()[-500:]}") from None
                time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 403  # no token
        assert httpx.get(f"http://127.0.0.1:{port}/?token=wrong", timeout=5).status_code == 403
        page = httpx.get(f"http://127.0.0.1:{port}/?token=t0ken", timeout=5)
        assert page.status_code == 200 and "ops cockpit" in page.text
        assert "cockpit_token" in page.cookies  # carries the token to the websocket
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    # the server's own process group is gone with it
    for pattern in (f"--port {port}", f"port={port}"):
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        assert out.stdout.strip() == "", f"left running: {pattern}"


async def test_record_true_in_a_profile_records_to_the_state_dir(_private_state):
    estate = FakeEstate()
    app = CockpitApp(Profile(name="ops", refresh=0.1, record=True), sources_factory=estate.factory)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(lambda: app.cockpit.panes[PaneKind.SERVICES].row_count() == 2, 5)
        await pilot.press("q")
    (path,) = (_private_state / "cockpit" / "recordings").glob("ops-*.cz")
    events = read_recording(path)
    assert events[0]["kind"] == "hello" and any(e["kind"] == "snapshot" for e in events)


def test_a_watcher_does_not_see_a_quiet_source_as_stale():
    # Issue 25 (seen in the Redis bench): unchanged refreshes were never sent, so a watcher's
    # copy of a quiet source kept its first fetched_at and its rows turned "▲ stale" after
    # three intervals while the driver's were live. An unchanged refresh is sent, records
    # left out, once the watcher's copy is an interval old.
    enc, dec = StreamEncoder("lab"), StreamDecoder()
    dec.apply(enc.snapshot(update(services(), fetched_at=100.0)))
    for t in (105.0, 110.0, 115.0):
        event = enc.snapshot(update(services(), fetched_at=t))
        if event is not None:
            assert event["upsert"] == [] and event["remove"] == []
            last = dec.apply(event)
    assert not last.is_stale(116.0) and len(last.records) == 2
    assert enc.snapshot(update(services(), fetched_at=116.0)) is None  # not an early refresh


def test_a_snapshot_carries_only_its_panes_record_type():
    dec = StreamDecoder()
    with pytest.raises(StreamError, match="cannot be shown in the queues pane"):
        dec.apply(StreamEncoder("lab").snapshot(update(services(), pane=PaneKind.QUEUES)))
    # Log lines come as logs frames: a snapshot of the logs pane says a state, no records.
    logs = {"v": VERSION, "kind": "snapshot", "source": "x", "pane": "logs", "title": "x", "fetched": True,
            "fetched_at": 1.0, "interval": 5, "upsert": [encode(LogRecord(T0, "api", LogLevel.INFO, "hi"))]}
    with pytest.raises(StreamError, match="cannot be shown in the logs pane"):
        dec.apply(logs)
    assert dec.apply({**logs, "upsert": []}).records == ()
