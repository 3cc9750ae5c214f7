"""Recordings and streams that go wrong: a driver killed with -9 while recording, a large
recording read with bounded memory, and malformed frames from a driver or a recording,
rejected and counted, never a crash."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.app import CockpitApp
from cockpit.hub import LogBatch, SourceUpdate
from cockpit.model import LogLevel, LogRecord, PaneKind
from cockpit.profile import Profile
from cockpit.record import Recorder, read_recording
from cockpit.share import parse_target
from cockpit.stream import StreamDecoder, StreamEncoder, StreamError, encode

from .fakes import alarms, queues, services
from .helpers import wait_until

T0 = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys, time
from cockpit.record import Recorder
from cockpit.stream import StreamEncoder
rec = Recorder(sys.argv[1])
enc = StreamEncoder("lab")
rec.publish(enc.hello())
for i in range(16):
    rec.publish({**enc.focus("services", f"row-{i}")})
print("published", flush=True)
time.sleep(60)
"""


def test_a_recording_survives_kill_minus_9(tmp_path: Path) -> None:
    path = tmp_path / "incident.cz"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "published"
        # Within a second or so every published event is in a complete compressed block.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if len(read_recording(path)) == 17:
                    break
            except StreamError:
                pass
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    events = read_recording(path)
    assert len(events) == 17
    assert events[0]["kind"] == "hello" and events[-1]["row"] == "row-15"
    # The next run records on: the torn file is kept whole beside the new one.
    rec = Recorder(path)
    rec.publish(StreamEncoder("lab").hello())
    rec.close()
    assert len(read_recording(path)) == 18


def _big_recording(path: Path, batches: int = 2500, per_batch: int = 20) -> int:
    rec = Recorder(path, max_bytes=1 << 30)
    enc = StreamEncoder("lab", clock=lambda: 1000.0)
    rec.publish(enc.hello())
    n = 0
    for b in range(batches):
        enc.clock = lambda b=b: 1000.0 + b
        records = tuple(
            LogRecord(T0 + timedelta(seconds=b, milliseconds=i), f"api-{i % 7}", LogLevel.INFO,
                      f"GET /v1/orders/{b * per_batch + i} 200 in {i * 3} ms user={b % 97} trace={b:08x}{i:04x}")
            for i in range(per_batch)
        )
        rec.publish(enc.logs(LogBatch("logs", "logs", records)))
        n += 1
    rec.close()
    return n + 1


def test_a_large_recording_is_read_and_replayed_with_bounded_memory(tmp_path: Path) -> None:
    from cockpit.record import iter_recording
    from cockpit.replay import Player

    path = tmp_path / "big.cz"
    count = _big_recording(path)
    raw = path.stat().st_size
    tracemalloc.start()
    try:
        assert sum(1 for _ in iter_recording(path)) == count
        _, peak_read = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        player = Player.open(path)
        state = player.state_at(player.start + (player.end - player.start) / 2)
        _, peak_replay = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(b.records) for b in state.logs) >= 1000  # the log tail on seek
    assert peak_read < 8 << 20, f"reading a {raw >> 10} KiB recording peaked at {peak_read >> 20} MiB"
    assert peak_replay < 16 << 20, f"replaying a {raw >> 10} KiB recording peaked at {peak_replay >> 20} MiB"


# --- malformed frames -----------------------------------------------------------------------


def _good_snapshot() -> dict[str, Any]:
    enc = StreamEncoder("lab")
    return enc.snapshot(SourceUpdate("fake:ecs", PaneKind.SERVICES, "fake:ecs", tuple(services()), 100.0, 5.0))


def test_a_frame_with_an_int_for_a_severity_is_rejected_not_shown() -> None:
    bad = _good_snapshot()
    bad["upsert"][0]["status"] = 3  # 'int' object has no attribute 'symbol', in the pane
    dec = StreamDecoder()
    assert dec.feed(bad) is None
    assert dec.rejected == 1 and "status" in dec.last_rejection
    out = dec.feed(_good_snapshot())
    assert isinstance(out, SourceUpdate) and len(out.records) == 2


