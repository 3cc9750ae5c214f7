"""Redis -> a ``DatabaseSnapshot`` (INFO) and, when queues are configured, ``QueueStatus`` rows.

Queues are named as the profile's ``queues:`` entries: ``queue:default`` is a list key of
that name (depth ``LLEN``), ``stream:events`` a stream key (depth ``XLEN``, in flight the
pending entries of its consumer groups). A key that does not exist is an empty queue (Redis
deletes empty lists). The two sources of one server share one client. The URL is resolved
only here; messages show it with the password masked.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cockpit.errors import ActionRefused, BackendError, CockpitError
from cockpit.masking import MASK, is_secret_name, mask_text, mask_url
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind, QueueStatus, Severity
from cockpit.profile import Profile, RedisConfig, Thresholds

SOCKET_TIMEOUT_S = 3.0
CRITICAL_RATIO = 0.95
HISTORY = 60  # queue depths kept per queue, one per refresh (a sparkline's width)
SLOWLOG_TOP = 10
IDLE_CONSUMER_MS = 60_000  # a consumer silent this long is shown as idle
# queues: auto walks the keyspace with SCAN: at most this many calls of this COUNT a detection,
# one detection a minute, at most this many queues of each convention.
SCAN_COUNT = 1000
SCAN_ROUNDS = 10
DETECT_EVERY_S = 60.0
MAX_DETECTED = 50
KOMBU_SEP = "\x06\x16"
CONVENTION_TITLES = {"celery": "Celery", "rq": "RQ", "bullmq": "BullMQ"}

# INFO fields shown in the detail, by section, as (field, label).
MEMORY_FIELDS = (
    ("used_memory_human", "used"),
    ("used_memory_peak_human", "peak"),
    ("used_memory_rss_human", "resident (RSS)"),
    ("maxmemory_human", "maxmemory (0 = no limit)"),
    ("maxmemory_policy", "eviction policy"),
    ("mem_fragmentation_ratio", "fragmentation ratio"),
)
STATS_FIELDS = (
    ("instantaneous_ops_per_sec", "ops/s"),
    ("total_commands_processed", "commands processed"),
    ("keyspace_hits", "keyspace hits"),
    ("keyspace_misses", "keyspace misses"),
    ("evicted_keys", "evicted keys"),
    ("expired_keys", "expired keys"),
    ("rejected_connections", "rejected connections"),
    ("total_connections_received", "connections received"),
)


def _scrub(text: str, url: str) -> str:
    """The error's first line without the URL's password (in its userinfo or its query)."""
    try:
        parts = urlsplit(url)
        secrets = [parts.password or ""]
        secrets += [v for k, v in parse_qsl(parts.query) if is_secret_name(k)]
    except ValueError:
        secrets = []
    first = (text.strip().splitlines() or [""])[0]
    for secret in filter(None, secrets):
        first = first.replace(secret, MASK)
    return mask_text(first)


def _ratio_severity(used: float, limit: float, warn: float) -> Severity:
    if not limit:
        return Severity.OK
    ratio = used / limit
    if ratio >= CRITICAL_RATIO:
        return Severity.CRITICAL
    return Severity.WARNING if ratio >= warn else Severity.OK


def db_number(url: str) -> int:
    """The logical database a Redis URL selects (``/N`` or ``?db=N``; 0 by default)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return 0
    path = parts.path.strip("/")
    if path.isdigit():
        return int(path)
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if name == "db" and value.isdigit():
            return int(value)
    return 0


def _stream_id_ms(entry_id: str) -> int | None:
    try:
        return int(entry_id.split("-", 1)[0])
    except (ValueError, AttributeError):
        return None


