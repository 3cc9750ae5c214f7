"""The refresh loop: one schedule per source, timeouts, backoff, staleness.

Headless (no Textual): the app gives the hub two callbacks and turns what they receive into
Textual messages. Each source has its own task, so a slow or hung backend delays only
itself; a refresh is re-armed only after the previous one ended (one in flight at most).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from cockpit.backends.base import LogSource, ServerFilterable, Source
from cockpit.errors import CockpitError
from cockpit.model import LogRecord, PaneKind, PaneRecord
from cockpit.text import EstateText

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF = 60.0
STALE_AFTER_INTERVALS = 3
TIMEOUT_WORD = "timeout"  # how a source past its timeout is said, on its pane and in explain


@dataclass(frozen=True)
class SourceUpdate(EstateText):
    """The state of one source after a refresh attempt (what its pane needs to show)."""

    _free_text = ("error", "hint")  # an error's text can quote the estate
    _trusted = ("records",)  # records, each clean in its own right

    source_id: str
    pane: PaneKind
    title: str
    records: tuple[PaneRecord, ...] | None  # last good records (kept after a failure); None: never fetched
    fetched_at: float | None  # wall-clock time of the last good fetch
    interval: float
    error: str | None = None  # what failed
    hint: str = ""  # what to do
    error_since: float | None = None
    next_retry: float | None = None  # wall-clock time of the next attempt after a failure
    # Wall-clock time by which a source that has not answered yet is overdue (its first
    # fetch's timeout): a pane says "timeout" past it, even if the fetch never ends.
    deadline: float | None = None

    def is_stale(self, now: float | None = None) -> bool:
        if self.fetched_at is None:
            return False
        now = time.time() if now is None else now
        return now - self.fetched_at > STALE_AFTER_INTERVALS * self.interval


@dataclass(frozen=True)
class LogBatch(EstateText):
    """New log records from one source, oldest first; or an error of its follower."""

    _free_text = ("error", "hint")
    _trusted = ("records",)

    source_id: str
    title: str
    records: tuple[LogRecord, ...] = ()
    error: str | None = None
    hint: str = ""
    next_retry: float | None = None


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(what failed, what to do) for any exception a backend let through."""
    if isinstance(exc, CockpitError):
        return exc.message, exc.hint
    if isinstance(exc, TimeoutError):
        return "timed out", "the backend did not answer; will retry"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__, ""


def backoff_delay(interval: float, failures: int) -> float:
    """Exponential backoff after ``failures`` consecutive failures, capped at 60 s."""
    if failures <= 0:
        return interval
    return min(interval * (2 ** (failures - 1)), MAX_BACKOFF)


def source_interval(source: Source, interval: float) -> float:
    """How often to fetch a source: the profile's interval, or longer for a source whose data
    changes slowly (a stack's status, an RDS instance, Prometheus' 15 s scrapes), which says
    so with ``min_interval``; never more than three refreshes apart, so a short profile
    interval (tests, a war room at 1 s) still shortens them all."""
    return max(interval, min(getattr(source, "min_interval", 0.0), 3 * interval))


@dataclass
class _SourceState:
    source: Source
    interval: float
    timeout: float
    records: tuple[PaneRecord, ...] | None = None
    fetched_at: float | None = None
    failures: int = 0
    error: tuple[str, str] | None = None
    error_since: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: bool = False
    deadline: float | None = None  # when the fetch in flight is overdue


