"""The activity screen against a private PostgreSQL: a blocked query appears, the tree shows
its blocker, K terminates it through the ActionRunner (typed confirmation), the waiter clears.

The host app is a small harness with the two hooks the cockpit app provides to screens
(``backend_for`` and ``request_action``), backed by a real ActionRunner and audit file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual import work
from textual.app import App
from textual.widgets import DataTable, Input

from cockpit.actions import ActionOutcome, ActionRunner, ConfirmRequest
from cockpit.audit import AuditLog
from cockpit.backends.postgres import PostgresSource
from cockpit.model import DatabaseSnapshot
from cockpit.profile import DatabaseConfig, Profile, SecretRef, Thresholds
from screens.database import ActivityScreen, open_activity

pytestmark = pytest.mark.servers


class Harness(App):
    def __init__(self, source: PostgresSource, audit: Path, answer: Callable[[Any], Any],
                 read_only: bool = False) -> None:
        super().__init__()
        self.source = source
        self.requests: list[ConfirmRequest] = []
        self.outcomes: list[ActionOutcome] = []

        async def confirm(req: ConfirmRequest) -> Any:
            self.requests.append(req)
            return answer(req)

        self.runner = ActionRunner(
            profile=Profile(name="t", read_only=read_only),
            audit=AuditLog(audit),
            resolve_backend=lambda sid: {source.id: source}[sid],
            confirm=confirm,
        )

    def backend_for(self, record: Any) -> Any:
        return self.source if getattr(record, "source", None) == self.source.id else None

    @work(group="actions", exit_on_error=False)
    async def request_action(self, spec: Any, target: Any, origin: str = "palette") -> None:
        self.outcomes.append(await self.runner.request(spec, target, origin=origin))


@pytest.fixture
async def src(postgres_dsn: str) -> AsyncIterator[PostgresSource]:
    s = PostgresSource(DatabaseConfig("app", SecretRef(postgres_dsn)), Thresholds())
    yield s
    await s.close()


async def until(pilot: Any, cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await pilot.pause(0.05)


def table_pids(screen: ActivityScreen) -> list[int]:
    return [b.pid for b in screen.shown]


def typed(req: ConfirmRequest) -> Any:
    return req.expected if req.typed else True


async def test_find_the_blocker_terminate_it_and_the_waiter_clears(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE orders (id int PRIMARY KEY, total int)")
        setup.execute("INSERT INTO orders VALUES (1, 10)")
    holder = await psycopg.AsyncConnection.connect(postgres_dsn, application_name="worker")
    waiter = await psycopg.AsyncConnection.connect(
        postgres_dsn, autocommit=True, application_name="api"
    )
    a, b = holder.info.backend_pid, waiter.info.backend_pid
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    try:
        await holder.execute("UPDATE orders SET total = 11 WHERE id = 1")
        wait_task = asyncio.create_task(waiter.execute("UPDATE orders SET total = 12 WHERE id = 1"))
        async with app.run_test(size=(160, 48)) as pilot:
            record = DatabaseSnapshot(name="app", backend="postgres", source=src.id)
            screen = open_activity(app, record)
            assert isinstance(screen, ActivityScreen)
            screen.refresh_s = 0.2
            await until(pilot, lambda: len(screen.tree_lines) >= 2, "the blocking tree")
            assert screen.tree_lines[0].startswith(f"{a} postgres/worker · idle in transaction")
            assert screen.tree_lines[1].startswith(f"└─ {b} postgres/api · active")
            assert "orders" in screen.tree_lines[1]

            # `/` filters the sessions; Esc clears the filter, a second Esc would leave.
            await pilot.press("slash", *"worker")
            await until(pilot, lambda: table_pids(screen) == [a], "the filter")
            await pilot.press("escape")
            assert screen.query_one("#filter", Input).value == ""
            await until(pilot, lambda: set(table_pids(screen)) == {a, b}, "filter cleared")
            assert app.screen is screen

            # Select the holder, K, type its name: the runner terminates it.
            table = screen.query_one("#sessions", DataTable)
            table.move_cursor(row=table_pids(screen).index(a))
            await pilot.press("K")
            await until(pilot, lambda: bool(app.outcomes), "the action outcome")
            assert app.outcomes[0].ok, app.outcomes[0].message
            assert app.requests[0].typed and app.requests[0].expected == f"worker:{a}"
            await asyncio.wait_for(wait_task, 10)
            await until(pilot, lambda: a not in table_pids(screen), "the holder gone")
            await until(pilot, lambda: screen.tree_lines == [], "the tree empty")

            await pilot.press("escape")
            assert app.screen is not screen
    finally:
        await holder.close()
        await waiter.close()


async def test_cancel_key_cancels_the_selected_query_and_text_is_literal(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    hostile = "SELECT '[bold red]boom[/] \x1b[31mred', pg_sleep(60)"
    sleeper = await psycopg.AsyncConnection.connect(
        postgres_dsn, autocommit=True, application_name="reporting"
    )
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    try:
        task = asyncio.create_task(sleeper.execute(hostile))
        async with app.run_test(size=(160, 48)) as pilot:
            screen = open_activity(
                app, DatabaseSnapshot(name="app", backend="postgres", source=src.id)
            )
            assert screen is not None
            shown = "SELECT '[bold red]boom[/] red', pg_sleep(60)"  # colour dropped at the record
            await until(pilot, lambda: any(b.query == shown for b in screen.shown), "the query")
            table = screen.query_one("#sessions", DataTable)
            # KeyedTable rows are positions: the session's row is where its pid is shown.
            row = table_pids(screen).index(sleeper.info.backend_pid)
            cell = str(table.get_cell(str(row), "query"))
            assert "[bold red]boom[/]" in cell and "\x1b" not in cell  # markup not parsed
            table.move_cursor(row=table_pids(screen).index(sleeper.info.backend_pid))
            await pilot.press("c")
            await until(pilot, lambda: bool(app.outcomes), "the action outcome")
            assert app.outcomes[0].ok and not app.requests[0].typed
            with pytest.raises(psycopg.errors.QueryCanceled):
                await asyncio.wait_for(task, 10)
    finally:
        await sleeper.close()


async def test_read_only_refuses_from_the_screen(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    other = await psycopg.AsyncConnection.connect(postgres_dsn, application_name="batch")
    app = Harness(src, tmp_path / "audit.jsonl", typed, read_only=True)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            screen = open_activity(
                app, DatabaseSnapshot(name="app", backend="postgres", source=src.id)
            )
            assert screen is not None
            await until(pilot, lambda: bool(screen.shown), "a session")
            await pilot.press("K")
            await until(pilot, lambda: bool(app.outcomes), "the action outcome")
            assert app.outcomes[0].status == "refused" and "read-only" in app.outcomes[0].message
            assert app.requests == []
        await other.execute("SELECT 1")
    finally:
        await other.close()


async def test_without_pg_stat_statements_the_screen_says_how_to_enable_it(
    src: PostgresSource, tmp_path: Path
) -> None:
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = open_activity(app, DatabaseSnapshot(name="app", backend="postgres", source=src.id))
        assert screen is not None
        await until(pilot, lambda: screen.activity is not None, "the activity")
        assert screen.activity is not None and not screen.activity.slow.available
        assert "CREATE EXTENSION" in screen.activity.slow.hint


async def test_a_row_without_activity_is_refused_with_a_notice(
    src: PostgresSource, tmp_path: Path
) -> None:
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    async with app.run_test(size=(120, 30)):
        redis_row = DatabaseSnapshot(name="cache", backend="redis", source="redis:cache")
        assert open_activity(app, redis_row) is None


async def test_the_result_of_an_action_shows_at_once_and_the_cursor_stays_on_its_session(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    """The screen's own refresh is set far away: only the read after the action can show it."""
    conns = [await psycopg.AsyncConnection.connect(postgres_dsn, application_name=f"app{i}")
             for i in range(3)]  # fmt: skip
    for c in conns:
        await c.execute("SELECT 1")  # idle in transaction, oldest first
    pids = [c.info.backend_pid for c in conns]
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            screen = open_activity(app, DatabaseSnapshot(name="app", backend="postgres", source=src.id))
            assert screen is not None
            screen.refresh_s = 600.0
            await until(pilot, lambda: set(pids) <= set(table_pids(screen)), "the sessions")
            table = screen.query_one("#sessions", DataTable)
            # The cursor on the youngest of the three; terminate the oldest from the filter.
            table.move_cursor(row=table_pids(screen).index(pids[2]))
            await pilot.pause()
            target = screen.selected()
            assert target is not None and target.pid == pids[2]
            table.move_cursor(row=table_pids(screen).index(pids[0]))
            await pilot.press("K")
            await until(pilot, lambda: bool(app.outcomes), "the action outcome")
            assert app.outcomes[0].ok, app.outcomes[0].message
            await until(pilot, lambda: pids[0] not in table_pids(screen), "the session gone", 5)
            # Back on the youngest; a session above it goes: the cursor stays on it.
            table.move_cursor(row=table_pids(screen).index(pids[2]))
            await pilot.pause()
            async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
                # pg_terminate_backend(pid, timeout) waits until the session has ended.
                await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pids[1],))
            screen.load()
            await until(pilot, lambda: pids[1] not in table_pids(screen), "the other session gone", 5)
            selected = screen.selected()
            assert selected is not None and selected.pid == pids[2]
    finally:
        for c in conns:
            await c.close()