def _mutations(event: Any) -> st.SearchStrategy[Any]:
    """``event`` with one value anywhere in it replaced by arbitrary JSON."""
    leaves = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    )
    paths: list[tuple] = []

    def walk(value: Any, path: tuple) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))

    walk(event, ())

    def replace(path: tuple, new: Any) -> Any:
        copy = json.loads(json.dumps(event))
        if not path:
            return new
        target = copy
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = new
        return copy

    return st.builds(replace, st.sampled_from(paths), leaves)


FRAMES = [
    _good_snapshot(),
    StreamEncoder("lab").snapshot(SourceUpdate("fake:alarms", PaneKind.ALARMS, "a", tuple(alarms()), 1.0, 5.0)),
    StreamEncoder("lab").snapshot(SourceUpdate("fake:sqs", PaneKind.QUEUES, "q", tuple(queues()), 1.0, 5.0)),
    StreamEncoder("lab").logs(LogBatch("logs", "logs", (LogRecord(T0, "api", LogLevel.ERROR, "boom", id="7"),))),
    StreamEncoder("lab").focus("services", "api"),
    StreamEncoder("lab").action({"action": "service.restart", "target": "api", "outcome": "ok"}),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FRAMES).flatmap(_mutations))
def test_the_decoder_never_crashes_on_a_malformed_frame(frame: Any) -> None:
    dec = StreamDecoder()
    out = dec.feed(frame)
    if out is None:
        assert dec.rejected == 1 and dec.last_rejection
        return
    assert dec.rejected == 0
    if isinstance(out, SourceUpdate):
        for rec in out.records or ():
            assert encode(rec)["_t"] in ("ServiceStatus", "Alarm", "QueueStatus")
            assert hasattr(rec.status if hasattr(rec, "status") else rec.severity, "symbol")


async def test_the_watcher_counts_malformed_frames_and_keeps_watching(tmp_path: Path) -> None:
    from screens.replay import attach_feed

    bad = _good_snapshot()
    bad["upsert"][0]["status"] = 3
    frames = [StreamEncoder("lab").hello(), bad, {"v": 1, "kind": "snapshot"}, {"v": 1, "t": "x", "kind": "focus"},
              _good_snapshot()]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for f in frames:
            writer.write((json.dumps(f) + "\n").encode())
        writer.write(b"this is not json\n")
        await writer.drain()
        await reader.read()  # hold the connection open until the watcher goes

    sock = str(tmp_path / "drv.sock")
    server = await asyncio.start_unix_server(serve, sock)
    app = CockpitApp(Profile(name="watcher", read_only=True), read_only=True, feed=attach_feed(parse_target(sock)))
    notices: list[str] = []
    try:
        async with app.run_test(size=(160, 48)):
            real = app.notify
            app.notify = lambda message, **kw: (notices.append(str(message)), real(message, **kw))[1]
            pane = app.cockpit.panes[PaneKind.SERVICES]
            await wait_until(lambda: pane.row_count() == 2, 10)
            await wait_until(lambda: app.rejected_frames >= 3, 10)
            await wait_until(lambda: any("malformed" in n for n in notices), 10)
            assert pane.row_count() == 2
    finally:
        server.close()


def test_a_recording_in_the_old_layout_still_reads(tmp_path: Path) -> None:
    """Older recorders flushed every event and appended a gzip member per run to one file."""
    import gzip

    path = tmp_path / "old.cz"
    enc = StreamEncoder("lab")
    for run in range(2):
        with open(path, "ab") as raw, gzip.GzipFile(fileobj=raw, mode="ab") as gz:
            gz.write((json.dumps(enc.hello()) + "\n").encode())
            for i in range(3):
                gz.write((json.dumps(enc.focus("services", f"{run}-{i}")) + "\n").encode())
                gz.flush()
    assert [e.get("row") for e in read_recording(path)] == [None, "0-0", "0-1", "0-2", None, "1-0", "1-1", "1-2"]


