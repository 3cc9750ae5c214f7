"""The hub alone: slow sources, failures, backoff, staleness and log batching."""

from __future__ import annotations

import asyncio
import time

from cockpit.errors import BackendError
from cockpit.hub import Hub, LogBatch, SourceUpdate, backoff_delay
from cockpit.model import LogLevel, LogRecord, PaneKind

from .helpers import wait_until


class FakeSource:
    def __init__(self, sid: str, *, delay: float = 0.0, fail: bool = False, hang: bool = False):
        self.id = sid
        self.pane = PaneKind.SERVICES
        self.title = sid
        self.delay = delay
        self.fail = fail
        self.hang = hang
        self.calls = 0

    async def fetch(self):
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay)
        if self.fail:
            raise BackendError("cannot reach lab endpoint", "check the network")
        return [f"{self.id}-record-{self.calls}"]

    async def close(self):
        pass


class FakeLogs:
    id = "logs"
    title = "logs"

    def __init__(self, batches: list[list[LogRecord]], fail_after: int | None = None):
        self.batches = batches
        self.fail_after = fail_after
        self.follows = 0

    async def follow(self):
        self.follows += 1
        for i, b in enumerate(self.batches):
            if self.fail_after is not None and i == self.fail_after and self.follows == 1:
                raise BackendError("log stream dropped", "will resume")
            yield b
        await asyncio.Event().wait()

    async def close(self):
        pass


def _rec(n: int) -> LogRecord:
    from datetime import UTC, datetime

    return LogRecord(datetime.now(UTC), "api", LogLevel.INFO, f"line {n}", id=str(n))


async def _collect(sources, logs=(), **kw):
    updates: list[SourceUpdate] = []
    batches: list[LogBatch] = []
    hub = Hub(sources, logs, on_update=updates.append, on_logs=batches.append, **kw)
    hub.start()
    return hub, updates, batches


async def test_hung_source_does_not_delay_others_and_times_out():
    fast = FakeSource("fast")
    hung = FakeSource("hung", hang=True)
    hub, updates, _ = await _collect([hung, fast], interval=0.05, timeout=0.3)
    try:
        await wait_until(lambda: sum(u.source_id == "fast" for u in updates) >= 3, 2)
        # the fast source refreshed several times while the hung one had not answered once
        assert not [u for u in updates if u.source_id == "hung"]
        await wait_until(lambda: any(u.source_id == "hung" for u in updates), 2)
        hung_update = next(u for u in updates if u.source_id == "hung")
        assert hung_update.error and "no answer within 0.3 s" in hung_update.error
        assert hung_update.records is None
    finally:
        await hub.stop()


async def test_failure_keeps_last_good_rows_and_backs_off():
    src = FakeSource("ecs")
    hub, updates, _ = await _collect([src], interval=0.05, timeout=1)
    try:
        await wait_until(lambda: updates and updates[-1].records is not None, 2)
        good = updates[-1].records
        src.fail = True
        await wait_until(lambda: updates[-1].error is not None, 2)
        failed = updates[-1]
        assert failed.records == good  # last good rows stay
        assert failed.error == "cannot reach lab endpoint"
        assert failed.hint == "check the network"
        assert failed.error_since is not None and failed.next_retry is not None
        calls = src.calls
        start = time.monotonic()
        await wait_until(lambda: src.calls >= calls + 3, 3)
        # three failures back off 0.05, 0.1, 0.2 s: not a tight loop
        assert time.monotonic() - start >= 0.25
        src.fail = False
        await wait_until(lambda: updates[-1].error is None, 3)
    finally:
        await hub.stop()