class RedisConnection:
    """One ``redis.asyncio`` client per configured server, shared by its sources."""

    def __init__(self, cfg: RedisConfig) -> None:
        self.cfg = cfg
        self._client: Any = None
        self._users = 0
        self.masked = ""

    def url(self) -> str:
        url = self.cfg.url.resolve()  # ConfigError names a missing env var / file
        self.masked = mask_url(url)
        return url

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self._drop()

    def client(self) -> Any:
        if self._client is None:
            import redis.asyncio as aredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # No client-side retries: the hub has its own backoff, and retries would hold a
            # refresh well past its timeout when the server is down.
            self._client = aredis.Redis.from_url(
                self.url(),
                decode_responses=True,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
                socket_timeout=SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
                client_name="ops-cockpit",
            )
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # a broken connection: nothing more to release
                pass

    async def run(self, doing: str, call: Any) -> Any:
        """``await call(client)``, turning redis errors into BackendError with a hint."""
        import redis.exceptions as rex

        url = ""
        try:
            url = self.url()
            return await call(self.client())
        except CockpitError:
            raise
        except rex.AuthenticationError as e:
            raise BackendError(
                f"authentication failed for Redis {self.masked}",
                "check the password reference (env:NAME or file:PATH) of this url in "
                "profiles.yaml",
            ) from e
        except (TimeoutError, rex.ConnectionError, rex.TimeoutError, OSError) as e:
            await self._drop()
            why = _scrub(str(e), url) or type(e).__name__
            raise BackendError(
                f"cannot connect to Redis {self.masked}: {why}",
                "is redis-server running? check the url",
            ) from e
        except rex.ResponseError as e:
            why = _scrub(str(e), url)
            hint = (
                "the user lacks permission: check its ACL"
                if why.startswith("NOPERM")
                else "check the key names under queues: in profiles.yaml"
                if why.startswith("WRONGTYPE")
                else "check the server's log"
            )
            raise BackendError(f"{doing} on Redis {self.masked} failed: {why}", hint) from e
        except rex.RedisError as e:
            await self._drop()
            raise BackendError(
                f"{doing} on Redis {self.masked} failed: {_scrub(str(e), url)}",
                "check the server's log",
            ) from e
        except BaseException:
            # Cancelled by the hub mid-command: the connection's state is unknown.
            await self._drop()
            raise

    def cli(self, *args: str) -> list[str]:
        try:
            self.url()
        except CockpitError:
            return ["redis-cli", *args]
        return ["redis-cli", "-u", self.masked, *args]


def _answer(value: Any) -> Any:
    """A pipeline's answer, or the error it stands for (raise_on_error=False)."""
    if isinstance(value, Exception):
        raise value
    return value