async def test_a_replay_skips_malformed_frames_and_says_how_many(tmp_path: Path) -> None:
    import gzip

    from cockpit.replay import Player
    from screens.replay import ReplayScreen, replay_feed

    bad = _good_snapshot()
    bad["upsert"][0]["status"] = 3
    good = _good_snapshot()
    hello = StreamEncoder("lab").hello()
    bad["t"] = good["t"] = hello["t"]
    path = tmp_path / "bad.cz"
    with gzip.open(path, "wb") as gz:
        for line in (json.dumps(hello), json.dumps(bad), "{not json", json.dumps(good)):
            gz.write((line + "\n").encode())
    player = Player.open(path)
    app = CockpitApp(Profile(name="lab", read_only=True), read_only=True, feed=replay_feed(player),
                     screen_factory=lambda banner: ReplayScreen(banner, player))
    async with app.run_test(size=(160, 48)):
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 2, 10)
        await wait_until(lambda: "2 malformed frames skipped" in str(app.cockpit.timebar.render()), 5)


def _small_recording_bytes() -> bytes:
    import gzip
    import io

    enc = StreamEncoder("lab")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
        for frame in (enc.hello(), *FRAMES):
            gz.write((json.dumps(frame) + "\n").encode())
            gz.flush()
    return buf.getvalue()


SMALL = _small_recording_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(SMALL)), flip=st.one_of(st.none(), st.tuples(st.integers(0, len(SMALL) - 1),
                                                                        st.integers(1, 255))))
def test_a_damaged_recording_reads_as_far_as_it_can(tmp_path: Path, cut: int, flip: Any) -> None:
    """Cut anywhere (a kill) or with a byte flipped (a bad disk): events or a StreamError."""
    data = bytearray(SMALL[:cut])
    if flip is not None and flip[0] < len(data):
        data[flip[0]] ^= flip[1]
    path = tmp_path / f"damaged-{cut}-{flip}.cz"
    path.write_bytes(bytes(data))
    try:
        events = read_recording(path)
    except StreamError:
        return
    assert all(isinstance(e, dict) for e in events)
    if flip is None:  # a cut only loses the tail, and keeps every line before the last flush
        kinds = ["hello", *(f["kind"] for f in FRAMES)]
        assert [e["kind"] for e in events] == kinds[: len(events)]
        assert len(events) == len(kinds) or cut < len(SMALL)


def test_text_in_a_frame_is_made_safe_again() -> None:
    frame = _good_snapshot()
    frame["upsert"][0]["status_text"] = "healthy\x1b[2J\x1b]0;owned\x07"
    out = StreamDecoder().feed(frame)
    assert isinstance(out, SourceUpdate)
    assert all("\x1b" not in r.status_text and "\x07" not in r.status_text for r in out.records)


async def test_mutated_frames_never_crash_a_watchers_panes() -> None:
    """What the decoder lets through, the panes must show: 1000 frames, each with one value
    replaced, fed to a watcher's screen between good frames."""
    import random

    rng = random.Random(4)
    junk = [None, True, -1, 0, 2**70, 1.5, float("inf"), "", "x" * 3000, "[/x]", "\x1b[2J", [], [1, "a"], {},
            {"_t": "Alarm"}, {"_e": "Severity", "v": 99}, {"_d": "2026-01-01T00:00:00"}, {"_d": 5}]

    def mutate(event: Any) -> Any:
        copy = json.loads(json.dumps(event))
        node, path = copy, []
        while isinstance(node, dict | list) and node and rng.random() < 0.8:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            path.append((node, key))
            node = node[key]
        if not path:
            return rng.choice(junk)
        parent, key = path[-1]
        parent[key] = rng.choice(junk)
        return copy

    frames = [mutate(rng.choice(FRAMES)) for _ in range(1000)]
    done: list[int] = []

    async def feed(app: CockpitApp) -> None:
        decoder = StreamDecoder()
        for f in [*FRAMES, *frames, *FRAMES]:
            out = decoder.feed(f)
            if out is not None:
                app.apply_stream_output(out)
        done.append(decoder.rejected)

    app = CockpitApp(Profile(name="watcher", read_only=True), read_only=True, feed=feed)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: done, 10)
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() >= 2, 10)  # mutated source ids add rows
        await pilot.pause()
        assert app.is_running
    assert done[0] > 0
