"""PostgreSQL databases -> one ``DatabaseSnapshot`` per configured database.

Read directly with psycopg 3 (async), one connection per source, opened lazily and dropped
after any failure so the next refresh reconnects. Our own session is named ``ops-cockpit``
(``application_name``) and excluded from every count. The DSN is resolved only here and
never appears in a message or record: ``masked`` (``user@host:port/db``) does.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Any

from cockpit.dbmodel import (
    Activity,
    DatabaseStats,
    ReplicaLag,
    Replication,
    Session,
    SlowQueries,
    SlowQuery,
    activity_sections,
    format_bytes,
    replication_section,
    sort_by_duration,
    stats_lines,
)
from cockpit.errors import BackendError
from cockpit.model import DatabaseSnapshot, DetailSection, PaneKind, Severity
from cockpit.profile import DatabaseConfig, Profile, Thresholds

APPLICATION_NAME = "ops-cockpit"
CONNECT_TIMEOUT_S = 3
# Every monitoring statement gives up after this: the cockpit must never add load to a
# database that is already struggling.
STATEMENT_TIMEOUT_MS = 3000
SESSION_LIMIT = 500  # rows of pg_stat_activity read per refresh of the activity view
TOP_STATEMENTS = 10
CRITICAL_CONNECTIONS = 0.95

# Connections count the whole server (max_connections is server-wide); the other figures
# concern this database only. pg_blocking_pids() takes lock-manager locks, so it is only
# asked for sessions that are waiting on a lock at all.
# The same round trip reads pg_stat_database's counters (rates are deltas between two
# refreshes, timed by the server's clock) and replication: on a replica its own replay lag
# (0 s when it has replayed all it received: an idle primary sends nothing, and the age of
# the last replayed transaction would grow forever), on a primary (or a cascading replica)
# one entry per pg_stat_replication row. Without pg_read_all_stats (pg_monitor) the LSN and
# lag columns of other roles' senders read NULL: shown as unknown, never as zero.
SNAPSHOT_SQL = """\
WITH s AS (
  SELECT pid, datname, state, query, query_start, xact_start,
         wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(pid)) > 0 AS is_blocked
  FROM pg_stat_activity
  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
), here AS (
  SELECT * FROM s WHERE datname = current_database()
), longest AS (
  SELECT extract(epoch FROM now() - query_start)::float8 AS secs, query
  FROM here WHERE state = 'active' AND query_start IS NOT NULL
  ORDER BY query_start LIMIT 1
)
SELECT
  (SELECT count(*) FROM s) AS connections,
  current_setting('max_connections')::int AS max_connections,
  (SELECT count(*) FROM here) AS db_connections,
  (SELECT count(*) FROM here WHERE state = 'active') AS active,
  (SELECT count(*) FROM here WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')) AS idle_in_transaction,
  (SELECT count(*) FROM here WHERE is_blocked) AS blocked,
  (SELECT secs FROM longest) AS longest_s,
  (SELECT query FROM longest) AS longest_query,
  (SELECT extract(epoch FROM now() - min(xact_start))::float8 FROM here
    WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')) AS oldest_idle_tx_s,
  pg_database_size(current_database()) AS size_bytes,
  current_setting('server_version') AS version,
  d.xact_commit, d.xact_rollback, d.blks_hit, d.blks_read, d.temp_bytes, d.temp_files,
  d.stats_reset,
  extract(epoch FROM now())::float8 AS at_s,
  pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_is_in_recovery()
       THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END
    AS replay_lag_bytes,
  CASE WHEN pg_is_in_recovery() THEN
    CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
         ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
  END AS replay_lag_s,
  CASE WHEN pg_is_in_recovery()
       THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
    AS last_replay_age_s,
  (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status,
  (SELECT coalesce(json_agg(json_build_object(
      'name', r.application_name,
      'client', coalesce(host(r.client_addr), 'local'),
      'state', r.state,
      'sync', r.sync_state,
      'bytes', pg_wal_lsn_diff(w.lsn, r.replay_lsn),
      'write_s', extract(epoch FROM r.write_lag),
      'flush_s', extract(epoch FROM r.flush_lag),
      'replay_s', extract(epoch FROM r.replay_lag)
    ) ORDER BY r.application_name, r.pid), '[]'::json)
   FROM pg_stat_replication r,
        LATERAL (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                             ELSE pg_current_wal_lsn() END AS lsn) w
  ) AS replicas
FROM pg_stat_database d
WHERE d.datname = current_database()"""

# Sessions of this database, longest running first. The duration is the current query's for
# an active session, else the open transaction's (what an idle-in-transaction session costs).
# A session waiting on a lock names the lock it waits for; when that lock has no relation
# (a transactionid wait on a row another transaction updated), the relation comes from the
# tuple lock it already holds, so the tree can say which table the queue is on.
ACTIVITY_SQL = """SELECT a.pid,
       coalesce(a.usename, '') AS usename,
       coalesce(a.application_name, '') AS application,
       CASE WHEN a.client_addr IS NULL THEN 'local'
            ELSE host(a.client_addr) || ':' || a.client_port END AS client,
       coalesce(a.datname, '') AS datname,
       coalesce(a.state, '') AS state,
       coalesce(a.wait_event_type || '/' || a.wait_event, '') AS wait_event,
       extract(epoch FROM now() - CASE WHEN a.state = 'active' THEN a.query_start
                                       ELSE a.xact_start END)::float8 AS duration_s,
       coalesce(a.query, '') AS query,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid)
            ELSE '{}'::int[] END AS blocked_by,
       coalesce(w.locktype, '') AS lock_type,
       coalesce(w.mode, '') AS lock_mode,
       coalesce((coalesce(w.relation, t.relation))::regclass::text, '') AS relation,
       a.backend_start
FROM pg_stat_activity a
LEFT JOIN LATERAL (
  SELECT locktype, mode, relation FROM pg_locks
  WHERE pid = a.pid AND NOT granted LIMIT 1
) w ON a.wait_event_type = 'Lock'
LEFT JOIN LATERAL (
  SELECT relation FROM pg_locks
  WHERE pid = a.pid AND granted AND locktype = 'tuple' LIMIT 1
) t ON a.wait_event_type = 'Lock'
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND a.datname = current_database()
ORDER BY duration_s DESC NULLS LAST, a.pid
LIMIT %s"""

STATEMENTS_INSTALLED_SQL = """SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),
       current_setting('server_version_num')::int"""

# pg_stat_statements renamed its time columns in PostgreSQL 13 (total_time -> total_exec_time).
_STATEMENTS_SQL = """WITH s AS (
  SELECT query, calls, {total} AS total_ms, {mean} AS mean_ms, rows,
         shared_blks_hit, shared_blks_read
  FROM pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND calls > 0
)
(SELECT 'mean', * FROM s ORDER BY mean_ms DESC LIMIT %s)
UNION ALL
(SELECT 'total', * FROM s ORDER BY total_ms DESC LIMIT %s)"""
# Two fixed texts, chosen by server version: nothing from input is ever formatted into SQL.
STATEMENTS_SQL = _STATEMENTS_SQL.replace("{total}", "total_exec_time").replace(
    "{mean}", "mean_exec_time"
)
STATEMENTS_SQL_PG12 = _STATEMENTS_SQL.replace("{total}", "total_time").replace(
    "{mean}", "mean_time"
)

ENABLE_STATEMENTS_HINT = (
    "add pg_stat_statements to shared_preload_libraries in postgresql.conf (on RDS/Aurora: "
    "the DB parameter group) and restart, then run CREATE EXTENSION pg_stat_statements; "
    "in this database; reading it needs the role pg_read_all_stats or pg_monitor"
)

TERMINATE_SQL = """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid = %s AND (%s::timestamptz IS NULL OR backend_start = %s)"""
CANCEL_SQL = """SELECT pg_cancel_backend(pid) FROM pg_stat_activity
WHERE pid = %s AND (%s::timestamptz IS NULL OR backend_start = %s)"""


def _conninfo(dsn: str) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except Exception:  # a malformed DSN: say so without echoing it
        return {}


def mask_dsn(dsn: str) -> str:
    """``user@host:port/db`` for messages: never the password or other options."""
    info = _conninfo(dsn)
    if not info:
        return "(unparseable dsn)"
    host = str(info.get("host") or info.get("hostaddr") or "localhost")
    port = str(info.get("port") or "5432")
    user = info.get("user")
    db = str(info.get("dbname") or user or "")
    who = f"{user}@" if user else ""
    return f"{who}{host}:{port}/{db}"


def _psql_target(dsn: str) -> str:
    """A psql-usable URI without the password (psql finds it in ~/.pgpass / PGPASSWORD)."""
    masked = mask_dsn(dsn)
    return masked if masked.startswith("(") else f"postgresql://{masked}"


def _scrub(text: str, dsn: str) -> str:
    """The server's message, first line, with any password from the DSN blanked out."""
    first = (text.strip().splitlines() or [""])[0]
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  why'
    if "failed: " in first:
        first = first.rsplit("failed: ", 1)[1]
    first = first.removeprefix("FATAL:").strip()
    password = str(_conninfo(dsn).get("password") or "")
    return first.replace(password, "***") if password else first


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def severity_for(connections: int, max_connections: int, blocked: int, thresholds: Thresholds) -> Severity:
    ratio = connections / max_connections if max_connections else 0.0
    if ratio >= CRITICAL_CONNECTIONS:
        return Severity.CRITICAL
    if ratio >= thresholds.connections or blocked > 0:
        return Severity.WARNING
    return Severity.OK


class PostgresSource:
    pane = PaneKind.DATABASE

    def __init__(self, db: DatabaseConfig, thresholds: Thresholds) -> None:
        self.db = db
        self.thresholds = thresholds
        self.id = f"pg:{db.name}"
        self.title = f"PostgreSQL {db.name}"
        self._conn: Any = None  # psycopg.AsyncConnection, imported lazily
        self._lock = asyncio.Lock()  # fetch and terminate share the one connection
        self._masked = ""
        self._last_stats: DatabaseStats | None = None  # the previous refresh's counters
        self._replication: Replication | None = None

    # --- connection ---------------------------------------------------------------

    def _dsn(self) -> str:
        dsn = self.db.dsn.resolve()  # ConfigError (a CockpitError) names a missing env/file
        self._masked = mask_dsn(dsn)
        return dsn

    @property
    def masked(self) -> str:
        if not self._masked:
            try:
                self._dsn()
            except Exception:
                return f"(dsn {self.db.dsn})"  # the reference, e.g. env:NAME: no secret
        return self._masked

    async def _connect(self, dsn: str) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
        )
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, false)", (str(STATEMENT_TIMEOUT_MS),)
        )
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken: nothing more to release
                pass

    def _wrap(self, e: Exception, dsn: str, doing: str) -> BackendError:
        import psycopg
        from psycopg import errors as pge

        where = self._masked or "PostgreSQL"
        detail = _scrub(str(e), dsn)
        sqlstate = getattr(e, "sqlstate", None) or ""
        low = detail.lower()
        if isinstance(e, pge.QueryCanceled):
            return BackendError(
                f"{doing} on {where} took over {STATEMENT_TIMEOUT_MS // 1000} s",
                "the server is overloaded or the catalog is locked: check it with psql",
            )
        if sqlstate in ("28P01", "28000") or "password" in low or "authentication" in low:
            return BackendError(
                f"authentication failed for {where}",
                "check the password reference (env:NAME or file:PATH) of this database's "
                "dsn in profiles.yaml, or ~/.pgpass",
            )
        if sqlstate == "3D000" or ("database" in low and "does not exist" in low):
            return BackendError(f"database does not exist: {where}", "check the dbname in the dsn")
        if isinstance(e, psycopg.OperationalError):
            return BackendError(
                f"cannot connect to {where}: {detail}", "is PostgreSQL running? check the dsn"
            )
        if isinstance(e, pge.InsufficientPrivilege):
            return BackendError(
                f"{doing} on {where}: {detail}",
                "grant the role pg_monitor (or pg_signal_backend to terminate sessions)",
            )
        return BackendError(f"{doing} on {where} failed: {detail}", "check the server's log")

    async def _query(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first row of ``sql`` run with ``params`` (always passed apart, never formatted)."""
        return await self._run(doing, sql, params, many=False)

    async def _query_all(self, doing: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await self._run(doing, sql, params, many=True)

    async def _run(self, doing: str, sql: str, params: tuple[Any, ...], *, many: bool) -> Any:
        import psycopg

        dsn = self._dsn()
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect(dsn)
                cur = await self._conn.execute(sql, params or None)
                return await (cur.fetchall() if many else cur.fetchone())
            except psycopg.Error as e:
                await self._drop()
                raise self._wrap(e, dsn, doing) from e
            except BaseException:
                # Cancelled by the hub's timeout mid-query: the connection's state is unknown.
                await self._drop()
                raise

    # --- Source -------------------------------------------------------------------

    async def fetch(self) -> list[DatabaseSnapshot]:
        row = await self._query("reading pg_stat_activity", SNAPSHOT_SQL)
        (
            connections, max_connections, db_connections, active, idle_tx, blocked,
            longest_s, longest_query, oldest_idle_tx_s, size_bytes, version,
            commits, rollbacks, blks_hit, blks_read, temp_bytes, temp_files, stats_reset,
            at_s, in_recovery, replay_lag_bytes, replay_lag_s, last_replay_age_s,
            receiver_status, replicas,
        ) = row  # fmt: skip
        stats = DatabaseStats(
            at_s=float(at_s), commits=int(commits or 0), rollbacks=int(rollbacks or 0),
            blks_hit=int(blks_hit or 0), blks_read=int(blks_read or 0),
            temp_bytes=int(temp_bytes or 0), temp_files=int(temp_files or 0),
        )  # fmt: skip
        tps, rollbacks_per_s = stats.rates_since(self._last_stats)
        self._last_stats = stats
        repl = Replication(
            role="replica" if in_recovery else "primary",
            replay_lag_bytes=_int_or_none(replay_lag_bytes),
            replay_lag_s=_float_or_none(replay_lag_s),
            last_replay_age_s=_float_or_none(last_replay_age_s),
            receiver_status=receiver_status or "",
            replicas=tuple(ReplicaLag.from_json(r) for r in replicas or ()),
        )
        self._replication = repl
        detail: list[tuple[str, str]] = [
            ("server", self._masked),
            ("version", str(version)),
            ("connections to this database", str(db_connections)),
        ]
        if oldest_idle_tx_s is not None:
            detail.append(("oldest idle in transaction", f"{oldest_idle_tx_s:.0f} s"))
        detail.extend(stats_lines(stats, tps, rollbacks_per_s, stats_reset))
        detail.append(("database size", format_bytes(int(size_bytes))))
        detail.extend(repl.lines())
        return [
            DatabaseSnapshot(
                name=self.db.name,
                backend="postgres",
                source=self.id,
                connections=int(connections),
                max_connections=int(max_connections),
                active=int(active),
                idle_in_transaction=int(idle_tx),
                longest_query_s=float(longest_s) if longest_s is not None else None,
                longest_query=longest_query or "",
                blocked=int(blocked),
                size_bytes=int(size_bytes),
                status="up",
                severity=severity_for(
                    int(connections), int(max_connections), int(blocked), self.thresholds
                ),
                detail=tuple(detail),
                # Rounded for the generic field view of the detail screen; the hit ratio
                # down, so 99.996 % never reads as a perfect 100 %.
                tps=None if tps is None else round(tps, 2),
                rollbacks_per_s=None if rollbacks_per_s is None else round(rollbacks_per_s, 2),
                cache_hit_ratio=(
                    None if stats.hit_ratio is None else math.floor(stats.hit_ratio * 1e4) / 1e4
                ),
                temp_bytes=stats.temp_bytes,
                role=repl.role,
                replication_lag_s=repl.lag_s,
                replication_lag_bytes=repl.lag_bytes,
            )
        ]

    def explain_command(self) -> list[str]:
        return ["psql", _psql_target(self._dsn_or_ref()), "-c", SNAPSHOT_SQL]

    def _dsn_or_ref(self) -> str:
        try:
            return self.db.dsn.resolve()
        except Exception:
            return ""

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    # --- activity: sessions, blocking tree, slow queries ---------------------------------

    async def sessions(self) -> list[Session]:
        """Client sessions of this database (ours excluded), longest running first."""
        rows = await self._query_all(
            "reading pg_stat_activity", ACTIVITY_SQL, (SESSION_LIMIT,)
        )
        out = [
            Session(
                pid=int(pid), source=self.id, user=user, application=app, client=client,
                database=db, state=state, wait_event=wait,
                duration_s=float(dur) if dur is not None else None,
                query=query or "", blocked_by=tuple(int(p) for p in blocked or ()),
                lock_type=lock_type, lock_mode=lock_mode, relation=relation,
                backend_start=started,
            )
            for (pid, user, app, client, db, state, wait, dur, query, blocked,
                 lock_type, lock_mode, relation, started) in rows
        ]  # fmt: skip
        return sort_by_duration(out)

    async def slow_queries(self, limit: int = TOP_STATEMENTS) -> SlowQueries:
        """Top statements by mean and by total time, or how to enable pg_stat_statements."""
        from psycopg import errors as pge

        installed, version = await self._query(
            "checking for pg_stat_statements", STATEMENTS_INSTALLED_SQL
        )
        where = self._masked or self.db.name
        if not installed:
            return SlowQueries(
                available=False,
                message=f"pg_stat_statements is not installed in {where}",
                hint=ENABLE_STATEMENTS_HINT,
            )
        sql = STATEMENTS_SQL if int(version) >= 130000 else STATEMENTS_SQL_PG12
        try:
            rows = await self._query_all("reading pg_stat_statements", sql, (limit, limit))
        except BackendError as e:
            cause = e.__cause__
            # Created but not preloaded: "pg_stat_statements must be loaded via
            # shared_preload_libraries" (SQLSTATE 55000).
            if isinstance(cause, pge.ObjectNotInPrerequisiteState):
                return SlowQueries(
                    available=False,
                    message=f"pg_stat_statements is installed in {where} but not loaded",
                    hint=ENABLE_STATEMENTS_HINT,
                )
            raise
        by: dict[str, list[SlowQuery]] = {"mean": [], "total": []}
        for tag, query, calls, total, mean, nrows, hit, read in rows:
            by[tag].append(
                SlowQuery(
                    query=query or "", calls=int(calls), total_ms=float(total),
                    mean_ms=float(mean), rows=int(nrows), shared_hit=int(hit),
                    shared_read=int(read),
                )
            )  # fmt: skip
        return SlowQueries(by_mean=tuple(by["mean"]), by_total=tuple(by["total"]))

    async def activity(self) -> Activity:
        sessions = await self.sessions()
        slow = await self.slow_queries()
        # Kept for the database row's detail, which offers cancel / terminate on these.
        self.last_activity = Activity(self.db.name, self.id, tuple(sessions), slow)
        return self.last_activity

    async def detail(self, record: Any) -> list[DetailSection]:
        """Sections for the database row's detail screen (DetailProvider)."""
        sections = activity_sections(await self.activity())
        if self._replication is not None:
            sections.append(replication_section(self._replication))
        return sections

    # --- capabilities: cancel a query, terminate a session ------------------------------

    def cancel_backend_command(self, target: Session) -> list[str]:
        return self.cancel_command(target.pid)

    async def cancel_backend(self, target: Session) -> str:
        return await self._signal(target, CANCEL_SQL, "cancelled the query of")

    def terminate_backend_command(self, target: Session) -> list[str]:
        return self.terminate_command(target.pid)

    async def terminate_backend(self, target: Session) -> str:
        return await self._signal(target, TERMINATE_SQL, "terminated")

    async def _signal(self, target: Session, sql: str, done: str) -> str:
        # The pid must still be the session that was on screen: pids are reused, and ending
        # whatever process holds the number now would hit the wrong client.
        pid = int(target.pid)
        started: datetime | None = target.backend_start
        verb = "terminating" if sql is TERMINATE_SQL else "cancelling the query of"
        row = await self._query(f"{verb} session {pid}", sql, (pid, started, started))
        if row and row[0]:
            return f"{done} session {pid} ({target.name}) on {self._masked}"
        if row is None:
            return f"session {pid} ({target.name}) is gone from {self._masked}: nothing to do"
        return f"session {pid} ({target.name}) on {self._masked} was not signalled"

    # --- end a session by pid (kept for scripts and the lab) ---------------------------

    def terminate_command(self, pid: int) -> list[str]:
        return [
            "psql", _psql_target(self._dsn_or_ref()), "-c",
            f"SELECT pg_terminate_backend({int(pid)})",
        ]  # fmt: skip

    async def terminate(self, pid: int) -> str:
        """End backend ``pid`` (its transaction rolls back); say whether it existed."""
        row = await self._query(
            f"terminating session {int(pid)}", "SELECT pg_terminate_backend(%s)", (int(pid),)
        )
        if row and row[0]:
            return f"terminated session {pid} on {self._masked}"
        return f"session {pid} was not found on {self._masked} (already gone?)"

    def cancel_command(self, pid: int) -> list[str]:
        return [
            "psql", _psql_target(self._dsn_or_ref()), "-c",
            f"SELECT pg_cancel_backend({int(pid)})",
        ]  # fmt: skip

    async def cancel(self, pid: int) -> str:
        """Cancel the query running in backend ``pid``; the session stays."""
        row = await self._query(
            f"cancelling the query of session {int(pid)}",
            "SELECT pg_cancel_backend(%s)",
            (int(pid),),
        )
        if row and row[0]:
            return f"cancelled the query of session {pid} on {self._masked}"
        return f"session {pid} was not found on {self._masked} (already gone?)"


def build_postgres_sources(profile: Profile) -> list[PostgresSource]:
    """One source per ``databases:`` entry; nothing connects until the first fetch."""
    return [PostgresSource(db, profile.thresholds) for db in profile.databases]
