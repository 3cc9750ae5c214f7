"""Redis queues: the queues pane's rows for the keys a profile's ``queues:`` names, and the
Celery, RQ and BullMQ queues ``queues: auto`` detects.

A ``queues:`` item is a key of any name; its ``TYPE`` says how deep it is: a list (``LLEN``),
a stream (the backlog of its consumer groups, see below) or a sorted set of delayed jobs
(``ZCARD``). ``list:KEY`` and ``stream:KEY`` insist on the type of the key KEY. Today's forms
keep working where their key exists: ``queue:X`` and ``stream:X`` read the key of that whole
name when it exists, and otherwise the list (``queue:``) or stream (``stream:``) ``X``.
A key that does not exist is shown as missing (``?``, no depth), never as an empty queue: a
typo looks the same as a drained list (Redis deletes empty lists), so only a list or sorted
set this cockpit has already seen counts as empty when its key goes away.

A stream's depth is its backlog, not its length (XLEN counts retained history): per consumer
group, the lag (entries not yet delivered) plus the pending (delivered, not acknowledged);
the row shows the worst group's and says which. A stream no group reads shows its length.

Every key read runs inside MULTI with ``INFO stats`` before and after it, so the connection
knows exactly how many keyspace hits and misses are the cockpit's own (TYPE and EXISTS count
too), and the database row's hit ratio leaves them out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from cockpit.backends.redis import RedisConnection, _answer, _as_text
from cockpit.errors import ActionRefused
from cockpit.model import DetailSection, PaneKind, QueueStatus, Severity
from cockpit.profile import Thresholds

HISTORY = 60  # queue depths kept per queue, one per refresh (a sparkline's width)
IDLE_CONSUMER_MS = 60_000  # a consumer silent this long is shown as idle
# queues: auto walks the keyspace with SCAN: at most this many calls of this COUNT a detection,
# one detection a minute, at most this many queues of each convention.
SCAN_COUNT = 1000
SCAN_ROUNDS = 10
DETECT_EVERY_S = 60.0
MAX_DETECTED = 50
KOMBU_SEP = "\x06\x16"
CONVENTION_TITLES = {"celery": "Celery", "rq": "RQ", "bullmq": "BullMQ"}
QUEUE_TYPES = ("list", "stream", "zset")
TYPE_NAMES = {"list": "list", "stream": "stream", "zset": "sorted set", "hash": "hash",
              "set": "set", "string": "string"}  # fmt: skip
# Kinds of rows with no depth: the key is missing or of a type that is not a queue.
MISSING = "missing"

Reader = Callable[[Callable[[Any], object]], Awaitable[list[Any]]]


def _stream_id_ms(entry_id: str) -> int | None:
    try:
        return int(entry_id.split("-", 1)[0])
    except (ValueError, AttributeError):
        return None


def candidates(item: str) -> tuple[tuple[str, str], ...]:
    """The keys a ``queues:`` item may name, in order, each with the type it insists on
    ("" for any queue type)."""
    prefix, sep, rest = item.partition(":")
    if sep and rest:
        if prefix == "list":
            return ((rest, "list"),)
        if prefix == "stream":
            return ((item, ""), (rest, "stream"))
        if prefix == "queue":
            return ((item, ""), (rest, "list"))
    return ((item, ""),)


@dataclass(frozen=True)
class Resolved:
    """What a configured item reads this refresh: a key and its type, or why nothing."""

    item: str
    key: str  # the row's name: the key read, or the item itself when there is none
    kind: str  # "list" | "stream" | "zset" | MISSING | another Redis type (not a queue)
    note: str = ""
    empty: bool = False  # a list or sorted set seen before whose key is gone: depth 0
    wrong: bool = False  # the key exists, of a type the item does not allow

    @property
    def queue(self) -> bool:
        """Read as a queue: not missing, not of a wrong type."""
        return self.kind in QUEUE_TYPES and not self.wrong


def resolve(item: str, types: dict[str, str], seen: dict[str, tuple[str, str]], db: int) -> Resolved:
    """Which key ``item`` names, given the TYPE of every candidate key; ``seen`` holds the key
    and type each item resolved to before."""
    keys = candidates(item)
    for key, want in keys:
        kind = types.get(key, "none")
        if kind == "none":
            continue
        what = TYPE_NAMES.get(kind, kind)
        if want and kind != want:
            via = f" ({item})" if key != item else ""
            return Resolved(item, item, kind, f"{key} is a {what}, not a {TYPE_NAMES[want]}{via}: "
                            "check queues: in profiles.yaml", wrong=True)  # fmt: skip
        if kind not in QUEUE_TYPES:
            return Resolved(item, item, kind, f"{key} is a {what}, not a queue (a list, a stream, "
                            "or a sorted set of delayed jobs): check queues: in profiles.yaml",
                            wrong=True)  # fmt: skip
        return Resolved(item, key, kind, f"configured as {item}" if key != item else "")
    before = seen.get(item)
    if before is not None and before[1] in ("list", "zset"):
        key, kind = before
        via = f" (configured as {item})" if key != item else ""
        return Resolved(item, key, kind, f"empty: Redis deletes a {TYPE_NAMES[kind]} when its "
                        f"last item goes{via}", empty=True)  # fmt: skip
    names = [k for k, _ in keys]
    where = f"in db{db}"
    if len(names) == 1:
        note = f"missing: no key {names[0]} {where}"
    else:
        note = f"missing: neither key {names[0]} nor {names[1]} exists {where}"
    if any(want in ("", "list") for _, want in keys):
        note += " (Redis deletes a drained list too)"
    return Resolved(item, item, MISSING, note + ": check the name under queues: in profiles.yaml")


def stream_backlog(length: int, groups: list[dict[str, Any]]) -> tuple[int, str, list[int | None]]:
    """The stream's depth (its worst group's lag + pending, or its length when no group reads
    it), the note saying which, and each group's backlog (None: Redis cannot tell the lag)."""
    entries = f"{length:,} entr{'y' if length == 1 else 'ies'}"
    if not groups:
        return length, f"no consumer group: depth is the stream's length, {entries}", []
    backlogs: list[int | None] = []
    for g in groups:
        lag = g.get("lag")
        backlogs.append(None if lag is None else int(lag) + int(g.get("pending") or 0))
    # Lag is unknown after XDEL or a trim past undelivered entries: the length bounds it.
    bounded = [length if b is None else b for b in backlogs]
    worst = max(range(len(groups)), key=bounded.__getitem__)
    g = groups[worst]
    name = _as_text(g.get("name", ""))
    n = len(groups)
    tail = f"; {entries}, {n} group{'' if n == 1 else 's'}"
    if backlogs[worst] is None:
        why = "lag unknown (Redis before 7, or entries deleted): counted as the length"
        return length, f"backlog of group {name}: {why}{tail}", backlogs
    depth = int(backlogs[worst] or 0)
    pending = int(g.get("pending") or 0)
    return depth, f"backlog of group {name}: lag {g['lag']} + pending {pending}{tail}", backlogs


