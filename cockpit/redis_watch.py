"""Reading a cockpit stream from Redis: attach (live), replay and export (a time range).

A watcher starts at the last state entry (``STREAM:state`` names it), then follows with
``XREAD BLOCK`` from the last id it applied. A dropped connection or a restarted
redis-server is retried with backoff and resumed from that id, so nothing is missed and
nothing applied twice; an entry a publisher wrote twice (a batch resent after an ambiguous
failure) has a session and sequence number already seen and is skipped. A gap in a
publisher's sequence (history trimmed while the watcher was away) starts it again from the
last state. Headless: no Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cockpit.errors import CockpitError
from cockpit.share_redis import BACKOFF_MAX_S, RedisTarget, _describe, detached

BLOCK_MS = 5000
COUNT = 500


@dataclass
class Entry:
    """One stream entry: its id, its publisher's session and sequence number, its events."""

    id: str
    kind: str
    session: str
    n: int
    events: list[dict[str, Any]]
    heal: bool = False

    @property
    def at(self) -> float:
        """When Redis added it (its id's milliseconds), on Redis's clock."""
        return int(self.id.split("-", 1)[0]) / 1000


@dataclass
class Status:
    """Not an event: where the watcher stands (connected, lag, an error while retrying)."""

    connected: bool
    lag: float = 0.0
    error: str = ""
    hint: str = ""


def parse_entry(entry_id: str, fields: dict[str, str]) -> Entry | None:
    """An entry as the publisher wrote it; None for one that is not (counted by callers)."""
    try:
        data = json.loads(fields["d"])
        kind = fields.get("k", "")
        events = data if kind == "state" else [data]
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return None
        return Entry(entry_id, kind, fields.get("s", ""), int(fields.get("n", "0")), events,
                     fields.get("h") == "1")
    except (KeyError, ValueError, TypeError):
        return None


@dataclass
class Dedupe:
    """Skips entries a publisher's session already delivered; notices a gap in one."""

    last: dict[str, int] = field(default_factory=dict)

    def check(self, e: Entry) -> str:
        """``new``, ``seen`` or ``gap``."""
        before = self.last.get(e.session)
        if before is not None and e.n <= before:
            return "seen"
        self.last[e.session] = e.n
        return "gap" if before is not None and e.n > before + 1 else "new"


async def _last_state(client: Any, target: RedisTarget) -> tuple[str, Any] | None:
    """The newest state entry: the one the state key names, else found walking back."""
    sid = await client.get(target.state_key)
    if sid:
        found = await client.xrange(target.stream, sid, sid)
        if found:
            return found[0]
    return await _state_before(client, target, "+")


async def _state_before(client: Any, target: RedisTarget, end: str) -> tuple[str, Any] | None:
    """The newest full state at or before ``end``."""
    return await _first_state(client, target, "-", end, newest_first=True)


async def _state_after(client: Any, target: RedisTarget, start: str, end: str) -> tuple[str, Any] | None:
    """The oldest full state from ``start`` to ``end``."""
    return await _first_state(client, target, start, end, newest_first=False)


async def _first_state(client: Any, target: RedisTarget, start: str, end: str, *, newest_first: bool,
                       limit: int = 200_000) -> tuple[str, Any] | None:
    seen = 0
    while seen < limit:
        if newest_first:
            chunk = await client.xrevrange(target.stream, end, start, count=COUNT)
        else:
            chunk = await client.xrange(target.stream, start, end, count=COUNT)
        for entry_id, fields in chunk:
            if fields.get("k") == "state":
                return entry_id, fields
        if len(chunk) < COUNT:
            return None
        seen += len(chunk)
        if newest_first:
            end = "(" + chunk[-1][0]
        else:
            start = "(" + chunk[-1][0]
    return None


