"""CloudWatch Logs of an ECS cluster's log groups, followed by polling FilterLogEvents.

Live tail (StartLiveTail) is a streaming API that moto serves only once, so the cockpit
polls: every ``poll_interval`` seconds, from the last seen timestamp minus an overlap (late
ingestion), following nextToken pages, de-duplicating by eventId. The cursor and the
recent ids live on the object, so after an error the hub calls ``follow()`` again and the
stream resumes where it stopped, with nothing lost or repeated.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.model import LogLevel, LogRecord
from cockpit.profile import EcsCluster

FIRST_WINDOW_MS = 5 * 60 * 1000
FIRST_MAX_EVENTS = 500
OVERLAP_MS = 2000
MAX_RECENT_IDS = 20_000

_LEVEL_WORDS = {
    "ERROR": LogLevel.ERROR,
    "ERR": LogLevel.ERROR,
    "FATAL": LogLevel.ERROR,
    "CRITICAL": LogLevel.ERROR,
    "CRIT": LogLevel.ERROR,
    "WARN": LogLevel.WARN,
    "WARNING": LogLevel.WARN,
    "INFO": LogLevel.INFO,
    "DEBUG": LogLevel.DEBUG,
    "TRACE": LogLevel.DEBUG,
}
# Upper-case tokens ("ERROR ...", "[WARN]") first; then key/value styles in any case
# ("level=error", '"level": "warning"'). A lower-case "error" inside prose is not a level.
_UPPER = re.compile(r"\b(ERROR|ERR|FATAL|CRITICAL|CRIT|WARNING|WARN|INFO|DEBUG|TRACE)\b")
_KEYED = re.compile(r"""\b(?:level|lvl|severity)"?\s*[=:]\s*"?([A-Za-z]+)""", re.IGNORECASE)


def parse_level(text: str) -> LogLevel:
    m = _UPPER.search(text)
    if m:
        return _LEVEL_WORDS[m.group(1)]
    m = _KEYED.search(text)
    if m:
        return _LEVEL_WORDS.get(m.group(1).upper(), LogLevel.INFO)
    return LogLevel.INFO


def source_label(group: str, stream: str) -> str:
    """``/ecs/api`` + ``ecs/api/1a2b3c4d...`` -> ``api/1a2b3c``.

    ECS streams are ``prefix/container/task-id``: the container and the start of the task
    id tell the on-call which task spoke, in the 16 columns the log pane gives a source.
    """
    tail = group.rstrip("/").rsplit("/", 1)[-1] or group
    parts = [p for p in stream.split("/") if p]
    if len(parts) >= 3:
        return f"{parts[-2][:9]}/{parts[-1][:6]}"
    if len(parts) >= 2:
        short = f"{parts[0]}-{parts[-1][:4]}"
    else:
        short = stream[:16]
    return f"{tail}/{short}"


SEARCH_LIMIT = 5000
# What starts a CloudWatch filter pattern rather than plain words: a JSON or space-delimited
# selector, the OR of terms (``?ERROR ?WARN``), or a quoted term.
_PATTERN_START = ("{", "[", "?", '"')


def cloudwatch_pattern(text: str | None) -> str | None:
    """The user's ``/`` filter as a CloudWatch Logs filter pattern; None: filter locally.

    Plain words become one quoted term (``db timeout`` -> ``"db timeout"``), which matches
    the words as written, next to each other, like the pane's substring filter (but, as in
    CloudWatch, case-sensitively). Text that already reads as a pattern is passed as is.
    Plain text with a double quote in it has no faithful quoted form: it stays local.
    """
    if text is None or not text.strip():
        return None
    t = text.strip()
    if t.startswith(_PATTERN_START):
        return t
    if '"' in t:
        return None
    return f'"{t}"'


@dataclass
class _Poll:
    first: bool
    cursors: dict[str, int]
    events: list[tuple[int, str, str, dict[str, Any]]]  # (timestamp, eventId, group, event)
    generation: int = 0  # of the server filter the poll used


class EcsLogSource:
    """Follows the log groups of one ECS cluster."""

    def __init__(self, ctx: AwsContext, cluster: EcsCluster) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.groups = cluster.log_groups
        self.id = f"aws:logs:{cluster.cluster}"
        self.title = f"logs {cluster.cluster}"
        self.poll_interval = 1.0
        # FilterLogEvents page size; None lets AWS choose (up to 10,000 events / 1 MB).
        self.page_limit: int | None = None
        # Per group: the newest event timestamp yielded (ms). None: not polled yet.
        self._cursor: dict[str, int] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        # The `/` filter sent with FilterLogEvents (None: everything); bumped generation
        # tells a poll that was in flight when it changed to hand nothing over.
        self.server_filter: str | None = None
        self._filter_generation = 0
        ctx.acquire(self)

    def set_server_filter(self, text: str | None) -> bool:
        """Filter the next polls at the server with ``text`` (None clears); True if it will.

        The resume point stays: lines already shown stay, the next poll starts where the
        last one ended, only with the new pattern. A poll already in flight with the old
        pattern is dropped when it returns and done again, so a change never skips lines.
        """
        pattern = cloudwatch_pattern(text)
        if pattern != self.server_filter:
            self._filter_generation += 1
            self.server_filter = pattern
        return pattern is not None

    @property
    def client(self) -> Any:
        return self.ctx.client("logs")

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        while True:
            poll = await self.ctx.run(f"logs of {self.cluster.cluster}", self._poll)
            # Committed here, not in the thread: if this task is cancelled while the thread
            # runs, the cursor stays put and the next follow() fetches those events again.
            records = self._commit(poll)
            if records:
                yield records
            await asyncio.sleep(self.poll_interval)

    def poll_once(self) -> list[LogRecord]:
        """One blocking poll of every group, committed (for callers without a loop)."""
        return self._commit(self.ctx.guard(f"logs of {self.cluster.cluster}", self._poll))

    def _poll(self) -> _Poll:
        """Fetch what is new in every group; changes no state (a failure loses nothing)."""
        logs = self.client
        now = int(time.time() * 1000)
        first = not self._cursor
        # Generation before pattern: a change in between makes the poll stale, not wrong.
        generation = self._filter_generation
        pattern = self.server_filter
        default = now - FIRST_WINDOW_MS + OVERLAP_MS  # first poll: 5 minutes back
        found: dict[str, tuple[int, str, str, dict[str, Any]]] = {}
        cursors = dict(self._cursor)
        for group in self.groups:
            newest = cursors.get(group, default)
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": max(newest - OVERLAP_MS, 0),
                "interleaved": True,
            }
            if self.page_limit:
                kwargs["limit"] = self.page_limit
            if pattern:
                kwargs["filterPattern"] = pattern
            while True:
                page = logs.filter_log_events(**kwargs)
                for ev in page.get("events", []):
                    eid = str(ev.get("eventId", ""))
                    if not eid or eid in self._recent or eid in found:
                        continue
                    ts = int(ev.get("timestamp", 0))
                    found[eid] = (ts, eid, group, ev)
                    newest = max(newest, ts)
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
            cursors[group] = newest
        ordered = sorted(found.values(), key=lambda t: (t[0], _id_key(t[1])))
        return _Poll(first=first, cursors=cursors, events=ordered, generation=generation)

    def _commit(self, poll: _Poll) -> list[LogRecord]:
        if poll.generation != self._filter_generation:
            return []  # the filter changed under this poll: the next one redoes its window
        self._cursor = poll.cursors
        for _, eid, _, _ in poll.events:
            self._recent[eid] = None
        while len(self._recent) > MAX_RECENT_IDS:
            self._recent.popitem(last=False)
        events = poll.events[-FIRST_MAX_EVENTS:] if poll.first else poll.events
        return [self._record(ts, eid, group, ev) for ts, eid, group, ev in events]

    @staticmethod
    def _record(ts: int, eid: str, group: str, ev: dict[str, Any]) -> LogRecord:
        text = str(ev.get("message", "")).rstrip("\n")
        return LogRecord(
            time=datetime.fromtimestamp(ts / 1000, tz=UTC),
            source=source_label(group, str(ev.get("logStreamName", ""))),
            level=parse_level(text),
            text=text,
            id=eid,
        )

    def search_blocking(
        self,
        pattern: str,
        hours: float,
        *,
        limit: int = SEARCH_LIMIT,
        progress: Callable[[int, int], None] = lambda pages, found: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> list[LogRecord]:
        """Search the last ``hours`` of every group with a CloudWatch filter pattern.

        Pages until done, ``limit`` matches, or ``cancelled()``; ``progress`` hears after each
        page. Server-side filtering: only matching events cross the network.
        """
        start = int((time.time() - hours * 3600) * 1000)
        found: list[tuple[int, str, str, dict[str, Any]]] = []
        pages = 0
        for group in self.groups:
            kwargs: dict[str, Any] = {"logGroupName": group, "startTime": start, "interleaved": True}
            if pattern:
                kwargs["filterPattern"] = pattern
            while not cancelled() and len(found) < limit:
                page = self.ctx.guard(f"search of {group}", self.client.filter_log_events, **kwargs)
                found += [(int(ev.get("timestamp", 0)), str(ev.get("eventId", "")), group, ev)
                          for ev in page.get("events", [])]
                pages += 1
                progress(pages, len(found))
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
        found.sort(key=lambda t: (t[0], _id_key(t[1])))
        return [self._record(*t) for t in found[-limit:]]

    def search_command(self, pattern: str, hours: float) -> list[str]:
        group = self.groups[0] if self.groups else ""
        start = int((time.time() - hours * 3600) * 1000)
        argv = ["logs", "filter-log-events", "--log-group-name", group, "--start-time", str(start)]
        return self.ctx.cli(*argv, *(["--filter-pattern", pattern] if pattern else []))

    def explain_command(self) -> list[str]:
        group = self.groups[0] if self.groups else ""
        argv = ["logs", "tail", group, "--follow", "--since", "5m"]
        if self.server_filter:
            argv += ["--filter-pattern", self.server_filter]
        return self.ctx.cli(*argv)

    async def close(self) -> None:
        await self.ctx.release(self)


def _id_key(eid: str) -> tuple[int, int | str]:
    # AWS ids are 56-digit strings and moto's are counters: compare numerically when
    # they are numbers so "10" sorts after "9", without otherwise interpreting them.
    return (0, int(eid)) if eid.isdigit() else (1, eid)