class RedisSource:
    """The database pane's row for one Redis server."""

    pane = PaneKind.DATABASE

    def __init__(self, conn: RedisConnection, thresholds: Thresholds) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self.id = f"redis:{conn.cfg.name}"
        self.title = f"Redis {conn.cfg.name}"
        conn.acquire()

    async def fetch(self) -> list[DatabaseSnapshot]:
        async def call(r: Any) -> tuple[dict[str, Any], Any, int]:
            # One round trip: INFO (every section) and DBSIZE (never KEYS *, which blocks
            # the server while it walks the whole keyspace).
            async with r.pipeline(transaction=False) as p:
                p.info()
                p.dbsize()
                info, dbsize = await p.execute()
            maxclients = info.get("maxclients")
            if maxclients is None:  # before Redis 7 only CONFIG says; managed Redis may refuse
                try:
                    maxclients = (await r.config_get("maxclients")).get("maxclients")
                except Exception:
                    maxclients = None
            return info, maxclients, int(dbsize)

        info, maxclients, dbsize = await self.conn.run("INFO", call)
        return [self.snapshot(info, maxclients, dbsize)]

    def snapshot(
        self, info: dict[str, Any], maxclients: Any, dbsize: int | None = None
    ) -> DatabaseSnapshot:
        clients = int(info.get("connected_clients", 0))
        max_clients = int(maxclients) if maxclients not in (None, "") else None
        used = int(info.get("used_memory", 0))
        maxmemory = int(info.get("maxmemory", 0) or 0)
        hits = int(info.get("keyspace_hits", 0))
        misses = int(info.get("keyspace_misses", 0))
        keyspace = ", ".join(
            f"{k}={v.get('keys', 0)} keys"
            for k, v in sorted(info.items())
            if k.startswith("db") and k[2:].isdigit() and isinstance(v, dict)
        )
        detail = [
            ("server", self.conn.masked),
            ("version", str(info.get("redis_version", ""))),
            ("role", str(info.get("role", ""))),
            ("ops/s", str(info.get("instantaneous_ops_per_sec", 0))),
            ("keyspace", keyspace or "empty"),
            ("hit ratio", f"{100 * hits / (hits + misses):.1f} %" if hits + misses else "n/a"),
            ("memory", str(info.get("used_memory_human", used))),
            ("blocked clients", str(info.get("blocked_clients", 0))),
            ("eviction policy", str(info.get("maxmemory_policy", ""))),
            ("evicted keys", str(info.get("evicted_keys", 0))),
            ("expired keys", str(info.get("expired_keys", 0))),
        ]
        if dbsize is not None:
            detail.append((f"keys in db{self.db}", str(dbsize)))
        if info.get("role") == "slave":
            detail.append(("master link", str(info.get("master_link_status", ""))))
        if maxmemory:
            detail.append(("maxmemory", str(info.get("maxmemory_human", maxmemory))))
        severity = max(
            _ratio_severity(clients, max_clients or 0, self.thresholds.connections),
            _ratio_severity(used, maxmemory, self.thresholds.memory / 100),
        )
        return DatabaseSnapshot(
            name=self.conn.cfg.name,
            backend="redis",
            source=self.id,
            connections=clients,
            max_connections=max_clients,
            size_bytes=used,
            status="up",
            severity=severity,
            detail=tuple(detail),
            cache_hit_ratio=math.floor(1e4 * hits / (hits + misses)) / 1e4 if hits + misses else None,
            role={"master": "primary", "slave": "replica"}.get(str(info.get("role")), ""),
        )

    @property
    def db(self) -> int:
        try:
            return db_number(self.conn.url())
        except CockpitError:
            return 0

    def explain_command(self) -> list[str]:
        return self.conn.cli("INFO")

    async def detail(self, record: Any) -> list[DetailSection]:
        """INFO memory and stats, and the slowlog's top entries (DetailProvider)."""

        async def call(r: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            async with r.pipeline(transaction=False) as p:
                p.info()
                p.slowlog_get(SLOWLOG_TOP)
                info, slowlog = await p.execute()
            return info, slowlog

        info, slowlog = await self.conn.run("INFO and SLOWLOG", call)
        return redis_sections(info, slowlog)

    # --- capability: flush the configured db -------------------------------------------

    def _check_target(self, target: DatabaseSnapshot) -> None:
        # The runner resolves the backend from the record's source; a record of another
        # server must never flush this one.
        if target.source != self.id:
            raise ActionRefused(f"{target.name} is not the Redis of source {self.id}")

    def flush_db_command(self, target: DatabaseSnapshot) -> list[str]:
        self._check_target(target)
        return self.conn.cli("FLUSHDB")  # the URL selects the db; the password is masked

    async def flush_db(self, target: DatabaseSnapshot) -> str:
        self._check_target(target)

        async def call(r: Any) -> int:
            before = int(await r.dbsize())
            await r.flushdb()  # this connection's db only: never FLUSHALL
            return before

        before = await self.conn.run("FLUSHDB", call)
        return f"flushed db{self.db} of {target.name}: {before} key(s) deleted"

    # --- capability: flush every db, only where the profile allows it ---------------------

    def _check_flushall(self, target: DatabaseSnapshot) -> None:
        self._check_target(target)
        if not self.conn.cfg.allow_flushall:
            name = self.conn.cfg.name
            raise ActionRefused(
                f"FLUSHALL is not enabled for Redis {name}: it deletes every key of every db "
                "on the server",
                f"set allow_flushall: true on the redis: entry named {name} in profiles.yaml "
                f"to allow it; cache: flush empties only db{self.db}",
            )

    def flush_all_command(self, target: DatabaseSnapshot) -> list[str]:
        self._check_flushall(target)
        return self.conn.cli("FLUSHALL")

    async def flush_all(self, target: DatabaseSnapshot) -> str:
        self._check_flushall(target)  # again here: the runner is not the only caller

        async def call(r: Any) -> int:
            info = await r.info("keyspace")
            before = sum(
                int(v.get("keys", 0)) for k, v in info.items()
                if k.startswith("db") and isinstance(v, dict)
            )  # fmt: skip
            await r.flushall()
            return before

        before = await self.conn.run("FLUSHALL", call)
        return f"flushed every db of {target.name}: {before} key(s) deleted"

    async def close(self) -> None:
        await self.conn.release()


def redis_sections(info: dict[str, Any], slowlog: list[dict[str, Any]]) -> list[DetailSection]:
    def fields(spec: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple((label, str(info[k])) for k, label in spec if k in info)

    keyspace = tuple(
        (k, str(v.get("keys", 0)), str(v.get("expires", 0)))
        for k, v in sorted(info.items())
        if k.startswith("db") and k[2:].isdigit() and isinstance(v, dict)
    )
    sections = [
        DetailSection("Memory (INFO memory)", ("field", "value"), fields(MEMORY_FIELDS)),
        DetailSection("Stats (INFO stats)", ("field", "value"), fields(STATS_FIELDS)),
        DetailSection(
            "Keyspace", ("db", "keys", "with expiry"), keyspace,
            () if keyspace else ("no keys in any db",),
        ),  # fmt: skip
    ]
    rows = tuple(
        (
            str(e.get("id", "")),
            f"{int(e.get('duration', 0)) / 1000:.1f} ms",
            _as_text(e.get("command", "")),
        )
        for e in slowlog
    )
    sections.append(
        DetailSection(
            "Slowlog (slowest recent commands)", ("id", "duration", "command"), rows,
            () if rows else ("the slowlog is empty",),
        )  # fmt: skip
    )
    return sections


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


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
    """The queues pane's rows for the lists and streams configured on one server, and with
    ``queues: auto`` the Celery, RQ and BullMQ queues detected on it."""

    pane = PaneKind.QUEUES

    def __init__(self, conn: RedisConnection, thresholds: Thresholds) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self.queues = conn.cfg.queue_keys
        self.auto = conn.cfg.auto_queues
        self.id = f"redis:{conn.cfg.name}:queues"
        self.title = f"Redis {conn.cfg.name} queues"
        self._history: dict[str, deque[float]] = {k: deque(maxlen=HISTORY) for k in self.queues}
        self._kinds: dict[str, str] = {}  # row name -> "list" | "stream" | convention
        self._detected: list[DetectedQueue] = []
        self._detected_at = -DETECT_EVERY_S  # monotonic; detect on the first refresh
        self.scan_note = ""  # how much of the keyspace the last detection examined
        conn.acquire()

    async def fetch(self) -> list[QueueStatus]:
        async def call(r: Any) -> list[QueueStatus]:
            import redis.exceptions as rex

            if self.auto and time.monotonic() - self._detected_at >= DETECT_EVERY_S:
                self._detected, self.scan_note = await detect_queues(r)
                self._detected_at = time.monotonic()
            async with r.pipeline(transaction=False) as p:
                for key in self.queues:
                    p.type(key)
                p.time()
                *types, (now_s, now_us) = await p.execute()
            now_ms = now_s * 1000 + now_us // 1000  # the server's clock, as stream ids are
            kinds = []
            for key, kind in zip(self.queues, types, strict=True):
                if kind == "none":  # an emptied list is deleted; a stream never is
                    kind = "stream" if key.startswith("stream:") else "list"
                kinds.append((key, kind))
            # Every key's depth in one round trip (a round trip a command was most of what
            # a refresh cost the cockpit).
            async with r.pipeline(transaction=False) as p:
                for key, kind in kinds:
                    if kind == "stream":
                        p.xlen(key)
                        p.xinfo_groups(key)
                    else:
                        p.llen(key)
                answers = iter(await p.execute(raise_on_error=False))
            rows = []
            for key, kind in kinds:
                if kind == "stream":
                    depth, groups = _answer(next(answers)), next(answers)
                    if isinstance(groups, rex.ResponseError):  # "no such key": never created
                        groups = []
                    rows.append(await self._stream(r, key, now_ms, int(depth), groups))
                else:
                    # A WRONGTYPE reply for sets/hashes says which key is misconfigured.
                    rows.append(self._row(key, int(_answer(next(answers))), kind="list"))
            configured = set(self.queues)
            detected = [d for d in self._detected if d.key not in configured]
            if detected:
                async with r.pipeline(transaction=False) as p:
                    for d in detected:
                        p.llen(d.key)
                        if d.active_key:
                            p.llen(d.active_key)
                    answers = iter(await p.execute())
                for d in detected:
                    depth = int(next(answers))
                    active = int(next(answers)) if d.active_key else None
                    rows.append(self._row(d.key, depth, in_flight=active, kind=d.convention))
            return rows

        rows = await self.conn.run("queue depths", call)
        # Only a successful refresh adds a point: a gap in the data is not a zero depth.
        out = []
        self._kinds = {row.name: row.kind for row in rows}
        for row in rows:
            history = self._history.setdefault(row.name, deque(maxlen=HISTORY))
            history.append(float(row.depth))
            out.append(replace(row, history=tuple(history)))
        for gone in set(self._history) - set(self._kinds):
            del self._history[gone]  # a detected queue that went away
        return out

    def history(self, key: str) -> tuple[float, ...]:
        return tuple(self._history.get(key, ()))

    def _row(self, key: str, depth: int, **kw: Any) -> QueueStatus:
        backlog = kw.pop("backlog", depth)
        return QueueStatus(
            name=key,
            backend="redis",
            source=self.id,
            depth=depth,
            severity=Severity.WARNING if backlog > self.thresholds.queue_depth else Severity.OK,
            url=self.conn.masked,
            **kw,
        )

    async def _stream(self, r: Any, key: str, now_ms: int, depth: int, groups: list[Any]) -> QueueStatus:
        pending = sum(int(g.get("pending") or 0) for g in groups)
        # Lag (entries not yet delivered to a group) is Redis 7+; it may be None when Redis
        # cannot tell. XLEN counts retained history, so the backlog that raises severity
        # is the worst group's lag plus what it holds pending.
        lags = [int(g["lag"]) for g in groups if g.get("lag") is not None]
        backlog = max(lags, default=depth if not groups else 0) + pending
        oldest: float | None = None
        for g in groups:
            if int(g.get("pending") or 0):
                summary = await r.xpending(key, g["name"])
                ms = _stream_id_ms(str(summary.get("min") or ""))
                if ms is not None:
                    age = max(0.0, (now_ms - ms) / 1000)
                    oldest = age if oldest is None else max(oldest, age)
        return self._row(
            key, depth, in_flight=pending, oldest_age_s=oldest, backlog=backlog, kind="stream"
        )

    async def detail(self, record: Any) -> list[DetailSection]:
        """A stream's consumer groups (pending, lag, consumers); any queue's recent depths;
        for a detected queue, which convention matched and on which keys."""
        key = getattr(record, "name", "")
        sections: list[DetailSection] = []
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

        async def call(r: Any) -> list[DetailSection]:
            import redis.exceptions as rex

            if await r.type(key) != "stream":
                return []
            try:
                groups = await r.xinfo_groups(key)
            except rex.ResponseError:
                groups = []
            rows = []
            for g in groups:
                consumers = await r.xinfo_consumers(key, g["name"])
                idle = [c for c in consumers if int(c.get("idle") or 0) > IDLE_CONSUMER_MS]
                rows.append(
                    (
                        _as_text(g["name"]),
                        str(len(consumers)),
                        str(len(idle)),
                        str(g.get("pending", 0)),
                        "unknown" if g.get("lag") is None else str(g["lag"]),
                        _as_text(g.get("last-delivered-id", "")),
                    )
                )
            return [
                DetailSection(
                    "Consumer groups",
                    ("group", "consumers", "idle > 60 s", "pending", "lag", "last delivered"),
                    tuple(rows),
                    () if rows else ("no consumer group reads this stream",),
                )
            ]

        return sections + await self.conn.run(f"XINFO GROUPS {key}", call)

    def explain_command(self) -> list[str]:
        key = self.queues[0] if self.queues else ""
        if not key:  # queues: auto alone: the detection's own walk of the keyspace
            return self.conn.cli("--scan", "--count", str(SCAN_COUNT))
        if key.startswith("stream:"):
            return self.conn.cli("XINFO", "GROUPS", key)
        return self.conn.cli("LLEN", key)

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
            if kind == "list":
                depth = int(await r.llen(target.name))
            elif kind == "stream":
                depth = int(await r.xlen(target.name))
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


async def detect_queues(r: Any) -> tuple[list[DetectedQueue], str]:
    """Celery, RQ and BullMQ queues on the connection's db, and what was examined.

    RQ names its queues in the set ``rq:queues``; Celery (kombu) in ``_kombu.binding.*``
    sets, plus its default list ``celery``; BullMQ keeps ``bull:NAME:wait`` lists and
    ``bull:NAME:meta`` hashes. The keyspace is walked with SCAN, at most ``SCAN_ROUNDS`` calls
    of ``COUNT SCAN_COUNT`` (never KEYS, which blocks the server while it walks everything).
    """
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
    rq_members = sorted(await r.smembers("rq:queues")) if await r.type("rq:queues") == "set" else []
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
        if await r.type(b) != "set":
            continue
        for q in sorted(_kombu_queues(set(await r.smembers(b)))):
            celery.setdefault(q, f"Celery queue {q}: bound in the kombu set {b}")
    if "celery" in keys and "celery" not in celery and await r.type("celery") == "list":
        celery["celery"] = "Celery's default queue: the list celery"
    for q, note in sorted(celery.items())[:MAX_DETECTED]:
        found.append(DetectedQueue(q, "celery", note))

    # BullMQ: TYPE of each candidate, in one round trip.
    bull = [k for k in keys if k.endswith((":wait", ":meta"))][: MAX_DETECTED * 2]
    types: dict[str, str] = {}
    if bull:
        async with r.pipeline(transaction=False) as p:
            for k in bull:
                p.type(k)
            types = dict(zip(bull, await p.execute(), strict=True))
    found.extend(bullmq_queues(bull, types)[:MAX_DETECTED])

    examined = f"{len(keys)} candidate key(s) in {rounds} SCAN call(s) of COUNT {SCAN_COUNT}"
    note = (
        f"scan: {examined}, the whole db"
        if complete
        else f"scan: {examined}, stopped before the end of a large db: some queues may be missing"
    )
    return found, note


def build_redis_sources(profile: Profile) -> list[RedisSource | RedisQueuesSource]:
    """Per ``redis:`` entry a database source and, with ``queues:`` (or ``auto``), a queues
    source."""
    sources: list[RedisSource | RedisQueuesSource] = []
    for cfg in profile.redis:
        conn = RedisConnection(cfg)
        sources.append(RedisSource(conn, profile.thresholds))
        if cfg.queues:
            sources.append(RedisQueuesSource(conn, profile.thresholds))
    return sources

