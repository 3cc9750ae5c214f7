"""Replaying a recording: a player over the event list, with speed, pause and seek.

Read-only by construction: a replay builds no backend, so there is nothing an action could
reach. The player decodes events into the same ``SourceUpdate`` / ``LogBatch`` objects the
hub produces, so the panes cannot tell a replay from the live estate.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.hub import LogBatch, SourceUpdate
from cockpit.stream import VERSION, StreamDecoder

SPEEDS = (1.0, 10.0, 60.0)
LOG_TAIL_ON_SEEK = 1000

Emit = Callable[[Any], None]  # receives SourceUpdate | LogBatch | event dicts (action, focus)
Frame = tuple[float, dict[str, Any]]


@dataclass(frozen=True)
class State:
    """Everything the panes show at one instant: last update per source and the log tail."""

    updates: dict[str, SourceUpdate]
    logs: list[LogBatch]


def _time(event: Any) -> float | None:
    t = event.get("t") if isinstance(event, dict) else None
    if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t):
        return float(t)
    return None


class Player:
    """Plays events from a list, or from a source read again on each seek (``Player.open``):
    then only the panes' state and a bounded log tail are held, never the recording."""

    def __init__(self, events: Sequence[dict[str, Any]] | Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._source: Callable[[], Iterable[dict[str, Any]]] = (
            events if callable(events) else (lambda: iter(events))
        )
        self.read_stats: Any = None  # set by Player.open: what reading the file skipped
        self._bad_frames = 0
        first: dict[str, Any] | None = None
        end: float | None = None
        self._marks: list[float] = []
        prev_alarm_keys: dict[str, set[str]] = {}
        for t, e in self._frames():
            if first is None:
                first = e
                if e.get("v") != VERSION:
                    StreamDecoder().apply(e)  # refuses an unknown format version at once
                self.start = t
            end = t
            self._scan_mark(t, e, prev_alarm_keys)
        if first is None:
            raise ValueError("empty recording")
        self.end = end if end is not None else self.start
        self.profile = str(first.get("profile", ""))
        self.speed = SPEEDS[0]
        self.playing = True
        self._wake = asyncio.Event()
        self._rewind(StreamDecoder())

    @classmethod
    def open(cls, path: Path | str) -> Player:
        """A player over a recording file, read streamed (memory bounded by the estate)."""
        from cockpit.record import ReadStats, iter_recording

        holder: list[Player] = []

        def source() -> Iterator[dict[str, Any]]:
            stats = ReadStats()
            if holder:
                holder[0].read_stats = stats
            return iter_recording(path, stats)

        player = cls(source)
        holder.append(player)
        player._rewind(player._decoder)  # re-read with the stats attached
        return player

    def _frames(self) -> Iterator[Frame]:
        """(time, event) of every frame with a usable time; the others are counted."""
        self._bad_frames = 0
        for e in self._source():
            t = _time(e)
            if t is None:
                self._bad_frames += 1
                continue
            yield t, e

    def _scan_mark(self, t: float, e: dict[str, Any], prev_alarm_keys: dict[str, set[str]]) -> None:
        kind = e.get("kind")
        if kind == "action" or (kind == "snapshot" and e.get("error")):
            self._marks.append(t)
        elif kind == "snapshot" and e.get("pane") == "alarms":
            try:
                keys = {str(u.get("name", "")) for u in e.get("upsert", ())}
                source = str(e["source"])
            except (AttributeError, TypeError, KeyError):
                return  # malformed: the decoder rejects and counts it when played
            if keys - prev_alarm_keys.get(source, set()) or e.get("remove"):
                self._marks.append(t)
            prev_alarm_keys.setdefault(source, set()).update(keys)

    def _rewind(self, decoder: StreamDecoder) -> None:
        self._decoder = decoder
        self._iter = self._frames()
        self._next: Frame | None = next(self._iter, None)
        self._last_t: float | None = None
        self.pos = 0  # events emitted since the start (or the last seek's position)

    @property
    def rejected(self) -> int:
        """Malformed frames skipped so far (not JSON, no time, or refused by the decoder)."""
        read = self.read_stats.rejected if self.read_stats is not None else 0
        return read + self._bad_frames + self._decoder.rejected

    @property
    def now(self) -> float:
        """Recording time of the last emitted event."""
        return self._last_t if self._last_t is not None else self.start

    def marks(self) -> list[float]:
        """Times worth jumping to: alarm transitions, actions, errors."""
        return list(self._marks)

    def state_at(self, t: float) -> State:
        """Decode silently up to time ``t``; the player continues from there."""
        self._rewind(StreamDecoder())
        updates: dict[str, SourceUpdate] = {}
        tail: deque[LogBatch] = deque()
        count = 0
        while self._next is not None and self._next[0] <= t:
            te, e = self._next
            out = self._decoder.feed(e)
            if isinstance(out, SourceUpdate):
                updates[out.source_id] = out
            elif isinstance(out, LogBatch):
                tail.append(out)
                count += len(out.records)
                while tail and count - len(tail[0].records) >= LOG_TAIL_ON_SEEK:
                    count -= len(tail.popleft().records)
            self._last_t = te
            self.pos += 1
            self._next = next(self._iter, None)
        self._virtual = t
        self._wake.set()
        return State(updates, list(tail))

    def toggle(self) -> None:
        self.playing = not self.playing
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self._wake.set()

    def next_mark(self) -> float | None:
        return next((m for m in self._marks if m > self.now + 0.001), None)

    async def run(self, emit: Emit, on_tick: Callable[[], None] = lambda: None) -> None:
        """Emit events at recorded pace (times ``speed``) until the end; pause and seek aware."""
        while True:
            self._wake.clear()
            if not self.playing or self._next is None:
                on_tick()
                await self._wake.wait()
                continue
            t, event = self._next
            current = self.display_time
            due = (t - current) / self.speed
            if due > 0:
                # Wait in short steps so the clock moves and pause/seek/speed answer at once.
                step = min(due, 0.5)
                try:
                    async with asyncio.timeout(step):  # not wait_for: see Hub._run
                        await self._wake.wait()
                    continue  # woken: state changed, recompute
                except TimeoutError:
                    self._virtual = current + step * self.speed
                    if step < due:
                        on_tick()
                        continue
            self.pos += 1
            self._last_t = t
            self._next = next(self._iter, None)
            self._virtual = None
            out = self._decoder.feed(event)  # a malformed frame is counted, not fatal
            if out is not None:
                emit(out)
            on_tick()

    # Between events the displayed time moves on without anything being emitted.
    _virtual: float | None = None

    @property
    def display_time(self) -> float:
        return self._virtual if self._virtual is not None else self.now