@dataclass(frozen=True)
class DetectedQueue:
    """A queue found by ``queues: auto``: its key, how deep it is measured, why it matched."""

    key: str  # the Redis key the depth is read from (the row's name)
    convention: str  # "celery" | "rq" | "bullmq"
    note: str  # which keys matched, for the row's detail
    active_key: str = ""  # BullMQ: the list of jobs being processed (in flight)


def _kombu_queues(members: set[str]) -> set[str]:
    """Queue names from the members of ``_kombu.binding.<exchange>`` sets.

    kombu's Redis transport stores ``routing_key SEP pattern SEP queue`` (SEP = ``\\x06\\x16``).
    """
    out = set()
    for m in members:
        queue = m.split(KOMBU_SEP)[-1]
        if queue:
            out.add(queue)
    return out


def bullmq_queues(keys: list[str], types: dict[str, str]) -> list[DetectedQueue]:
    """BullMQ queues among scanned ``keys`` (``types``: the TYPE of each): a ``bull:NAME:wait``
    list, or a ``bull:NAME:meta`` hash for a queue whose wait list is empty (deleted)."""
    found: dict[str, DetectedQueue] = {}
    for key in sorted(keys):
        kind = types.get(key, "")
        if key.startswith("bull:") and key.endswith(":wait") and kind in ("list", "none"):
            name = key[len("bull:") : -len(":wait")]
            found[key] = DetectedQueue(
                key, "bullmq", f"BullMQ queue {name}: list bull:{name}:wait",
                active_key=f"bull:{name}:active",
            )  # fmt: skip
        elif key.startswith("bull:") and key.endswith(":meta") and kind == "hash":
            name = key[len("bull:") : -len(":meta")]
            wait = f"bull:{name}:wait"
            if wait not in found:
                found[wait] = DetectedQueue(
                    wait, "bullmq", f"BullMQ queue {name}: hash bull:{name}:meta",
                    active_key=f"bull:{name}:active",
                )  # fmt: skip
    return list(found.values())


