"""Throughput, cache, temp files and replication on the database row, against real servers.

Replication uses a real streaming replica (``postgres_replica``, pg_basebackup -R of the
session's primary): the primary lists it with its lag, the replica shows its replay lag, and
pausing replay on the replica makes both sides show it falling behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from cockpit.backends.postgres import PostgresSource
from cockpit.errors import BackendError
from cockpit.model import DatabaseSnapshot
from cockpit.profile import DatabaseConfig, SecretRef, Thresholds
from tests.fixtures.postgres import PostgresReplica

pytestmark = pytest.mark.servers


def source_for(dsn: str, name: str = "app") -> PostgresSource:
    return PostgresSource(DatabaseConfig(name, SecretRef(dsn)), Thresholds())


async def snapshot_when(
    src: PostgresSource,
    cond: Callable[[DatabaseSnapshot], bool],
    timeout: float = 15.0,
    until_up: bool = False,
) -> DatabaseSnapshot:
    """Fetch until ``cond`` holds; with ``until_up``, a refused refresh counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            (snap,) = await src.fetch()
        except BackendError:
            if not until_up or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        if cond(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {snap}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def src(postgres_dsn: str) -> AsyncIterator[PostgresSource]:
    s = source_for(postgres_dsn)
    yield s
    await s.close()


async def test_first_refresh_has_no_rate_then_known_transactions_show_as_tps(
    src: PostgresSource, postgres_dsn: str
) -> None:
    (first,) = await src.fetch()
    assert first.tps is None and first.rollbacks_per_s is None  # no previous refresh yet
    assert dict(first.detail)["transactions/s"] == "next refresh"
    (quiet,) = await src.fetch()
    assert quiet.tps is not None and quiet.rollbacks_per_s == 0
    # 300 commits and 40 rollbacks from another session; closing it flushes its counters.
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("CREATE TABLE t (n int)")
        conn.commit()
        for i in range(300):
            conn.execute("INSERT INTO t VALUES (%s)", (i,))
            conn.commit()
        for i in range(40):
            conn.execute("INSERT INTO t VALUES (%s)", (i,))
            conn.rollback()
    # Rates are per refresh interval: the busy interval's are well above the quiet one's.
    busy = await snapshot_when(src, lambda s: (s.rollbacks_per_s or 0) > 0)
    assert busy.tps is not None and busy.tps > quiet.tps
    assert "committed" in dict(busy.detail)["transactions/s"]


async def test_cache_hit_ratio_and_size_are_present(src: PostgresSource, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE h AS SELECT g AS n FROM generate_series(1, 1000) g")
        for _ in range(20):
            conn.execute("SELECT count(*) FROM h").fetchone()
    snap = await snapshot_when(src, lambda s: s.cache_hit_ratio is not None)
    assert snap.cache_hit_ratio is not None and 0.5 < snap.cache_hit_ratio <= 1.0
    assert dict(snap.detail)["cache hit ratio"].startswith(f"{100 * snap.cache_hit_ratio:.2f} %")
    assert snap.size_bytes and snap.size_bytes > 1_000_000
    assert dict(snap.detail)["database size"].endswith("MB")


async def test_temp_bytes_grow_after_a_sort_with_tiny_work_mem(
    src: PostgresSource, postgres_dsn: str
) -> None:
    (before,) = await src.fetch()
    assert before.temp_bytes == 0  # a fresh database has written no temp file
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("SET work_mem = '64kB'")
        conn.execute(
            "SELECT g FROM generate_series(1, 200000) g ORDER BY md5(g::text)"
        ).fetchall()
    snap = await snapshot_when(src, lambda s: (s.temp_bytes or 0) > 0)
    assert snap.temp_bytes is not None and snap.temp_bytes > 100_000
    assert dict(snap.detail)["temp files"].startswith(("1 ", "2 ", "3 "))


async def test_a_primary_says_so_and_counts_its_replicas(src: PostgresSource) -> None:
    (snap,) = await src.fetch()
    assert snap.role == "primary"
    # Another test's replica may be streaming from the shared server: the count says how many.
    role = dict(snap.detail)["role"]
    assert role.startswith("primary, ") and role.endswith(" replica(s) streaming")
    replicas = sum(1 for k, _ in snap.detail if k.startswith("replica "))
    assert role == f"primary, {replicas} replica(s) streaming"


async def test_streaming_replica_lag_on_both_sides(
    postgres_replica: PostgresReplica, postgres_dsn: str
) -> None:
    db = postgres_dsn.rsplit("/", 1)[1]
    primary = source_for(postgres_dsn, "primary")
    replica = source_for(postgres_replica.dsn.rsplit("/", 1)[0] + "/" + db, "replica")
    try:
        # The primary lists the replica, caught up: bytes behind known, lag 0 when idle.
        snap = await snapshot_when(
            primary, lambda s: f"replica {postgres_replica.name}" in dict(s.detail)
        )
        assert snap.role == "primary"
        assert "streaming" in dict(snap.detail)[f"replica {postgres_replica.name}"]
        # The new database reaches the replica; it reports itself as a replica, caught up.
        rsnap = await snapshot_when(
            replica, lambda s: s.replication_lag_bytes == 0, until_up=True
        )
        assert rsnap.role == "replica" and rsnap.replication_lag_s == 0
        assert dict(rsnap.detail)["role"] == "replica (WAL receiver streaming)"

        # Pause replay on the replica, write on the primary: both sides see the lag.
        with psycopg.connect(postgres_replica.dsn, autocommit=True) as rconn:
            rconn.execute("SELECT pg_wal_replay_pause()")
            try:
                with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                    conn.execute("CREATE TABLE lagging AS SELECT g FROM generate_series(1, 20000) g")
                lagging = await snapshot_when(
                    replica,
                    lambda s: (s.replication_lag_bytes or 0) > 100_000
                    and (s.replication_lag_s or 0) > 0,
                )
                assert not dict(lagging.detail)["replay lag"].startswith("0 B")
                behind = await snapshot_when(
                    primary, lambda s: (s.replication_lag_bytes or 0) > 100_000
                )
                row = dict(behind.detail)[f"replica {postgres_replica.name}"]
                assert "behind" in row and "0 B behind" not in row
                sections = await primary.detail(behind)
                (repl,) = [x for x in sections if x.title.startswith("Replication")]
                assert repl.columns[0] == "replica" and repl.columns[4] == "bytes behind"
                assert any(r[0] == postgres_replica.name for r in repl.rows)
                rsections = await replica.detail(lagging)
                (rrepl,) = [x for x in rsections if x.title.startswith("Replication")]
                assert rrepl.lines[0] == "WAL receiver: streaming"
            finally:
                rconn.execute("SELECT pg_wal_replay_resume()")
        # Replay resumes: the replica catches up.
        await snapshot_when(replica, lambda s: s.replication_lag_bytes == 0)
    finally:
        await primary.close()
        await replica.close()


def test_database_row_cells_are_compact() -> None:
    from widgets.database import _lag, _percent, _rate

    base = DatabaseSnapshot("db", "postgres", "pg:db")
    assert _rate(None) == "–" and _rate(3.25) == "3.2" and _rate(1234.4) == "1,234"
    assert _percent(0.9996) == "99.9" and _percent(1.0) == "100" and _percent(None) == "–"
    assert _lag(base) == "–"
    from dataclasses import replace

    assert _lag(replace(base, replication_lag_s=0.0, replication_lag_bytes=0)) == "0s"
    assert _lag(replace(base, replication_lag_s=3.24, replication_lag_bytes=1536)) == "3.2s/1.5KB"
    assert _lag(replace(base, replication_lag_s=None, replication_lag_bytes=2048)) == "?/2.0KB"


async def test_without_pg_monitor_replication_figures_are_unknown_not_zero(
    postgres_server, postgres_replica: PostgresReplica, postgres_dsn: str  # type: ignore[no-untyped-def]
) -> None:
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'cockpit_plain'").fetchone():
            admin.execute("CREATE ROLE cockpit_plain LOGIN")
    plain = source_for(postgres_dsn.replace("postgres@", "cockpit_plain@"), "plain")
    try:
        snap = await snapshot_when(
            plain, lambda s: any(k.startswith("replica ") for k, _ in s.detail)
        )
        assert snap.role == "primary" and snap.cache_hit_ratio is not None
        line = next(v for k, v in snap.detail if k.startswith("replica "))
        # The sender's LSNs are hidden from an unprivileged role: unknown, never "0 B behind".
        assert "unknown behind" in line and "grant pg_monitor" in line, line
        assert snap.replication_lag_bytes is None
    finally:
        await plain.close()
