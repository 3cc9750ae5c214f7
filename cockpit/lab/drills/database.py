"""Drill db-lock, "a query blocks others": a holder idle in transaction and two waiters behind it.

``start_blocking_chain(dsn)`` builds the chain holder -> waiter -> waiter2 on one row of a
drill table and returns a ``stop()`` that undoes it. The trainee finds the holder in the
blocking tree and terminates it (``database: terminate session``); the waiters then finish
by themselves. ``stop()`` is safe whether or not that happened, and safe to call twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cockpit.lab.drills.base import Drill, DrillUnavailable

TABLE_SQL = "CREATE TABLE IF NOT EXISTS cockpit_drill_accounts (id int PRIMARY KEY, balance int)"
SEED_SQL = "INSERT INTO cockpit_drill_accounts VALUES (1, 100) ON CONFLICT (id) DO NOTHING"
HOLD_SQL = "UPDATE cockpit_drill_accounts SET balance = balance - 10 WHERE id = 1"
WAIT_SQL = "UPDATE cockpit_drill_accounts SET balance = balance + %s WHERE id = 1"
APPS = ("drill-holder", "drill-waiter", "drill-waiter2")
CONNECT_TIMEOUT_S = 3
READY_TIMEOUT_S = 10.0


def start_blocking_chain(dsn: str) -> Callable[[], None]:
    """Start the chain and wait until both waiters are blocked; return ``stop``."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as setup:
        setup.execute(TABLE_SQL)
        setup.execute(SEED_SQL)
    holder = psycopg.connect(
        dsn, autocommit=False, connect_timeout=CONNECT_TIMEOUT_S, application_name=APPS[0]
    )
    holder.execute(HOLD_SQL)  # the row lock, kept: the session is now idle in transaction
    waiters: list[Any] = []
    threads: list[threading.Thread] = []

    def wait(conn: Any, amount: int) -> None:
        # Ends when the holder goes (terminated or stopped), or with an error on stop.
        with contextlib.suppress(Exception):
            conn.execute(WAIT_SQL, (amount,))

    # A separate session watches for the waits, so the holder's last query stays the UPDATE
    # the trainee should find.
    observer = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    try:
        for amount, app in ((10, APPS[1]), (1, APPS[2])):
            conn = psycopg.connect(
                dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=app
            )
            waiters.append(conn)
            t = threading.Thread(target=wait, args=(conn, amount), name=f"{app}", daemon=True)
            t.start()
            threads.append(t)
            _wait_until_blocked(observer, conn.info.backend_pid)
    except BaseException:
        _close(holder, waiters, threads)
        raise
    finally:
        observer.close()

    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        _close(holder, waiters, threads)

    return stop


def _wait_until_blocked(observer: Any, pid: int) -> None:
    """Poll until ``pid`` waits for a lock."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        row = observer.execute(
            "SELECT cardinality(pg_blocking_pids(%s)) > 0", (pid,)
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.02)
    raise TimeoutError(f"drill session {pid} never blocked")


def _close(holder: Any, waiters: list[Any], threads: list[threading.Thread]) -> None:
    # Closing the holder rolls its transaction back, which releases the waiters in turn.
    with contextlib.suppress(Exception):
        holder.close()
    for t in threads:
        t.join(timeout=5)
    for conn in waiters:
        with contextlib.suppress(Exception):
            conn.close()


BLOCKED_SQL = (
    "select count(*) from pg_stat_activity"
    " where datname = current_database() and cardinality(pg_blocking_pids(pid)) > 0"
)


@dataclass(frozen=True)
class DbLock(Drill):
    def _inject(self, lab: Any) -> dict[str, Any]:
        dsn = getattr(lab, "postgres_dsn", None)
        if not dsn:
            note = getattr(lab, "notes", {}).get("database", "")
            raise DrillUnavailable("drill db-lock needs the lab's PostgreSQL", note or "install postgresql")
        return {"stop": start_blocking_chain(dsn)}

    def _goal_met(self, lab: Any, state: dict[str, Any]) -> bool:
        import psycopg

        with psycopg.connect(lab.postgres_dsn, autocommit=True, connect_timeout=3) as c:
            row = c.execute(BLOCKED_SQL).fetchone()
            return row is not None and int(row[0]) == 0

    def _cleanup(self, lab: Any, state: dict[str, Any]) -> None:
        stop = state.get("stop")
        if stop is not None:
            stop()


DB_LOCK = DbLock(
    "db-lock",
    "blocking chain in PostgreSQL",
    "A session (application drill-holder) holds a row lock, idle in transaction; "
    "two sessions wait behind it, one behind the other.",
    "no blocked sessions (terminate the session that holds the lock)",
    detect_on=("lab-postgres",),
)