class Throttle(Generic[T]):
    """Hands items over in batches, at most once per ``interval``.

    The first items after a quiet spell go at once; more within the interval wait for one
    timer and go together. No timer runs while nothing comes (a periodic flush woke the loop
    a dozen times a second in an idle lab for nothing). Used for a follower's log lines here
    and for source updates on their way to the screen (cockpit/app.py).
    """

    def __init__(self, emit: Callable[[list[T]], None], interval: float) -> None:
        self.interval = interval
        self._emit = emit
        self._pending: list[T] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last = float("-inf")  # loop time of the last hand-over

    def add(self, items: Iterable[T]) -> None:
        self._pending.extend(items)
        if self._timer is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        wait = self._last + self.interval - loop.time()
        if wait <= 0:
            self.flush()
        else:
            self._timer = loop.call_later(wait, self.flush)

    @property
    def pending(self) -> list[T]:
        """What waits for the next hand-over (do not change it)."""
        return self._pending

    def flush(self) -> None:
        """Hand over what waits now. Even with nothing waiting this counts as a hand-over:
        the app flushes when log lines are painted, and an update that comes just after
        should wait for the next frame, not make one of its own."""
        self.cancel()
        self._last = asyncio.get_running_loop().time()
        if self._pending:
            items, self._pending = self._pending, []
            self._emit(items)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Hub:
    """Runs every source on its own schedule and reports each result through callbacks."""

    def __init__(
        self,
        sources: Sequence[Source],
        log_sources: Sequence[LogSource] = (),
        *,
        on_update: Callable[[SourceUpdate], None],
        on_logs: Callable[[LogBatch], None],
        interval: float = 5.0,
        timeout: float = 10.0,
        log_flush_interval: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = interval
        self._timeout = timeout
        self._started = False
        self._states = {s.id: _SourceState(s, source_interval(s, interval), timeout) for s in sources}
        self._log_sources = list(log_sources)
        self._on_update = on_update
        self._on_logs = on_logs
        self._log_flush_interval = log_flush_interval
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._log_tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def sources(self) -> list[Source]:
        return [st.source for st in self._states.values()]

    @property
    def log_sources(self) -> list[LogSource]:
        return list(self._log_sources)

    def source(self, source_id: str) -> Source | LogSource | None:
        st = self._states.get(source_id)
        if st is not None:
            return st.source
        return next((s for s in self._log_sources if s.id == source_id), None)

    def start(self) -> None:
        self._started = True
        for st in self._states.values():
            st.deadline = self._clock() + st.timeout
            self._tasks.append(asyncio.create_task(self._run(st), name=f"hub:{st.source.id}"))
        for ls in self._log_sources:
            task = asyncio.create_task(self._follow(ls), name=f"hub-log:{ls.id}")
            self._tasks.append(task)
            self._log_tasks[ls.id] = task

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            # Bounded: quitting must never wait on a task that ignores its cancellation.
            _, pending = await asyncio.wait(self._tasks, timeout=5)
            for t in pending:
                log.warning("hub task %s did not stop within 5 s", t.get_name())
        self._tasks.clear()
        closing: list[Source | LogSource] = [*self.sources, *self._log_sources]
        for src in closing:
            try:
                await asyncio.wait_for(src.close(), 2)
            except Exception as e:  # closing is best effort at exit, but say so
                log.warning("closing %s failed: %s", src.id, e)

    def add_source(self, source: Source) -> bool:
        """Run one more source (the lab's AWS side once it answers); False if its id runs."""
        if source.id in self._states:
            return False
        st = _SourceState(source, source_interval(source, self._interval), self._timeout)
        self._states[source.id] = st
        if self._started:
            st.deadline = self._clock() + st.timeout
            self._tasks.append(asyncio.create_task(self._run(st), name=f"hub:{source.id}"))
        return True

    def add_log_source(self, ls: LogSource) -> bool:
        """Follow one more log source while running (e.g. one workload's pods on demand).

        Returns False when a source with that id is already followed, so asking twice
        never doubles the lines.
        """
        if any(s.id == ls.id for s in self._log_sources):
            return False
        self._log_sources.append(ls)
        if self._started:
            task = asyncio.create_task(self._follow(ls), name=f"hub-log:{ls.id}")
            self._tasks.append(task)
            self._log_tasks[ls.id] = task
        return True

    async def remove_log_source(self, source_id: str) -> bool:
        """Stop following a source added with add_log_source (or any log source) and close it."""
        ls = next((s for s in self._log_sources if s.id == source_id), None)
        if ls is None:
            return False
        self._log_sources.remove(ls)
        task = self._log_tasks.pop(source_id, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task], timeout=5)
            if task in self._tasks:
                self._tasks.remove(task)
        try:
            await asyncio.wait_for(ls.close(), 2)
        except Exception as e:  # best effort, but say so
            log.warning("closing %s failed: %s", ls.id, e)
        return True

    def set_log_filter(self, text: str | None) -> list[str]:
        """Pass the user's `/` filter to log sources that can filter at the server.

        Returns the ids of the sources that took it; the others are filtered locally by the
        log pane as before. None clears it.
        """
        return [ls.id for ls in self._log_sources if isinstance(ls, ServerFilterable) and ls.set_server_filter(text)]

    def refresh_now(self, source_id: str | None = None) -> None:
        """Ask for an early refresh (after an action); the one in flight is not duplicated."""
        for sid, st in self._states.items():
            if source_id is None or sid == source_id:
                st.wake.set()

    def snapshot(self, source_id: str) -> SourceUpdate:
        return self._update(self._states[source_id], next_retry=None)

    def _update(self, st: _SourceState, next_retry: float | None) -> SourceUpdate:
        err = st.error
        return SourceUpdate(
            source_id=st.source.id,
            pane=st.source.pane,
            title=st.source.title,
            records=st.records,
            fetched_at=st.fetched_at,
            interval=st.interval,
            error=err[0] if err else None,
            hint=err[1] if err else "",
            error_since=st.error_since if err else None,
            next_retry=next_retry if err else None,
            deadline=st.deadline if st.in_flight or st.records is None else None,
        )

    async def _run(self, st: _SourceState) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
        # lands as the wait ends, and the task then outlives stop().
        while True:
            st.wake.clear()
            st.in_flight = True
            st.deadline = self._clock() + st.timeout
            try:
                async with asyncio.timeout(st.timeout):
                    records = await st.source.fetch()
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                self._failed(st, (f"{TIMEOUT_WORD}: no answer within {st.timeout:g} s", "the backend hangs or is slow; retrying"))
            except Exception as e:  # a backend never raises into the UI
                self._failed(st, describe_error(e))
            else:
                st.records = tuple(records)
                st.fetched_at = self._clock()
                st.failures = 0
                st.error = None
                st.error_since = None
            finally:
                st.in_flight = False
            delay = backoff_delay(st.interval, st.failures)
            if not st.failures and getattr(st.source, "partial", False):
                delay = 0.0  # the source read part of its data (a large cluster's first rows)
            next_retry = self._clock() + delay
            self._on_update(self._update(st, next_retry))
            # The next refresh is the wake-up event set by a timer, not a timeout around the
            # wait: a timeout ends the wait by cancelling the task (an exception thrown through
            # the wait, ~130 a minute in the lab) for what is the usual case here.
            timer = asyncio.get_running_loop().call_later(delay, st.wake.set)
            try:
                await st.wake.wait()
            finally:
                timer.cancel()

    def _failed(self, st: _SourceState, err: tuple[str, str]) -> None:
        st.failures += 1
        if st.error is None:
            st.error_since = self._clock()
        st.error = err
        log.info("source %s failed: %s", st.source.id, err[0])

    async def _follow(self, ls: LogSource) -> None:
        """Follow a log source; batch records so a flood becomes a few messages per second."""
        failures = 0
        while True:
            batcher: Throttle[LogRecord] = Throttle(
                lambda records: self._on_logs(LogBatch(ls.id, ls.title, records=tuple(records))),
                self._log_flush_interval,
            )
            try:
                async for batch in ls.follow():
                    if failures:
                        # Back after an error: the pane drops its ✖ now, not at the next line.
                        self._on_logs(LogBatch(ls.id, ls.title))
                    failures = 0
                    batcher.add(batch)
            except asyncio.CancelledError:
                batcher.cancel()
                raise
            except Exception as e:
                failures += 1
                message, hint = describe_error(e)
                delay = backoff_delay(2.0, failures)
                batcher.flush()
                self._on_logs(
                    LogBatch(ls.id, ls.title, error=message, hint=hint, next_retry=self._clock() + delay)
                )
                await asyncio.sleep(delay)
                continue
            # A follower that ends on its own is finished (e.g. a replayed file).
            batcher.flush()
            return
