"""PostgreSQL databases -> one ``DatabaseSnapshot`` per configured database.

Read directly with psycopg 3 (async), one connection per source, opened lazily and dropped
after any failure so the next refresh reconnects. Our own session is named ``ops-cockpit``
(``application_name``) and excluded from every count. The DSN is resolved only here and
never appears in a message or record: ``masked`` (``user@host:port/db``) does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cockpit.errors import BackendError
from cockpit.model import DatabaseSnapshot, PaneKind, Severity
from cockpit.profile import DatabaseConfig, Profile, Thresholds

APPLICATION_NAME = "ops-cockpit"
CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5000
CRITICAL_CONNECTIONS = 0.95

# Connections count the whole server (max_connections is server-wide); the other figures
# concern this database only. pg_blocking_pids() takes lock-manager locks, so it is only
# asked for sessions that are waiting on a lock at all.
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
  current_setting('server_version') AS version"""


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
        await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
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
        import psycopg

        dsn = self._dsn()
        async with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect(dsn)
                cur = await self._conn.execute(sql, params or None)
                return await cur.fetchone()
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
        ) = row  # fmt: skip
        detail: list[tuple[str, str]] = [
            ("server", self._masked),
            ("version", str(version)),
            ("connections to this database", str(db_connections)),
        ]
        if oldest_idle_tx_s is not None:
            detail.append(("oldest idle in transaction", f"{oldest_idle_tx_s:.0f} s"))
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

    # --- capability: end a session (kill a query) -----------------------------------

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
