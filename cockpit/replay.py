"""Replaying a recording: a player over the event list, with speed, pause and seek.

Read-only by construction: a replay builds no backend, so there is nothing an action could
reach. The player decodes events into the same ``SourceUpdate`` / ``LogBatch`` objects the
hub produces, so the panes cannot tell a replay from the live estate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cockpit.hub import LogBatch, SourceUpdate
from cockpit.stream import StreamDecoder

SPEEDS = (1.0, 10.0, 60.0)
LOG_TAIL_ON_SEEK = 1000

Emit = Callable[[Any], None]  # receives SourceUpdate | LogBatch | event dicts (action, focus)


@dataclass(frozen=True)
class State:
    """Everything the panes show at one instant: last update per source and the log tail."""

    updates: dict[str, SourceUpdate]
    logs: list[LogBatch]


class Player:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        if not events:
            raise ValueError("empty recording")
        StreamDecoder().apply(events[0])  # refuses an unknown format version at once
        self.events = events
        self.start = float(events[0].get("t", 0))
        self.end = float(events[-1].get("t", self.start))
        self.pos = 0  # index of the next event to emit
        self.speed = SPEEDS[0]
        self.playing = True
        self._decoder = StreamDecoder()
        self._wake = asyncio.Event()
        self.profile = str(events[0].get("profile", ""))

    @property
    def now(self) -> float:
        """Recording time of the last emitted event."""
        if self.pos == 0:
            return self.start
        return float(self.events[self.pos - 1].get("t", self.start))

    def marks(self) -> list[float]:
        """Times worth jumping to: alarm transitions, actions, errors."""
        out = []
        prev_alarm_keys: dict[str, set[str]] = {}
        for e in self.events:
            kind = e.get("kind")
            if kind == "action" or (kind == "snapshot" and e.get("error")):
                out.append(float(e["t"]))
            elif kind == "snapshot" and e.get("pane") == "alarms":
                keys = {u.get("name", "") for u in e.get("upsert", ())}
                if keys - prev_alarm_keys.get(e["source"], set()) or e.get("remove"):
                    out.append(float(e["t"]))
                prev_alarm_keys.setdefault(e["source"], set()).update(keys)
        return out

    def state_at(self, t: float) -> State:
        """Decode silently up to time ``t``; the player continues from there."""
        decoder = StreamDecoder()
        updates: dict[str, SourceUpdate] = {}
        logs: list[LogBatch] = []
        pos = 0
        for pos, e in enumerate(self.events):  # noqa: B007 - pos is used after the loop
            if float(e.get("t", self.start)) > t:
                break
            out = decoder.apply(e)
            if isinstance(out, SourceUpdate):
                updates[out.source_id] = out
            elif isinstance(out, LogBatch):
                logs.append(out)
        else:
            pos = len(self.events)
        self._decoder = decoder
        self.pos = pos
        self._virtual = t
        tail: list[LogBatch] = []
        count = 0
        for batch in reversed(logs):
            tail.append(batch)
            count += len(batch.records)
            if count >= LOG_TAIL_ON_SEEK:
                break
        self._wake.set()
        return State(updates, list(reversed(tail)))

    def toggle(self) -> None:
        self.playing = not self.playing
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self._wake.set()

    def next_mark(self) -> float | None:
        return next((m for m in self.marks() if m > self.now + 0.001), None)

    async def run(self, emit: Emit, on_tick: Callable[[], None] = lambda: None) -> None:
        """Emit events at recorded pace (times ``speed``) until the end; pause and seek aware."""
        while True:
            self._wake.clear()
            if not self.playing or self.pos >= len(self.events):
                on_tick()
                await self._wake.wait()
                continue
            event = self.events[self.pos]
            current = self.display_time
            due = (float(event.get("t", current)) - current) / self.speed
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
            self._virtual = None
            out = self._decoder.apply(event)
            if out is not None:
                emit(out)
            on_tick()

    # Between events the displayed time moves on without anything being emitted.
    _virtual: float | None = None

    @property
    def display_time(self) -> float:
        return self._virtual if self._virtual is not None else self.now