class RedisQueuesSource:
    """The queues pane's rows for the keys configured on one server, and with
    ``queues: auto`` the Celery, RQ and BullMQ queues detected on it."""

    pane = PaneKind.QUEUES

    def __init__(self, conn: RedisConnection, thresholds: Thresholds) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self.queues = conn.cfg.queue_keys
        self.auto = conn.cfg.auto_queues
        self.id = f"redis:{conn.cfg.name}:queues"
        self.title = f"Redis {conn.cfg.name} queues"
        self._history: dict[str, deque[float]] = {}
        self._kinds: dict[str, str] = {}  # row name -> "list" | "stream" | "zset" | convention...
        self._seen: dict[str, tuple[str, str]] = {}  # item -> the key and type it last named
        self._notes: dict[str, str] = {}  # row name -> what its depth means
        self._lengths: dict[str, int] = {}  # stream row name -> its length at the last refresh
        self._detected: list[DetectedQueue] = []
        self._detected_at = -DETECT_EVERY_S  # monotonic; detect on the first refresh
        self.scan_note = ""  # how much of the keyspace the last detection examined
        conn.acquire()

    @property
    def db(self) -> int:
        return self.conn.db

    async def fetch(self) -> list[QueueStatus]:
        async def call(r: Any) -> list[QueueStatus]:
            def read(build: Callable[[Any], object]) -> Awaitable[list[Any]]:
                return self.conn.quietly(r, build)

            if self.auto and time.monotonic() - self._detected_at >= DETECT_EVERY_S:
                self._detected, self.scan_note = await detect_queues(r, read)
                self._detected_at = time.monotonic()
            keys = list(dict.fromkeys(k for item in self.queues for k, _ in candidates(item)))

            def types_and_time(p: Any) -> None:
                for key in keys:
                    p.type(key)
                p.time()

            *types, (now_s, now_us) = await read(types_and_time)
            now_ms = now_s * 1000 + now_us // 1000  # the server's clock, as stream ids are
            by_key = dict(zip(keys, types, strict=True))
            db = self.db
            resolved: list[Resolved] = []
            for item in self.queues:
                res = resolve(item, by_key, self._seen, db)
                if res.queue:
                    self._seen[item] = (res.key, res.kind)
                if all(res.key != other.key for other in resolved):  # two items, one key
                    resolved.append(res)
            shown = {res.key for res in resolved}
            detected = [d for d in self._detected if d.key not in shown]
            readable = [res for res in resolved if res.queue and not res.empty]

            # Every key's depth in one round trip (a round trip a command was most of what
            # a refresh cost the cockpit).
            def depths(p: Any) -> None:
                for res in readable:
                    if res.kind == "stream":
                        p.xlen(res.key)
                        p.xinfo_groups(res.key)
                    else:
                        (p.zcard if res.kind == "zset" else p.llen)(res.key)
                for d in detected:
                    p.llen(d.key)
                    if d.active_key:
                        p.llen(d.active_key)

            answers = iter(await read(depths))
            streams: dict[str, tuple[int, list[dict[str, Any]]]] = {}
            sized: dict[str, int] = {}
            for res in readable:
                if res.kind == "stream":
                    length, groups = int(_answer(next(answers))), next(answers)
                    streams[res.key] = (length, [] if isinstance(groups, Exception) else groups)
                else:
                    sized[res.key] = int(_answer(next(answers)))
            rows = []
            oldest = await self._oldest_pending(read, streams, now_ms)
            for res in resolved:
                if res.key in streams:
                    length, groups = streams[res.key]
                    self._lengths[res.key] = length
                    depth, note, _ = stream_backlog(length, groups)
                    pending = sum(int(g.get("pending") or 0) for g in groups)
                    note = "; ".join(n for n in (note, res.note) if n)
                    rows.append(self._row(res.key, depth, kind="stream", note=note,
                                          in_flight=pending, oldest_age_s=oldest.get(res.key)))  # fmt: skip
                elif res.queue:
                    note = res.note
                    if res.kind == "zset":
                        note = "; ".join(n for n in ("sorted set of delayed jobs: depth is ZCARD",
                                                     note) if n)  # fmt: skip
                    rows.append(self._row(res.key, sized.get(res.key, 0), kind=res.kind, note=note))
                else:  # missing, or not a queue type: no depth to show, and never green
                    rows.append(self._row(res.key, None, kind=MISSING if res.kind == MISSING
                                          else res.kind, note=res.note))  # fmt: skip
            for d in detected:
                depth = int(_answer(next(answers)))
                active = int(_answer(next(answers))) if d.active_key else None
                rows.append(self._row(d.key, depth, in_flight=active, kind=d.convention))
            return rows

        rows = await self.conn.run("queue depths", call)
        # Only a successful refresh adds a point: a gap in the data is not a zero depth.
        out = []
        self._kinds = {row.name: row.kind for row in rows}
        self._notes = {row.name: row.note for row in rows}
        for row in rows:
            history = self._history.setdefault(row.name, deque(maxlen=HISTORY))
            if row.depth is not None:
                history.append(float(row.depth))
            out.append(replace(row, history=tuple(history)))
        for gone in set(self._history) - set(self._kinds):
            del self._history[gone]  # a detected queue that went away
        return out

    async def _oldest_pending(
        self, read: Reader, streams: dict[str, tuple[int, list[dict[str, Any]]]], now_ms: int
    ) -> dict[str, float]:
        """Per stream, the age of its oldest pending entry across its groups (XPENDING)."""
        asked = [(key, g["name"]) for key, (_, groups) in streams.items()
                 for g in groups if int(g.get("pending") or 0)]  # fmt: skip
        if not asked:
            return {}
        summaries = await read(lambda p: [p.xpending(key, group) for key, group in asked])
        oldest: dict[str, float] = {}
        for (key, _), summary in zip(asked, summaries, strict=True):
            if isinstance(summary, Exception):
                continue
            ms = _stream_id_ms(str(summary.get("min") or ""))
            if ms is not None:
                age = max(0.0, (now_ms - ms) / 1000)
                oldest[key] = max(oldest.get(key, age), age)
        return oldest

    def history(self, key: str) -> tuple[float, ...]:
        return tuple(self._history.get(key, ()))

    def _row(self, key: str, depth: int | None, **kw: Any) -> QueueStatus:
        if depth is None:
            severity = Severity.UNKNOWN
        else:
            severity = Severity.WARNING if depth > self.thresholds.queue_depth else Severity.OK
        return QueueStatus(
            name=key,
            backend="redis",
            source=self.id,
            depth=depth,
            severity=severity,
            url=self.conn.masked,
            **kw,
        )

    async def detail(self, record: Any) -> list[DetailSection]:
        """What the row's depth means; a stream's consumer groups (pending, lag, backlog,
        consumers); any queue's recent depths; for a detected queue, which convention matched
        and on which keys."""
        key = getattr(record, "name", "")
        sections: list[DetailSection] = []
        note = getattr(record, "note", "") or self._notes.get(key, "")
        if note:
            sections.append(DetailSection("What the depth is", lines=(note,)))
        for d in self._detected:
            if d.key == key and key not in self.queues:
                sections.append(
                    DetailSection(
                        f"Detected by queues: auto as {CONVENTION_TITLES[d.convention]}",
                        lines=(f"matched: {d.note}", self.scan_note),
                    )
                )
        depths = self.history(key)
        if depths:
            sections.append(
                DetailSection(
                    f"Depth over the last {len(depths)} refreshes (oldest first)",
                    lines=(" ".join(str(int(d)) for d in depths),),
                )
            )
        if self._kinds.get(key) != "stream":
            return sections

        async def call(r: Any) -> list[DetailSection]:
            length, groups = await self.conn.quietly(
                r, lambda p: (p.xlen(key), p.xinfo_groups(key))
            )
            if isinstance(length, Exception):  # no longer a stream
                return []
            groups = [] if isinstance(groups, Exception) else groups
            consumers = await self.conn.quietly(
                r, lambda p: [p.xinfo_consumers(key, g["name"]) for g in groups]
            )
            _, _, backlogs = stream_backlog(int(length), groups)
            rows = []
            for g, members, backlog in zip(groups, consumers, backlogs, strict=True):
                members = [] if isinstance(members, Exception) else members
                idle = [c for c in members if int(c.get("idle") or 0) > IDLE_CONSUMER_MS]
                rows.append(
                    (
                        _as_text(g["name"]),
                        str(len(members)),
                        str(len(idle)),
                        str(g.get("pending", 0)),
                        "unknown" if g.get("lag") is None else str(g["lag"]),
                        "unknown" if backlog is None else str(backlog),
                        _as_text(g.get("last-delivered-id", "")),
                    )
                )
            lines = [f"stream length: {int(length):,} entries (XLEN, retained history)"]
            if rows:
                lines.append("backlog = lag (not yet delivered) + pending (not acknowledged); "
                             "the row's depth is the worst group's")  # fmt: skip
            else:
                lines.append("no consumer group reads this stream")
            return [
                DetailSection(
                    "Consumer groups",
                    ("group", "consumers", "idle > 60 s", "pending", "lag", "backlog",
                     "last delivered"),
                    tuple(rows),
                    tuple(lines),
                )  # fmt: skip
            ]

        return sections + await self.conn.run(f"XINFO GROUPS {key}", call)

    def explain_command(self) -> list[str]:
        item = self.queues[0] if self.queues else ""
        if not item:  # queues: auto alone: the detection's own walk of the keyspace
            return self.conn.cli("--scan", "--count", str(SCAN_COUNT))
        key, kind = self._seen.get(item, (item, ""))
        if kind == "stream":
            return self.conn.cli("XINFO", "GROUPS", key)
        if kind in ("list", "zset"):
            return self.conn.cli("ZCARD" if kind == "zset" else "LLEN", key)
        return self.conn.cli("TYPE", key)

    # --- capabilities: delete a queue's key, trim a stream -------------------------------

    def _known(self, target: QueueStatus) -> str:
        """The row's kind; refuses a row of another source or a key no longer shown."""
        if target.source != self.id:
            raise ActionRefused(f"{target.name} is not a queue of source {self.id}")
        kind = self._kinds.get(target.name)
        if kind is None:
            raise ActionRefused(
                f"{target.name} is not a queue this source shows (any more)",
                "refresh the queues pane and pick the row again",
            )
        return kind

    def _check_delete(self, target: QueueStatus) -> None:
        kind = self._known(target)
        if target.depth is None or kind not in (*QUEUE_TYPES, *CONVENTION_TITLES):
            raise ActionRefused(
                f"{target.name} is not a queue key this source reads: nothing to delete",
                self._notes.get(target.name) or "check queues: in profiles.yaml",
            )
        if kind in ("rq", "bullmq"):
            how = "rq empty " + target.name.removeprefix("rq:queue:") if kind == "rq" else (
                "Queue.obliterate() or Queue.drain() from BullMQ"
            )
            raise ActionRefused(
                f"deleting {target.name} would leave its {CONVENTION_TITLES[kind]} job records "
                "behind",
                f"use {how}",
            )

    def delete_queue_key_command(self, target: QueueStatus) -> list[str]:
        self._check_delete(target)
        return self.conn.cli("DEL", target.name)

    async def delete_queue_key(self, target: QueueStatus) -> str:
        self._check_delete(target)

        async def call(r: Any) -> tuple[str, int, int]:
            kind = await r.type(target.name)
            depth = 0
            if kind in ("list", "stream", "zset"):
                size = {"list": r.llen, "stream": r.xlen, "zset": r.zcard}[kind]
                depth = int(await size(target.name))
            return kind, depth, int(await r.delete(target.name))

        kind, depth, deleted = await self.conn.run(f"DEL {target.name}", call)
        if not deleted:
            return f"{target.name} on {self.conn.cfg.name} was already gone: nothing deleted"
        return f"deleted {kind} {target.name} on {self.conn.cfg.name} with {depth} item(s)"

    def _check_trim(self, target: QueueStatus) -> None:
        kind = self._known(target)
        if kind != "stream":
            raise ActionRefused(
                f"{target.name} is a {kind}, not a stream: only streams can be trimmed",
                "queue: delete key empties a list",
            )

    def stream_length(self, target: QueueStatus) -> int:
        """Entries the stream held at the last refresh: a trim's default keeps them all (its
        depth is a group's backlog, and trimming to it would drop entries still pending)."""
        return self._lengths.get(target.name, target.depth or 0)

    def trim_stream_command(self, target: QueueStatus, maxlen: int) -> list[str]:
        self._check_trim(target)
        return self.conn.cli("XTRIM", target.name, "MAXLEN", "~", str(int(maxlen)))

    async def trim_stream(self, target: QueueStatus, maxlen: int) -> str:
        self._check_trim(target)

        async def call(r: Any) -> tuple[int, int]:
            if await r.type(target.name) not in ("stream", "none"):
                raise ActionRefused(f"{target.name} is no longer a stream")
            removed = int(await r.xtrim(target.name, maxlen=int(maxlen), approximate=True))
            return removed, int(await r.xlen(target.name))

        removed, left = await self.conn.run(f"XTRIM {target.name}", call)
        return (
            f"trimmed {target.name} on {self.conn.cfg.name} to about {maxlen}: "
            f"{removed} entr{'y' if removed == 1 else 'ies'} removed, {left} left"
        )

    async def close(self) -> None:
        await self.conn.release()


