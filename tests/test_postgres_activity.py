"""Activity, blocking tree, slow queries and session actions against a private PostgreSQL.

Actions go through the real ActionRunner (audit file, read-only, typed confirmation) with a
scripted confirmer standing in for the modal: what a user at the keyboard would get.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cockpit.actions import (
    DATABASE_CANCEL_QUERY,
    DATABASE_TERMINATE_SESSION,
    ActionRunner,
    ConfirmRequest,
    available_actions,
)
from cockpit.audit import AuditLog
from cockpit.backends.base import DetailProvider
from cockpit.backends.postgres import PostgresSource
from cockpit.dbmodel import Session, blocking_tree, blocking_tree_lines
from cockpit.profile import DatabaseConfig, Profile, SecretRef, Thresholds

pytestmark = pytest.mark.servers


class Confirmer:
    """Answers like a user: types the expected name for a typed confirmation, else yes."""

    def __init__(self, answer: Callable[[ConfirmRequest], Any] | None = None) -> None:
        self.requests: list[ConfirmRequest] = []
        self.answer = answer or (lambda r: r.expected if r.typed else True)

    async def __call__(self, req: ConfirmRequest) -> Any:
        self.requests.append(req)
        return self.answer(req)


@pytest.fixture
async def src(postgres_dsn: str) -> AsyncIterator[PostgresSource]:
    s = PostgresSource(DatabaseConfig("app", SecretRef(postgres_dsn)), Thresholds())
    yield s
    await s.close()


def runner_for(src: PostgresSource, tmp_path: Path, confirm: Confirmer, **kw: Any) -> ActionRunner:
    return ActionRunner(
        profile=Profile(name="t", **kw),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda source_id: {src.id: src}[source_id],
        confirm=confirm,
    )


async def sessions_when(
    src: PostgresSource, cond: Callable[[list[Session]], bool], timeout: float = 10.0
) -> list[Session]:
    deadline = time.monotonic() + timeout
    while True:
        sessions = await src.sessions()
        if cond(sessions):
            return sessions
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {sessions}")
        await asyncio.sleep(0.05)


async def connect(dsn: str, app: str, autocommit: bool = True) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        dsn, autocommit=autocommit, application_name=app
    )


def by_pid(sessions: list[Session], pid: int) -> Session:
    return next(s for s in sessions if s.pid == pid)


@pytest.fixture
def accounts(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int)")
        setup.execute("INSERT INTO accounts VALUES (1, 100)")


async def test_blocking_chain_tree_then_terminate_the_holder_through_the_runner(
    src: PostgresSource, postgres_dsn: str, accounts: None, tmp_path: Path
) -> None:
    holder = await connect(postgres_dsn, "billing", autocommit=False)
    waiter = await connect(postgres_dsn, "checkout")
    waiter2 = await connect(postgres_dsn, "refunds")
    a, b, c = (x.info.backend_pid for x in (holder, waiter, waiter2))
    try:
        await holder.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
        b_task = asyncio.create_task(
            waiter.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 1")
        )
        await sessions_when(src, lambda ss: by_pid(ss, b).blocked_by == (a,))
        c_task = asyncio.create_task(
            waiter2.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
        )
        sessions = await sessions_when(src, lambda ss: bool(by_pid(ss, c).blocked_by))

        # The tree: holder -> waiter -> waiter2, each waiter naming its lock and table.
        tree = [(n.session.pid, n.depth) for n in blocking_tree(sessions)]
        assert tree[:3] == [(a, 0), (b, 1), (c, 2)]
        lines = blocking_tree_lines(sessions)
        assert lines[0].startswith(f"{a} postgres/billing · idle in transaction")
        assert lines[1].startswith(f"└─ {b} postgres/checkout · active")
        assert "waits for ShareLock on transactionid accounts" in lines[1]
        assert lines[2].startswith(f"  └─ {c} postgres/refunds")
        assert "on tuple accounts" in lines[2]
        holder_row = by_pid(sessions, a)
        assert holder_row.state == "idle in transaction" and holder_row.duration_s is not None

        # The database row's detail shows the same tree.
        assert isinstance(src, DetailProvider)
        (snap,) = await src.fetch()
        sections = {s.title: s for s in await src.detail(snap)}
        def shape(ls):  # durations move between two reads; who blocks whom must not
            return [re.sub(r"\d+(\.\d+)? s\b|\d+m\d+s", "<t>", ln) for ln in ls[:3]]

        assert shape(sections["Blocking tree (who blocks whom)"].lines) == shape(lines)

        # Terminate the holder: destructive, so the user types its name, which names pid/app.
        assert DATABASE_TERMINATE_SESSION in available_actions(holder_row, src)
        confirm = Confirmer()
        outcome = await runner_for(src, tmp_path, confirm).request(
            DATABASE_TERMINATE_SESSION, holder_row, origin="key"
        )
        assert outcome.ok, outcome.message
        (req,) = confirm.requests
        assert req.typed and req.expected == f"billing:{a}"
        assert req.command.endswith(f"-c 'SELECT pg_terminate_backend({a})'")
        assert outcome.message.startswith(f"terminated session {a} (billing:{a})")
        # The waiters proceed, in turn.
        await asyncio.wait_for(b_task, 10)
        await asyncio.wait_for(c_task, 10)
        with psycopg.connect(postgres_dsn) as check:
            assert check.execute("SELECT balance FROM accounts").fetchone() == (111,)
        await sessions_when(src, lambda ss: a not in {s.pid for s in ss})
        assert blocking_tree_lines(await src.sessions()) == []
        entry = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
        assert entry["action"] == "database.terminate_session" and entry["outcome"] == "ok"
        assert entry["target"] == f"billing:{a}"
    finally:
        for conn in (holder, waiter, waiter2):
            await conn.close()


async def test_wrong_typed_name_terminates_nothing(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    victim = await connect(postgres_dsn, "batch")
    try:
        row = by_pid(await sessions_when(src, lambda ss: len(ss) == 1), victim.info.backend_pid)
        confirm = Confirmer(lambda r: str(row.pid))  # the pid alone is not the name asked for
        outcome = await runner_for(src, tmp_path, confirm).request(DATABASE_TERMINATE_SESSION, row)
        assert outcome.status == "refused" and "does not match" in outcome.message
        await victim.execute("SELECT 1")  # still connected
    finally:
        await victim.close()


async def test_cancel_raises_query_canceled_in_the_session_which_stays(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    sleeper = await connect(postgres_dsn, "reporting")
    pid = sleeper.info.backend_pid
    try:
        task = asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)"))
        sessions = await sessions_when(src, lambda ss: by_pid(ss, pid).state == "active")
        row = by_pid(sessions, pid)
        assert row.query == "SELECT pg_sleep(60)"
        confirm = Confirmer()
        outcome = await runner_for(src, tmp_path, confirm).request(DATABASE_CANCEL_QUERY, row)
        assert outcome.ok, outcome.message
        assert not confirm.requests[0].typed  # a change: y/n with the command shown
        assert confirm.requests[0].command.endswith(f"'SELECT pg_cancel_backend({pid})'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 10)
        cur = await sleeper.execute("SELECT 42")  # the session survives a cancel
        assert await cur.fetchone() == (42,)
    finally:
        await sleeper.close()


async def test_read_only_refuses_and_the_session_keeps_running(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    sleeper = await connect(postgres_dsn, "reporting")
    pid = sleeper.info.backend_pid
    try:
        task = asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)"))
        row = by_pid(await sessions_when(src, lambda ss: by_pid(ss, pid).state == "active"), pid)
        confirm = Confirmer()
        runner = runner_for(src, tmp_path, confirm, read_only=True)
        for spec in (DATABASE_CANCEL_QUERY, DATABASE_TERMINATE_SESSION):
            outcome = await runner.request(spec, row)
            assert outcome.status == "refused" and "read-only" in outcome.message
        assert confirm.requests == []  # refused before asking
        assert by_pid(await src.sessions(), pid).state == "active"
        assert not task.done()
        await src.cancel(pid)
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 10)
    finally:
        await sleeper.close()


async def test_a_reused_pid_is_not_signalled(src: PostgresSource, postgres_dsn: str) -> None:
    other = await connect(postgres_dsn, "other")
    try:
        row = by_pid(await sessions_when(src, lambda ss: len(ss) == 1), other.info.backend_pid)
        stale = Session(
            pid=row.pid, source=row.source, application="other",
            backend_start=datetime(2001, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        assert "gone" in await src.terminate_backend(stale)
        await other.execute("SELECT 1")  # the current owner of the pid is untouched
    finally:
        await other.close()


async def test_slow_queries_from_pg_stat_statements(src: PostgresSource, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        for _ in range(2):
            conn.execute("SELECT pg_sleep(0.2)")
    slow = await src.slow_queries()
    assert slow.available
    top = slow.by_mean[0]
    assert "pg_sleep" in top.query and top.calls == 2 and top.mean_ms >= 200
    assert any("pg_sleep" in q.query for q in slow.by_total)
    (snap,) = await src.fetch()
    sections = {s.title: s for s in await src.detail(snap)}
    mean = sections["Slow queries by mean time"]
    assert mean.columns[:3] == ("mean", "total", "calls")
    assert "pg_sleep" in mean.rows[0][-1] and mean.rows[0][2] == "2"


async def test_without_the_extension_the_section_says_how_to_enable_it(
    src: PostgresSource,
) -> None:
    slow = await src.slow_queries()
    assert not slow.available and "not installed" in slow.message
    (snap,) = await src.fetch()
    sections = {s.title: s for s in await src.detail(snap)}
    text = "\n".join(sections["Slow queries (pg_stat_statements)"].lines)
    assert "CREATE EXTENSION pg_stat_statements" in text
    assert "shared_preload_libraries" in text


async def test_a_monitoring_role_without_superuser_sees_other_sessions(
    postgres_server, postgres_dsn: str  # type: ignore[no-untyped-def]
) -> None:
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'cockpit_mon'").fetchone():
            admin.execute("CREATE ROLE cockpit_mon LOGIN")
        admin.execute("GRANT pg_monitor TO cockpit_mon")
    mon_dsn = postgres_dsn.replace("postgres@", "cockpit_mon@")
    src = PostgresSource(DatabaseConfig("app", SecretRef(mon_dsn)), Thresholds())
    busy = await connect(postgres_dsn, "etl")
    try:
        task = asyncio.create_task(busy.execute("SELECT pg_sleep(60)"))
        sessions = await sessions_when(
            src, lambda ss: any(s.application == "etl" and s.state == "active" for s in ss)
        )
        etl = next(s for s in sessions if s.application == "etl")
        assert etl.query == "SELECT pg_sleep(60)"  # pg_monitor reads other roles' queries
        (snap,) = await src.fetch()
        assert snap.status == "up"
        await busy.cancel_safe()
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 10)
    finally:
        await busy.close()
        await src.close()


async def test_query_text_is_stored_safe(src: PostgresSource, postgres_dsn: str) -> None:
    hostile = "SELECT '[bold red]boom[/] \x1b]0;pwned\x07', pg_sleep(30)"
    shown = "SELECT '[bold red]boom[/] ␛]0;pwned␇', pg_sleep(30)"  # markup kept, escapes visible
    conn = await connect(postgres_dsn, "[red]app[/]")
    try:
        task = asyncio.create_task(conn.execute(hostile))
        sessions = await sessions_when(src, lambda ss: any(s.query == shown for s in ss))
        row = next(s for s in sessions if s.query == shown)
        assert row.application == "[red]app[/]"
        assert row.name == f"red_app:{row.pid}"  # safe to type: no brackets, no spaces
        await src.cancel(row.pid)
        with pytest.raises(psycopg.errors.QueryCanceled):
            await asyncio.wait_for(task, 10)
    finally:
        await conn.close()


async def test_lab_drill_blocking_chain_shows_in_the_tree_and_clears(
    src: PostgresSource, postgres_dsn: str
) -> None:
    from cockpit.lab.drills.database import start_blocking_chain

    stop = await asyncio.to_thread(start_blocking_chain, postgres_dsn)
    try:
        sessions = await sessions_when(src, lambda ss: len(blocking_tree(ss)) >= 3)
        nodes = blocking_tree(sessions)
        assert [(n.session.application, n.depth) for n in nodes[:3]] == [
            ("drill-holder", 0), ("drill-waiter", 1), ("drill-waiter2", 2),
        ]
        assert "UPDATE cockpit_drill_accounts" in nodes[0].session.query
        # The trainee's move: terminate the holder; the waiters then clear by themselves.
        await src.terminate_backend(nodes[0].session)
        await sessions_when(src, lambda ss: blocking_tree(ss) == [])
    finally:
        await asyncio.to_thread(stop)
        await asyncio.to_thread(stop)  # idempotent
    await sessions_when(src, lambda ss: not any(s.application.startswith("drill-") for s in ss))


async def test_lab_drill_stop_releases_the_chain_untouched(
    src: PostgresSource, postgres_dsn: str
) -> None:
    from cockpit.lab.drills.database import start_blocking_chain

    stop = await asyncio.to_thread(start_blocking_chain, postgres_dsn)
    await sessions_when(src, lambda ss: len(blocking_tree(ss)) >= 3)
    await asyncio.to_thread(stop)
    await sessions_when(src, lambda ss: not any(s.application.startswith("drill-") for s in ss))
    with psycopg.connect(postgres_dsn) as check:  # the holder rolled back, both waiters ran
        assert check.execute("SELECT balance FROM cockpit_drill_accounts").fetchone() == (111,)
