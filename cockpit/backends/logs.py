"""CloudWatch Logs of an ECS cluster's log groups: live tail, or FilterLogEvents polling.

Where the endpoint serves it, ``follow()`` opens a StartLiveTail session (an event stream
of new events, up to 10 groups): it reads the session start, then fills the gap since the
last event it yielded with one FilterLogEvents poll, then yields the stream's updates.
Where it does not (moto answers HTTP 500 or a one-shot stream, an IAM policy may lack
``logs:StartLiveTail``), the endpoint is remembered and the cockpit polls: every
``poll_interval`` seconds, from the last seen timestamp minus an overlap (late ingestion),
following nextToken pages, de-duplicating by (stream, timestamp, eventId) within a bounded
window. A session that ends or breaks falls back to polling from the last timestamp and is
retried after ``LIVE_TAIL_RETRY_S``.

An endpoint that restarts may number its events from the start again (a restarted moto or
LocalStack): an id seen before on another line is not "already seen", it says the group is a
new stream, whose ids replace the old ones in the window. After an error, the first poll
that answers is yielded even when empty, so the pane drops its error without a new line.

Live tail events carry no eventId: across the two paths, events are matched by group,
stream, timestamp and message (counted, so two identical lines stay two). The cursor and
the recent ids live on the object, so after an error the hub calls ``follow()`` again and
the stream resumes where it stopped, with nothing lost or repeated.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.backends.aws import AwsContext
from cockpit.backends.loglines import cloudwatch_pattern, parse_level, source_label  # noqa: F401 (re-exported)
from cockpit.model import LogRecord
from cockpit.profile import EcsCluster

log = logging.getLogger(__name__)

FIRST_WINDOW_MS = 5 * 60 * 1000
FIRST_MAX_EVENTS = 500
# How far back each poll looks behind the newest event yielded (ids de-duplicate): events
# arrive late (ingestion delay, a writer whose clock is behind). At 2 s, a line 5 s late
# was never shown; this window is re-read each poll, so it stays seconds, not minutes.
OVERLAP_MS = 10_000
MAX_RECENT_IDS = 20_000
SEARCH_LIMIT = 5000  # events a server-side search reads at most
LIVE_TAIL_MAX_GROUPS = 10  # StartLiveTail's limit; more groups are polled
LIVE_TAIL_RETRY_S = 60.0  # after a session broke, poll this long before trying again
# A session that ends by itself this soon, without the SessionTimeoutException that ends
# AWS sessions after 3 hours, is a one-shot imitation (moto): the endpoint gets polled.
ONE_SHOT_S = 5.0
# Error codes after which live tail is never tried again on that endpoint.
_NO_LIVE_TAIL_CODES = frozenset(
    {
        "UnknownOperationException",
        "InvalidAction",
        "NotImplemented",
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "500",
        "501",
        "404",
    }
)
# "<profile>@<endpoint>" -> why live tail is not used there (an IAM policy may allow it to
# one profile and not another), for the life of this process.
_NO_LIVE_TAIL: dict[str, str] = {}

@dataclass
class _Poll:
    first: bool
    cursors: dict[str, int]
    events: list[tuple[int, str, str, dict[str, Any]]]  # (timestamp, eventId, group, event)
    generation: int = 0  # of the server filter the poll used
    starts: dict[str, int] | None = None  # per group, the startTime asked for
    # events skipped because live tail already yielded them: their keys and ids
    tailed: Counter[bytes] | None = None
    tailed_ids: tuple[tuple[str, str, str, int], ...] = ()  # (group, eventId, stream, timestamp)
    restarted: frozenset[str] = frozenset()  # groups whose event ids started again


def _content_key(group: str, stream: str, ts: int, message: str) -> bytes:
    """What identifies an event that has no eventId (live tail) on both paths."""
    h = hashlib.blake2b(digest_size=16)
    for part in (group, stream, str(ts), message):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return h.digest()


def _ms(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value or 0)


class EcsLogSource:
    """Follows the log groups of one ECS cluster."""

    def __init__(self, ctx: AwsContext, cluster: EcsCluster) -> None:
        self.ctx = ctx
        self.cluster = cluster
        self.groups = cluster.log_groups
        # getattr: a stand-in context (tests) knows nothing of estates
        self.id = f"aws:logs:{cluster.cluster}{getattr(ctx, 'tag', '')}"
        self.title = f"logs {cluster.cluster}{getattr(ctx, 'suffix', '')}"
        self.poll_interval = 1.0
        # FilterLogEvents page size; None lets AWS choose (up to 10,000 events / 1 MB).
        self.page_limit: int | None = None
        # Per group: the newest event timestamp yielded (ms). None: not polled yet.
        self._cursor: dict[str, int] = {}
        # (group, eventId) -> (stream, timestamp) of the events yielded lately, oldest first.
        self._recent: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._recovering = False  # follow() ended in an error: say so when it answers again
        # The `/` filter sent with FilterLogEvents (None: everything); bumped generation
        # tells a poll that was in flight when it changed to hand nothing over.
        self.server_filter: str | None = None
        self._filter_generation = 0
        # Live tail: off by setting False; otherwise used where the endpoint serves it.
        self.live_tail = True
        self.live_tail_retry_s = LIVE_TAIL_RETRY_S
        self._live_retry_at = 0.0  # monotonic time before which follow() polls
        self._group_arns: dict[str, str] = {}  # ARN -> group name
        # Events yielded by live tail, by content key (counted), for the polls after it.
        self._tailed: Counter[bytes] = Counter()
        self._tailed_order: OrderedDict[bytes, None] = OrderedDict()
        # Events of the current session's catch-up poll, which its stream may repeat.
        self._caught_up: Counter[bytes] = Counter()
        self._wake_live: Callable[[], None] | None = None
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
            wake = self._wake_live
            if wake is not None:
                wake()  # a live session reopens with the new pattern now, not on its next tick
        return pattern is not None

    @property
    def client(self) -> Any:
        return self.ctx.client("logs")

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        try:
            while True:
                if self._live_tail_due():
                    async for records in self._follow_live():
                        yield records
                # Polling: for good where live tail is not served, else until it is retried.
                while not self._live_tail_due():
                    poll = await self.ctx.run(f"logs of {self.cluster.cluster}", self._poll)
                    # Committed here, not in the thread: if this task is cancelled while the
                    # thread runs, the cursor stays put and the next follow() fetches them again.
                    records = self._commit(poll)
                    if records or self._answered():
                        yield records
                    await asyncio.sleep(self.poll_interval)
        except Exception:
            self._recovering = True
            raise

    def _answered(self) -> bool:
        """True once after an error: the endpoint answers again (an empty batch says so)."""
        recovering, self._recovering = self._recovering, False
        return recovering

    # --- live tail ------------------------------------------------------------------

    @property
    def live_tail_unsupported(self) -> str:
        """Why this endpoint is polled instead of live-tailed ("" while live tail is used)."""
        return _NO_LIVE_TAIL.get(self._endpoint_key, "")

    @property
    def _endpoint_key(self) -> str:
        return f"{self.ctx.aws.profile or ''}@{self.ctx.where()}"

    def _live_tail_due(self) -> bool:
        return (
            self.live_tail
            and 0 < len(self.groups) <= LIVE_TAIL_MAX_GROUPS
            and not self.live_tail_unsupported
            and time.monotonic() >= self._live_retry_at
        )

    def _give_up_live_tail(self, why: str) -> None:
        log.info("live tail not used for %s: %s; polling", self.ctx.where(), why)
        _NO_LIVE_TAIL[self._endpoint_key] = why

    def _retry_live_later(self, why: str) -> None:
        log.info("live tail of %s ended (%s); polling for now", self.cluster.cluster, why)
        self._live_retry_at = time.monotonic() + self.live_tail_retry_s

    def _arns(self) -> dict[str, str] | None:
        """ARN -> group name for every followed group (StartLiveTail takes ARNs).

        None when a group does not exist (yet): polling shows that, live tail would fail.
        """
        if len(self._group_arns) < len(self.groups):
            logs = self.client
            found: dict[str, str] = {}
            for group in self.groups:
                if group.startswith("arn:"):
                    found[group.removesuffix(":*")] = group
                    continue
                resp = logs.describe_log_groups(logGroupNamePrefix=group)
                for g in resp.get("logGroups", []):
                    if g.get("logGroupName") == group:
                        arn = str(g.get("logGroupArn") or g.get("arn", "")).removesuffix(":*")
                        found[arn] = group
                        break
                else:
                    return None
            self._group_arns = found
        return self._group_arns

    async def _follow_live(self) -> AsyncIterator[list[LogRecord]]:
        """One StartLiveTail session: a catch-up poll, then the stream's updates.

        Returns (to polling) when the session ends, breaks, cannot start, or the server
        filter changed (then at once, to start a new session with the new pattern).
        """
        arns = await self.ctx.run("log group ARNs", self._arns)
        if arns is None:
            self._retry_live_later("a log group is missing")
            return
        generation, pattern = self._filter_generation, self.server_filter
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}

        def put(kind: str, item: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, item))

        def read() -> None:
            try:
                kwargs: dict[str, Any] = {"logGroupIdentifiers": list(arns)}
                if pattern:
                    kwargs["logEventFilterPattern"] = pattern
                resp = self.ctx.stream_client("logs").start_live_tail(**kwargs)
                stream = resp["responseStream"]
                holder["stream"] = stream
                try:
                    if stop.is_set():
                        return
                    for event in stream:
                        if stop.is_set():
                            return
                        put("event", event)
                finally:
                    stream.close()
                put("end", None)
            except Exception as e:  # classified on the loop side
                if not stop.is_set():
                    put("end", e)

        thread = threading.Thread(
            target=self.ctx.in_thread(read), name=f"live tail {self.id}", daemon=True
        )
        self._wake_live = lambda: put("wake", None)
        started_at: float | None = None
        floor: dict[str, int] = {}
        thread.start()
        try:
            while True:
                try:
                    async with asyncio.timeout(1.0):  # not wait_for: see Hub._run
                        kind, item = await queue.get()
                except TimeoutError:
                    kind, item = "idle", None
                if generation != self._filter_generation:
                    return  # a new session with the new pattern, at once
                if kind == "end":
                    self._session_ended(item, started_at)
                    return
                if kind != "event":
                    continue
                if "sessionStart" in item and started_at is None:
                    started_at = time.monotonic()
                    # Live tail sends what is ingested from now on: fill the gap since the
                    # last yielded event by polling once, then follow the stream.
                    poll = await self.ctx.run(f"logs of {self.cluster.cluster}", self._poll)
                    records = self._commit(poll)
                    if generation != self._filter_generation:
                        return
                    self._caught_up = Counter(
                        _content_key(g, str(ev.get("logStreamName", "")), ts,
                                     str(ev.get("message", "")))
                        for ts, _, g, ev in poll.events
                    )  # fmt: skip
                    floor = dict(poll.starts or {})
                    if records or self._answered():
                        yield records
                elif "sessionUpdate" in item and started_at is not None:
                    update = item["sessionUpdate"] or {}
                    records = self._live_records(update.get("sessionResults") or [], floor)
                    if records:
                        yield records
        finally:
            stop.set()
            self._wake_live = None
            _abort(holder.get("stream"))
            self._caught_up = Counter()

    def _session_ended(self, error: BaseException | None, started_at: float | None) -> None:
        if error is None:
            if started_at is None or time.monotonic() - started_at < ONE_SHOT_S:
                self._give_up_live_tail("the endpoint ends live tail sessions at once")
            else:
                self._retry_live_later("the stream ended")
            return
        code = _error_code(error)
        lasted = time.monotonic() - started_at if started_at is not None else 0.0
        if code == "SessionTimeoutException" and lasted >= ONE_SHOT_S:
            self._live_retry_at = 0.0  # AWS ends every session after 3 hours: reopen now
            return
        if started_at is None and (
            code in _NO_LIVE_TAIL_CODES
            or _is_unusable(error)
            # a custom endpoint (LocalStack) that does not resolve "streaming-<host>"
            or (self.ctx.aws.endpoint_url and _is_connect_error(error))
        ):
            self._give_up_live_tail(f"StartLiveTail failed ({code or type(error).__name__})")
            return
        self._retry_live_later(code or f"{type(error).__name__}: {error}")

    def _live_records(
        self, results: list[dict[str, Any]], floor: dict[str, int]
    ) -> list[LogRecord]:
        """New records of a session update; moves the cursor and remembers their keys."""
        found = []
        for i, ev in enumerate(results):
            group = self._group_of(str(ev.get("logGroupIdentifier", "")))
            ts = _ms(ev.get("timestamp"))
            if group not in self.groups or ts < floor.get(group, 0):
                continue  # older than the catch-up poll's window: history, not new
            key = _content_key(
                group, str(ev.get("logStreamName", "")), ts, str(ev.get("message", ""))
            )
            if self._caught_up[key] > 0:
                self._caught_up[key] -= 1  # the catch-up poll yielded it already
                continue
            self._tailed[key] += 1
            self._tailed_order[key] = None
            self._tailed_order.move_to_end(key)
            self._cursor[group] = max(self._cursor.get(group, 0), ts)
            found.append((ts, i, group, ev))
        while len(self._tailed_order) > MAX_RECENT_IDS:
            old, _ = self._tailed_order.popitem(last=False)
            self._tailed.pop(old, None)
        found.sort(key=lambda t: (t[0], t[1]))
        return [self._record(ts, "", group, ev) for ts, _, group, ev in found]

    def _group_of(self, identifier: str) -> str:
        ident = identifier.removesuffix(":*")
        if ident in self._group_arns:
            return self._group_arns[ident]
        if ":log-group:" in ident:
            return ident.split(":log-group:", 1)[1]
        return ident

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
        found: dict[tuple[str, str], tuple[int, str, str, dict[str, Any]]] = {}
        restarted: set[str] = set()
        cursors = dict(self._cursor)
        starts: dict[str, int] = {}
        tailed: Counter[bytes] = Counter()
        tailed_ids: list[tuple[str, str, str, int]] = []
        for group in self.groups:
            newest = cursors.get(group, default)
            starts[group] = max(newest - OVERLAP_MS, 0)
            kwargs: dict[str, Any] = {
                "logGroupName": group,
                "startTime": starts[group],
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
                    ts = int(ev.get("timestamp", 0))
                    stream = str(ev.get("logStreamName", ""))
                    if not eid or (group, eid) in found:
                        continue
                    seen = self._recent.get((group, eid))
                    if seen == (stream, ts):
                        continue
                    if seen is not None:
                        restarted.add(group)  # the id names another line now: renumbered
                    if self._tailed:
                        key = _content_key(group, stream, ts, str(ev.get("message", "")))
                        if self._tailed[key] > tailed[key]:
                            tailed[key] += 1  # live tail yielded it: only note its id
                            tailed_ids.append((group, eid, stream, ts))
                            newest = max(newest, ts)
                            continue
                    found[(group, eid)] = (ts, eid, group, ev)
                    newest = max(newest, ts)
                token = page.get("nextToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
            cursors[group] = newest
        ordered = sorted(found.values(), key=lambda t: (t[0], _id_key(t[1])))
        return _Poll(
            first=first,
            cursors=cursors,
            events=ordered,
            generation=generation,
            starts=starts,
            tailed=tailed,
            tailed_ids=tuple(tailed_ids),
            restarted=frozenset(restarted),
        )

    def _commit(self, poll: _Poll) -> list[LogRecord]:
        if poll.generation != self._filter_generation:
            return []  # the filter changed under this poll: the next one redoes its window
        self._cursor = poll.cursors
        for key, n in (poll.tailed or {}).items():
            left = self._tailed[key] - n
            if left > 0:
                self._tailed[key] = left
            else:
                self._tailed.pop(key, None)
                self._tailed_order.pop(key, None)
        if poll.restarted:
            # A new stream: the ids remembered from before the restart name nothing now.
            log.info(
                "event ids of %s started again: the endpoint restarted",
                ", ".join(sorted(poll.restarted)),
            )
            for gone in [k for k in self._recent if k[0] in poll.restarted]:
                del self._recent[gone]
        for group, eid, stream, ts in poll.tailed_ids:
            self._recent[(group, eid)] = (stream, ts)
            self._recent.move_to_end((group, eid))
        for ts, eid, group, ev in poll.events:
            self._recent[(group, eid)] = (str(ev.get("logStreamName", "")), ts)
            self._recent.move_to_end((group, eid))
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


def _error_code(e: BaseException) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "") or "")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code or (str(status) if status else "")
    return ""


def _is_unusable(e: BaseException) -> bool:
    """A reply that is no event stream at all (an HTML error page, plain JSON): not served."""
    from botocore.eventstream import ParserError
    from botocore.parsers import ResponseParserError

    return isinstance(e, ResponseParserError | ParserError)


def _abort(stream: Any) -> None:
    """End a live tail stream that its reader thread may be blocked on, without waiting.

    Closing the response from here would wait for the reader's lock (until the next event
    or the read timeout); shutting the socket down makes the blocked read return at once.
    The reader closes the response itself.
    """
    if stream is None:
        return
    conn = getattr(getattr(stream, "_raw_stream", None), "connection", None)
    sock = getattr(conn, "sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        else:  # not a urllib3 response: close it without holding up the loop
            threading.Thread(target=stream.close, daemon=True).start()
    except OSError:  # already closed
        pass


def _is_connect_error(e: BaseException) -> bool:
    from botocore import exceptions as bx

    return isinstance(e, bx.EndpointConnectionError)


def _id_key(eid: str) -> tuple[int, int | str]:
    # AWS ids are 56-digit strings and moto's are counters: compare numerically when
    # they are numbers so "10" sorts after "9", without otherwise interpreting them.
    return (0, int(eid)) if eid.isdigit() else (1, eid)
