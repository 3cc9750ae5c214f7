"""Redis -> a ``DatabaseSnapshot`` (INFO) and, when queues are configured, ``QueueStatus`` rows
(those are cockpit.backends.redis_queues).

The two sources of one server share one client, and one tally of the keyspace lookups the
cockpit made itself, which the hit ratio leaves out. The URL is resolved only here; messages
show it with the password masked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from cockpit.errors import ActionRefused, BackendError, CockpitError
from cockpit.masking import MASK, is_secret_name, mask_text, mask_url
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind, Severity
from cockpit.profile import Profile, RedisConfig, Thresholds

if TYPE_CHECKING:
    from cockpit.backends.redis_queues import RedisQueuesSource

SOCKET_TIMEOUT_S = 3.0
CRITICAL_RATIO = 0.95
SLOWLOG_TOP = 10
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


class RedisConnection:
    """One ``redis.asyncio`` client per configured server, shared by its sources."""

    def __init__(self, cfg: RedisConfig) -> None:
        self.cfg = cfg
        self._client: Any = None
        self._users = 0
        self.masked = ""
        # Keyspace hits and misses of the cockpit's own key reads (quietly()), left out of
        # the hit ratio: the estate's ratio, not the cockpit's.
        self.own_hits = 0
        self.own_misses = 0

    def url(self) -> str:
        url = self.cfg.url.resolve()  # ConfigError names a missing env var / file
        self.masked = mask_url(url)
        return url

    @property
    def db(self) -> int:
        """The database number the URL names (0 when it cannot be read)."""
        try:
            return db_number(self.url())
        except CockpitError:
            return 0

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

    async def quietly(self, r: Any, build: Callable[[Any], object]) -> list[Any]:
        """The answers (errors in place) of the key reads ``build`` queues on a pipeline, run
        in MULTI between two ``INFO stats``: their keyspace hits and misses (TYPE and EXISTS
        count too) are tallied as the cockpit's own, exactly, whatever else the server runs."""
        async with r.pipeline(transaction=True) as p:
            p.info("stats")
            build(p)
            if len(p.command_stack) == 1:
                return []
            p.info("stats")
            before, *answers, after = await p.execute(raise_on_error=False)
        before, after = _answer(before), _answer(after)
        self.own_hits += int(after.get("keyspace_hits", 0)) - int(before.get("keyspace_hits", 0))
        self.own_misses += int(after.get("keyspace_misses", 0)) - int(
            before.get("keyspace_misses", 0)
        )
        return answers

    def estate_lookups(self, hits: int, misses: int) -> tuple[int, int]:
        """INFO's keyspace hits and misses without the cockpit's own."""
        if hits < self.own_hits or misses < self.own_misses:
            # CONFIG RESETSTAT or a restart: the server no longer counts what we tallied.
            self.own_hits = self.own_misses = 0
        return hits - self.own_hits, misses - self.own_misses

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
        hits, misses = self.conn.estate_lookups(
            int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        )
        own = self.conn.own_hits + self.conn.own_misses
        ratio = f"{100 * hits / (hits + misses):.1f} %" if hits + misses else "n/a"
        if own:
            ratio += f" (without the cockpit's own {own:,} key reads)"
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
            ("hit ratio", ratio),
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
        return self.conn.db

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


def build_redis_sources(profile: Profile) -> list[RedisSource | RedisQueuesSource]:
    """Per ``redis:`` entry a database source and, with ``queues:`` (or ``auto``), a queues
    source."""
    from cockpit.backends.redis_queues import RedisQueuesSource

    sources: list[RedisSource | RedisQueuesSource] = []
    for cfg in profile.redis:
        conn = RedisConnection(cfg)
        sources.append(RedisSource(conn, profile.thresholds))
        if cfg.queues:
            sources.append(RedisQueuesSource(conn, profile.thresholds))
    return sources