async def test_an_idle_activity_screen_repaints_nothing_between_reads(
    src: PostgresSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Static

    reads = 0
    real_activity = src.activity

    async def counted() -> Any:
        nonlocal reads
        reads += 1
        return await real_activity()

    monkeypatch.setattr(src, "activity", counted)
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = open_activity(app, DatabaseSnapshot(name="app", backend="postgres", source=src.id))
        assert screen is not None
        screen.refresh_s = 0.1
        await until(pilot, lambda: reads >= 2, "two reads")
        updated: list[str] = []
        real_update = Static.update

        def spy(self: Static, *args: Any, **kwargs: Any) -> None:
            updated.append(self.id or "?")
            real_update(self, *args, **kwargs)

        monkeypatch.setattr(Static, "update", spy)
        seen = reads
        await until(pilot, lambda: reads >= seen + 3, "three more reads")
        assert updated == [], "nothing changed, so nothing is sent"


async def test_database_detail_terminates_the_blocker_it_shows(
    src: PostgresSource, postgres_dsn: str, tmp_path: Path
) -> None:
    """Issue 23 item 4: the database row's detail (not only `database: activity`) offers
    terminate on the session that blocks others, in its footer, through the runner."""
    from textual.widgets import Static

    from screens.detail import DetailScreen
    from widgets.footer import KeyFooter

    with psycopg.connect(postgres_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS invoices (id int PRIMARY KEY, total int)")
        setup.execute("INSERT INTO invoices VALUES (1, 10) ON CONFLICT DO NOTHING")
    holder = await psycopg.AsyncConnection.connect(postgres_dsn, application_name="billing")
    waiter = await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True, application_name="api")
    a = holder.info.backend_pid
    app = Harness(src, tmp_path / "audit.jsonl", typed)
    try:
        await holder.execute("UPDATE invoices SET total = 11 WHERE id = 1")
        wait_task = asyncio.create_task(waiter.execute("UPDATE invoices SET total = 12 WHERE id = 1"))
        async with app.run_test(size=(160, 48)) as pilot:
            record = DatabaseSnapshot(name="app", backend="postgres", source=src.id)
            screen = DetailScreen(record, "Database app", Static(), provider=src)
            await app.push_screen(screen)
            await until(pilot, lambda: any(s.blocked_by for s in screen.sessions), "the blocked session")
            footer = str(screen.query_one(KeyFooter).render())
            assert "K Terminate session (blocker)" in footer, footer
            assert any(c.title.startswith(f"database: terminate session billing:{a}")
                       for c in screen.palette_commands())
            await pilot.press("K")
            await until(pilot, lambda: bool(app.outcomes), "the action outcome")
            assert app.outcomes[0].ok, app.outcomes[0].message
            assert app.requests[0].typed and app.requests[0].expected == f"billing:{a}"
            await asyncio.wait_for(wait_task, 10)
    finally:
        await holder.close()
        await waiter.close()
