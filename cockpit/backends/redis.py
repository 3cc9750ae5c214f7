"""Redis -> a ``DatabaseSnapshot`` (INFO) and, when queues are configured, ``QueueStatus`` rows.

Queues are named as the profile's ``queues:`` entries: ``queue:default`` is a list key of
that name (depth ``LLEN``), ``stream:events`` a stream key (depth ``XLEN``, in flight the
pending entries of its consumer groups). A key that does not exist is an empty queue (Redis
deletes empty lists). The two sources of one server share one client. The URL is resolved
only here; messages show it with the password masked.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cockpit.errors import ActionRefused, BackendError, CockpitError
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind, QueueStatus, Severity
from cockpit.profile import Profile, RedisConfig, Thresholds

SOCKET_TIMEOUT_S = 3.0
CRITICAL_RATIO = 0.95
HISTORY = 60  # queue depths kept per queue, one per refresh (a sparkline's width)
SLOWLOG_TOP = 10
IDLE_CONSUMER_MS = 60_000  # a consumer silent this long is shown as idle

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


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (the user name is kept)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(unparseable url)"


def _scrub(text: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    first = (text.strip().splitlines() or [""])[0]
    return first.replace(password, "***") if password else first


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
            from redis.backoff import NoBackoff
            from redis.retry import Retry

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


class RedisQueuesSource:
    """The queues pane's rows for the lists and streams configured on one server."""

    pane = PaneKind.QUEUES

    def __init__(self, conn: RedisConnection, thresholds: Thresholds) -> None:
        self.conn = conn
        self.thresholds = thresholds
        self.queues = conn.cfg.queues
        self.id = f"redis:{conn.cfg.name}:queues"
        self.title = f"Redis {conn.cfg.name} queues"
        self._history: dict[str, deque[float]] = {k: deque(maxlen=HISTORY) for k in self.queues}
        conn.acquire()

    async def fetch(self) -> list[QueueStatus]:
        async def call(r: Any) -> list[QueueStatus]:
            async with r.pipeline(transaction=False) as p:
                for key in self.queues:
                    p.type(key)
                p.time()
                *types, (now_s, now_us) = await p.execute()
            now_ms = now_s * 1000 + now_us // 1000  # the server's clock, as stream ids are
            rows = []
            for key, kind in zip(self.queues, types, strict=True):
                if kind == "none":  # an emptied list is deleted; a stream never is
                    kind = "stream" if key.startswith("stream:") else "list"
                if kind == "stream":
                    rows.append(await self._stream(r, key, now_ms))
                else:
                    # A WRONGTYPE reply for sets/hashes says which key is misconfigured.
                    rows.append(self._row(key, int(await r.llen(key))))
            return rows

        rows = await self.conn.run("queue depths", call)
        # Only a successful refresh adds a point: a gap in the data is not a zero depth.
        out = []
        for row in rows:
            history = self._history[row.name]
            history.append(float(row.depth))
            out.append(replace(row, history=tuple(history)))
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

    async def _stream(self, r: Any, key: str, now_ms: int) -> QueueStatus:
        import redis.exceptions as rex

        depth = int(await r.xlen(key))
        try:
            groups = await r.xinfo_groups(key)
        except rex.ResponseError:  # "no such key": a stream that was never created
            groups = []
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
        return self._row(key, depth, in_flight=pending, oldest_age_s=oldest, backlog=backlog)

    async def detail(self, record: Any) -> list[DetailSection]:
        """A stream's consumer groups (pending, lag, consumers); any queue's recent depths."""
        key = getattr(record, "name", "")
        sections: list[DetailSection] = []
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
        if key.startswith("stream:"):
            return self.conn.cli("XINFO", "GROUPS", key)
        return self.conn.cli("LLEN", key)

    async def close(self) -> None:
        await self.conn.release()


def build_redis_sources(profile: Profile) -> list[RedisSource | RedisQueuesSource]:
    """Per ``redis:`` entry a database source and, with ``queues:``, a queues source."""
    sources: list[RedisSource | RedisQueuesSource] = []
    for cfg in profile.redis:
        conn = RedisConnection(cfg)
        sources.append(RedisSource(conn, profile.thresholds))
        if cfg.queues:
            sources.append(RedisQueuesSource(conn, profile.thresholds))
    return sources