def test_backoff_is_exponential_and_capped():
    assert backoff_delay(5, 0) == 5
    assert [backoff_delay(5, n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff_delay(5, 10) == 60


def test_stale_after_three_intervals():
    u = SourceUpdate("s", PaneKind.SERVICES, "s", (), fetched_at=100.0, interval=5)
    assert not u.is_stale(now=114.9)
    assert u.is_stale(now=115.1)


async def test_refresh_now_wakes_a_source_early():
    src = FakeSource("ecs")
    hub, updates, _ = await _collect([src], interval=60, timeout=1)
    try:
        await wait_until(lambda: src.calls == 1 and updates, 2)
        hub.refresh_now("ecs")
        await wait_until(lambda: src.calls == 2, 2)
    finally:
        await hub.stop()


async def test_logs_are_batched_and_resume_after_error():
    recs = [[_rec(i)] for i in range(50)]
    logs = FakeLogs(recs, fail_after=20)
    hub, _, batches = await _collect([], [logs], log_flush_interval=0.05)
    try:
        await wait_until(lambda: sum(len(b.records) for b in batches) >= 50 + 20, 10)
        errors = [b for b in batches if b.error]
        assert errors and errors[0].error == "log stream dropped"
        # 70 records arrived in far fewer messages than records: bursts collapse
        assert len([b for b in batches if b.records]) < 20
    finally:
        await hub.stop()


async def test_log_source_added_while_running_is_followed_once_and_removed_cleanly():
    batches: list[LogBatch] = []
    hub = Hub([], [], on_update=lambda u: None, on_logs=batches.append, log_flush_interval=0.05)
    hub.start()
    extra = FakeLogs([[_rec(1), _rec(2)]])
    extra.closed = False

    async def close():
        extra.closed = True

    extra.close = close
    try:
        assert hub.add_log_source(extra)
        assert not hub.add_log_source(extra), "asking twice must not double the lines"
        await wait_until(lambda: sum(len(b.records) for b in batches) == 2, timeout=5)
        assert await hub.remove_log_source("logs")
        assert extra.closed and hub.log_sources == []
        assert not await hub.remove_log_source("logs")
    finally:
        await hub.stop()
    assert extra.follows == 1


class FilterableLogs(FakeLogs):
    def __init__(self):
        super().__init__([])
        self.pattern: str | None = "unset"

    def set_server_filter(self, text: str | None) -> bool:
        self.pattern = text
        return True


async def test_log_filter_reaches_only_sources_that_filter_at_the_server():
    remote, local = FilterableLogs(), FakeLogs([])
    remote.id = "remote"
    hub = Hub([], [remote, local], on_update=lambda u: None, on_logs=lambda b: None)
    assert hub.set_log_filter("ERROR") == ["remote"]
    assert remote.pattern == "ERROR"
    hub.set_log_filter(None)
    assert remote.pattern is None


def test_slow_changing_sources_are_asked_less_often_but_never_beyond_three_refreshes():
    from cockpit.hub import source_interval

    stacks = FakeSource("stacks")
    stacks.min_interval = 30.0
    assert source_interval(stacks, 5.0) == 15.0
    assert source_interval(stacks, 0.5) == 1.5, "a short profile interval shortens it too"
    assert source_interval(stacks, 60.0) == 60.0
    assert source_interval(FakeSource("ecs"), 5.0) == 5.0


async def test_a_log_source_back_after_an_error_says_so_before_its_next_line():
    class Flaky:
        id = "flaky"
        title = "flaky"
        follows = 0

        async def follow(self):
            self.follows += 1
            if self.follows == 1:
                raise BackendError("tail -F ended", "will reconnect")
            yield []  # connected again, nothing new yet
            await asyncio.Event().wait()

        async def close(self):
            pass

    batches: list[LogBatch] = []
    hub = Hub([], [Flaky()], on_update=lambda u: None, on_logs=batches.append)
    hub.start()
    try:
        await wait_until(lambda: len(batches) >= 2, timeout=10)
    finally:
        await hub.stop()
    assert batches[0].error == "tail -F ended"
    assert batches[1].error is None and batches[1].records == (), "the pane can drop its ✖"


async def test_a_line_after_a_quiet_spell_goes_at_once_and_a_burst_behind_it_in_one_batch():
    class Burst:
        id = title = "burst"

        def __init__(self):
            self.go = asyncio.Event()

        async def follow(self):
            yield [_rec(0)]
            await self.go.wait()
            for i in range(1, 50):
                yield [_rec(i)]
            await asyncio.Event().wait()

        async def close(self):
            pass

    logs = Burst()
    # A flush interval far longer than the wait: the first line must not wait for a timer.
    hub, _, batches = await _collect([], [logs], log_flush_interval=30)
    try:
        await wait_until(lambda: batches, 5)
        assert [r.text for r in batches[0].records] == ["line 0"]
    finally:
        await hub.stop()
    hub, _, batches = await _collect([], [Burst()], log_flush_interval=0.3)
    try:
        await wait_until(lambda: batches, 5)
        hub._log_sources[0].go.set()
        await wait_until(lambda: sum(len(b.records) for b in batches) == 50, 5)
        assert len(batches) == 2, "49 lines within one interval: one batch"
    finally:
        await hub.stop()


async def test_a_partial_fetch_is_followed_at_once_by_the_rest():
    class Partial(FakeSource):
        async def fetch(self):
            records = await super().fetch()
            self.partial = self.calls == 1  # the first rows only, then everything
            return records

    src = Partial("ecs")
    hub, updates, _ = await _collect([src], interval=30.0)
    try:
        await wait_until(lambda: len(updates) >= 2, 2)  # not 30 s later
        assert [u.records for u in updates[:2]] == [("ecs-record-1",), ("ecs-record-2",)]
        await asyncio.sleep(0.2)  # then the interval again: no third fetch
        assert src.calls == 2
    finally:
        await hub.stop()


async def test_a_source_not_answered_yet_carries_its_deadline_and_a_timeout_says_so():
    """Panes count the sources that have not answered (hub.snapshot before the first
    update) and say "timeout" past the deadline; the hub's own timeout says it too."""
    hung = FakeSource("hung", hang=True)
    hub, updates, _ = await _collect([hung], interval=0.05, timeout=0.3)
    try:
        before = hub.snapshot("hung")
        assert before.records is None and before.error is None
        assert before.deadline is not None and before.deadline <= time.time() + 0.3
        await wait_until(lambda: updates, 2)
        assert updates[0].error and updates[0].error.startswith("timeout: no answer within 0.3 s")
    finally:
        await hub.stop()


def test_records_cross_the_hub_typed():
    # One record union from a source's fetch to the panes (mypy checks every step of it);
    # the update once carried tuple[Any, ...], which let any object reach a pane.
    import typing

    from cockpit.backends.base import Source
    from cockpit.model import PaneRecord

    assert typing.get_type_hints(SourceUpdate)["records"] == tuple[PaneRecord, ...] | None
    from collections.abc import Sequence

    assert typing.get_type_hints(Source.fetch)["return"] == Sequence[PaneRecord]
