"""The PostgreSQL backend against a private server: what the database pane would show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from cockpit.backends.postgres import (
    APPLICATION_NAME,
    PostgresSource,
    build_postgres_sources,
    mask_dsn,
    severity_for,
)
from cockpit.errors import BackendError
from cockpit.lab.servers import free_port
from cockpit.model import DatabaseSnapshot, PaneKind, Severity
from cockpit.profile import DatabaseConfig, Profile, SecretRef, Thresholds

pytestmark = pytest.mark.servers


def source_for(dsn: str, name: str = "app") -> PostgresSource:
    return PostgresSource(DatabaseConfig(name, SecretRef(dsn)), Thresholds())


async def snapshot_when(src: PostgresSource, cond, timeout: float = 10.0) -> DatabaseSnapshot:  # type: ignore[no-untyped-def]
    """Fetch until ``cond(snapshot)`` holds; fail with the last snapshot when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        (snap,) = await src.fetch()
        if cond(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {snap}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def src(postgres_dsn: str) -> AsyncIterator[PostgresSource]:
    s = source_for(postgres_dsn)
    yield s
    await s.close()


async def test_snapshot_of_a_quiet_database(src: PostgresSource, postgres_dsn: str) -> None:
    (snap,) = await src.fetch()
    assert snap.name == "app" and snap.backend == "postgres" and snap.source == "pg:app"
    assert snap.status == "up"
    assert snap.severity is Severity.OK
    assert snap.blocked == 0 and snap.active == 0 and snap.idle_in_transaction == 0
    assert snap.longest_query_s is None and snap.longest_query == ""
    assert snap.max_connections and snap.max_connections >= 20
    assert snap.size_bytes and snap.size_bytes > 1_000_000  # an empty database is ~7 MB
    assert dict(snap.detail)["server"] == mask_dsn(postgres_dsn)
    # Our own session is there, named, but never counted.
    with psycopg.connect(postgres_dsn) as conn:
        names = [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity")]
    assert APPLICATION_NAME in names


async def test_connection_count_follows_new_sessions(src: PostgresSource, postgres_dsn: str) -> None:
    (before,) = await src.fetch()
    assert dict(before.detail)["connections to this database"] == "0"
    conns = [await psycopg.AsyncConnection.connect(postgres_dsn) for _ in range(3)]
    try:
        snap = await snapshot_when(
            src, lambda s: dict(s.detail)["connections to this database"] == "3"
        )
        assert snap.connections is not None and snap.connections >= 3
    finally:
        for c in conns:
            await c.close()
    await snapshot_when(src, lambda s: dict(s.detail)["connections to this database"] == "0")


async def test_blocked_session_and_long_query_are_reported_then_cleared(
    src: PostgresSource, postgres_dsn: str
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
        setup.execute("INSERT INTO accounts VALUES (1, 100)")

    sleeper = await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True)
    holder = await psycopg.AsyncConnection.connect(postgres_dsn)  # not autocommit
    waiter = await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True)
    try:
        # C: the long query (started first, so it is the longest running one).
        sleep_task = asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)"))
        await snapshot_when(src, lambda s: "pg_sleep" in s.longest_query)
        # A: holds the row lock, idle in transaction. B: waits for it.
        await holder.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
        wait_task = asyncio.create_task(
            waiter.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 1")
        )
        snap = await snapshot_when(src, lambda s: s.blocked == 1)
        assert snap.idle_in_transaction == 1
        assert snap.active == 2  # the sleeper and the waiting UPDATE
        assert snap.longest_query == "SELECT pg_sleep(60)"
        assert snap.longest_query_s is not None and snap.longest_query_s >= 0
        assert snap.severity is Severity.WARNING
        assert "oldest idle in transaction" in dict(snap.detail)

        # Ending A's session releases B; cancelling C's query ends it with QueryCanceled.
        msg = await src.terminate(holder.info.backend_pid)
        assert msg.startswith(f"terminated session {holder.info.backend_pid}")
        await asyncio.wait_for(wait_task, 10)
        assert "cancelled" in await src.cancel(sleeper.info.backend_pid)
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(sleep_task, 10)
        snap = await snapshot_when(src, lambda s: s.blocked == 0 and s.active == 0)
        assert snap.severity is Severity.OK and snap.longest_query == ""
        assert "not found" in await src.terminate(holder.info.backend_pid)
    finally:
        for c in (sleeper, holder, waiter):
            await c.close()