class RedisWatcher:
    """``entries()`` yields ``Entry`` and ``Status`` items, forever, reconnecting as needed."""

    def __init__(self, target: RedisTarget, *, block_ms: int = BLOCK_MS, retry: float = 0.5) -> None:
        self.target = target
        self.block_ms = block_ms
        self.retry = retry
        self.last_id: str | None = None  # the last entry applied: where a reconnect resumes
        self.dedupe = Dedupe()
        self.rejected = 0
        self.reconnects = 0
        self._offset = 0.0  # Redis's clock minus ours, for the lag

    def lag(self, e: Entry) -> float:
        return max(0.0, time.time() + self._offset - e.at)

    async def entries(self) -> AsyncIterator[Entry | Status]:
        backoff = self.retry
        client: Any = None
        while True:
            try:
                client = self.target.client(timeout=self.block_ms / 1000 + 5)
                secs, micros = await detached(client.time(), 10)
                self._offset = secs + micros / 1e6 - time.time()
                if self.last_id is None:
                    state = await detached(_last_state(client, self.target), 30)
                    self.last_id = "0-0"
                    if state is not None:
                        entry = parse_entry(*state)
                        if entry is not None:
                            self.dedupe = Dedupe({entry.session: entry.n})
                            self.last_id = entry.id
                            yield entry
                yield Status(True)
                backoff = self.retry
                while True:
                    answer = await detached(client.xread({self.target.stream: self.last_id}, count=COUNT,
                                                         block=self.block_ms), self.block_ms / 1000 + 5)
                    if not answer:
                        yield Status(True)  # caught up: nothing newer than what is shown
                        continue
                    last: Entry | None = None
                    for entry_id, fields in answer[0][1]:
                        entry = parse_entry(entry_id, fields)
                        self.last_id = entry_id
                        if entry is None:
                            self.rejected += 1
                            continue
                        verdict = self.dedupe.check(entry)
                        if verdict == "seen":
                            continue
                        if verdict == "gap" and entry.kind != "state":
                            # History this watcher needed was trimmed: start again from a state.
                            self.last_id = None
                            yield Status(True, error="missed part of the stream (trimmed while away)",
                                         hint="starting again from the last full state")
                            break
                        last = entry
                        yield entry
                    if self.last_id is None:
                        raise _Restart
                    if last is not None:
                        # A short answer held every entry there was: this watcher is at the head.
                        # A full one may have more behind it: how old its last entry is.
                        full = len(answer[0][1]) >= COUNT
                        yield Status(True, lag=self.lag(last) if full else 0.0)
            except _Restart:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.reconnects += 1
                yield Status(False, error=f"lost Redis at {self.target}: {_describe(e)}",
                             hint=f"reconnecting in {backoff:g} s; resuming after the last entry shown")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            finally:
                if client is not None:
                    # Bounded: closing after a cancelled XREAD can wait on that read's lock.
                    with contextlib.suppress(Exception):
                        await detached(client.aclose(), 1)
                    client = None


class _Restart(Exception):
    pass


# --- a time range: replay and export --------------------------------------------------------


def parse_time(text: str | None) -> float | None:
    """An ISO time (naive: UTC) as epoch seconds; None for none."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CockpitError(f"not an ISO time: {text!r}", "e.g. from=2026-12-07T05:00:00Z") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def events_of(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """The events of a range as a recording holds them: the first state's (hello and full
    snapshots), then every event once; a later state only where it healed a loss."""
    out: list[dict[str, Any]] = []
    dedupe = Dedupe()
    for e in entries:
        if dedupe.check(e) == "seen":
            continue
        if e.kind == "state":
            if not out:
                out.extend(e.events)
            elif e.heal:
                out.extend(x for x in e.events if x.get("kind") != "hello")
            continue
        out.extend(e.events)
    return out


async def read_range(target: RedisTarget, start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
    """The events from ``start`` to ``end`` (epoch seconds), beginning at the last state at or
    before ``start`` so the panes are whole from the first frame; the range's own events only
    after ``start``."""
    client = target.client(timeout=30)
    try:
        first = "-" if start is None else f"{int(start * 1000)}"
        last = "+" if end is None else f"{int(end * 1000)}"
        # The whole stream starts at its oldest state; a range at the last one before it.
        state = None if start is None else await _state_before(client, target, first)
        if state is None:
            state = await _state_after(client, target, first, last)
        entries: list[Entry] = []
        cursor = first
        if state is not None:
            parsed = parse_entry(*state)
            if parsed is not None:
                entries.append(parsed)
            cursor = "(" + state[0]
        while True:
            chunk = await client.xrange(target.stream, cursor, last, count=COUNT)
            for entry_id, fields in chunk:
                parsed = parse_entry(entry_id, fields)
                if parsed is not None:
                    entries.append(parsed)
            if len(chunk) < COUNT:
                break
            cursor = "(" + chunk[-1][0]
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    events = events_of(entries)
    if not events:
        raise CockpitError(f"nothing in {target} for that time range",
                           "check the stream's name and the range (from=, to=, ISO times in UTC)")
    return events


def export(target: RedisTarget, path: str) -> int:
    """``cockpit record export``: the stream's range as a recording file; the events' count."""
    from cockpit.record import Recorder

    events = asyncio.run(read_range(target, parse_time(target.query.get("from")),
                                    parse_time(target.query.get("to"))))
    recorder = Recorder(path)
    recorder.header = [e for e in events[:1] if e.get("kind") == "hello"]
    try:
        for event in events:
            recorder.publish(event)
    finally:
        recorder.close()
    return len(events)