async def detect_queues(r: Any, read: Reader) -> tuple[list[DetectedQueue], str]:
    """Celery, RQ and BullMQ queues on the connection's db, and what was examined.

    RQ names its queues in the set ``rq:queues``; Celery (kombu) in ``_kombu.binding.*``
    sets, plus its default list ``celery``; BullMQ keeps ``bull:NAME:wait`` lists and
    ``bull:NAME:meta`` hashes. The keyspace is walked with SCAN, at most ``SCAN_ROUNDS`` calls
    of ``COUNT SCAN_COUNT`` (never KEYS, which blocks the server while it walks everything).
    ``read`` runs the key reads (RedisConnection.quietly: not counted in the hit ratio).
    """

    async def type_of(key: str) -> str:
        return str(_answer((await read(lambda p: p.type(key)))[0]))

    async def members(key: str) -> set[str]:
        return set(_answer((await read(lambda p: p.smembers(key)))[0]))

    keys: list[str] = []
    cursor: Any = 0
    rounds = 0
    while True:
        cursor, batch = await r.scan(cursor=cursor, count=SCAN_COUNT)
        keys.extend(k for k in batch if k.startswith(("bull:", "_kombu.binding.")) or k == "celery")
        rounds += 1
        if int(cursor) == 0 or rounds >= SCAN_ROUNDS:
            break
    complete = int(cursor) == 0
    found: list[DetectedQueue] = []

    # RQ: the set is authoritative, whatever the scan reached.
    rq_set = await type_of("rq:queues") == "set"
    rq_members = sorted(await members("rq:queues")) if rq_set else []
    for m in rq_members[:MAX_DETECTED]:
        key = m if m.startswith("rq:queue:") else f"rq:queue:{m}"
        found.append(DetectedQueue(key, "rq", f"RQ queue {key.removeprefix('rq:queue:')}: "
                                              "member of the set rq:queues"))  # fmt: skip

    # Celery: queues bound in kombu's exchange tables (not its pidbox / event fanouts).
    bindings = [k for k in keys if k.startswith("_kombu.binding.")]
    celery: dict[str, str] = {}
    for b in bindings:
        exchange = b.removeprefix("_kombu.binding.")
        if exchange.endswith(".pidbox") or exchange.startswith("celeryev"):
            continue
        if await type_of(b) != "set":
            continue
        for q in sorted(_kombu_queues(await members(b))):
            celery.setdefault(q, f"Celery queue {q}: bound in the kombu set {b}")
    if "celery" in keys and "celery" not in celery and await type_of("celery") == "list":
        celery["celery"] = "Celery's default queue: the list celery"
    for q, note in sorted(celery.items())[:MAX_DETECTED]:
        found.append(DetectedQueue(q, "celery", note))

    # BullMQ: TYPE of each candidate, in one round trip.
    bull = [k for k in keys if k.endswith((":wait", ":meta"))][: MAX_DETECTED * 2]
    types: dict[str, str] = {}
    if bull:
        answers = await read(lambda p: [p.type(k) for k in bull])
        types = dict(zip(bull, map(_answer, answers), strict=True))
    found.extend(bullmq_queues(bull, types)[:MAX_DETECTED])

    examined = f"{len(keys)} candidate key(s) in {rounds} SCAN call(s) of COUNT {SCAN_COUNT}"
    note = (
        f"scan: {examined}, the whole db"
        if complete
        else f"scan: {examined}, stopped before the end of a large db: some queues may be missing"
    )
    return found, note