async def test_wrong_port_says_what_to_do_and_hides_the_password() -> None:
    port = free_port()
    src = source_for(f"postgresql://app:s3cret-pw@127.0.0.1:{port}/orders")
    t0 = time.monotonic()
    with pytest.raises(BackendError) as err:
        await src.fetch()
    assert time.monotonic() - t0 < 5
    assert err.value.message.startswith(f"cannot connect to app@127.0.0.1:{port}/orders")
    assert err.value.message.endswith("Connection refused")
    assert "running" in err.value.hint
    for text in (str(err.value), repr(err.value), *src.explain_command()):
        assert "s3cret-pw" not in text
    await src.close()


async def test_dsn_from_an_env_reference(
    monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    monkeypatch.setenv("COCKPIT_TEST_DSN", postgres_dsn)
    (src,) = build_postgres_sources(
        Profile(name="t", databases=(DatabaseConfig("orders", SecretRef("env:COCKPIT_TEST_DSN")),))
    )
    assert (src.id, src.pane) == ("pg:orders", PaneKind.DATABASE)
    (snap,) = await src.fetch()
    assert snap.status == "up"
    await src.close()


async def test_missing_database_is_named(postgres_dsn: str) -> None:
    src = source_for(postgres_dsn.rsplit("/", 1)[0] + "/no_such_db")
    with pytest.raises(BackendError) as err:
        await src.fetch()
    assert "does not exist" in err.value.message and "dbname" in err.value.hint
    await src.close()


async def test_recovers_after_its_session_is_killed(src: PostgresSource, postgres_dsn: str) -> None:
    await src.fetch()
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"
            " AND datname = current_database()",
            (APPLICATION_NAME,),
        )
    try:
        await src.fetch()  # may fail once: the server closed the connection under us
    except BackendError as e:
        assert "s3cret" not in str(e)
    (snap,) = await src.fetch()
    assert snap.status == "up"


def test_explain_command_is_runnable_psql_without_password() -> None:
    src = source_for("host=db.internal port=6432 user=ops password=hunter2 dbname=orders")
    argv = src.explain_command()
    assert argv[:3] == ["psql", "postgresql://ops@db.internal:6432/orders", "-c"]
    assert "pg_stat_activity" in argv[3]
    assert all("hunter2" not in a for a in argv)
    assert src.terminate_command(42)[-1] == "SELECT pg_terminate_backend(42)"


@pytest.mark.parametrize(
    ("conns", "blocked", "expected"),
    [
        (10, 0, Severity.OK),
        (74, 0, Severity.OK),
        (75, 0, Severity.WARNING),
        (10, 1, Severity.WARNING),
        (95, 0, Severity.CRITICAL),
        (100, 3, Severity.CRITICAL),
    ],
)
def test_severity_from_connection_ratio_and_blocking(
    conns: int, blocked: int, expected: Severity
) -> None:
    assert severity_for(conns, 100, blocked, Thresholds(connections=0.75)) is expected


def test_mask_dsn_forms() -> None:
    assert mask_dsn("postgresql://u:pw@h:5433/d?sslmode=require") == "u@h:5433/d"
    assert mask_dsn("dbname=d") == "localhost:5432/d"
    assert "pw" not in mask_dsn("postgresql://u:pw@h")


async def test_wrong_password_points_at_the_password_reference(postgres_server, postgres_dsn: str) -> None:  # type: ignore[no-untyped-def]
    # Only this role needs a password: the rest of the shared server stays on trust.
    hba = postgres_server.datadir / "pg_hba.conf"
    text = hba.read_text()
    if "cockpit_pw" not in text:
        hba.write_text("host all cockpit_pw 127.0.0.1/32 scram-sha-256\n" + text)
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS cockpit_pw")
        admin.execute("CREATE ROLE cockpit_pw LOGIN PASSWORD 'right-one'")
        admin.execute("SELECT pg_reload_conf()")
    db = postgres_dsn.rsplit("/", 1)[1]
    base = f"127.0.0.1:{postgres_server.port}/{db}"
    bad = source_for(f"postgresql://cockpit_pw:Wr0ng-pw@{base}")
    # pg_reload_conf() only signals the postmaster: until it has re-read pg_hba.conf the
    # role still logs in on trust, so wait for the refusal.
    deadline = time.monotonic() + 10
    while True:
        try:
            await bad.fetch()
        except BackendError as e:
            err = e
            break
        assert time.monotonic() < deadline, "pg_hba.conf reload never took effect"
        await bad.close()
        await asyncio.sleep(0.05)
    assert err.message == f"authentication failed for cockpit_pw@{base}"
    assert "env:" in err.hint and "profiles.yaml" in err.hint
    assert "Wr0ng-pw" not in str(err)
    await bad.close()
    good = source_for(f"postgresql://cockpit_pw:right-one@{base}")
    (snap,) = await good.fetch()
    assert snap.status == "up"
    await good.close()
