"""Generated activity for the lab's private PostgreSQL and Redis, so their panes have a pulse.

Runs in the cockpit process, so it stays cheap: a couple of daemon threads per server that
sleep on ``Event.wait`` between small steps. ``stop()`` returns within about a second
(the slow query is cancelled, not waited for).

PostgreSQL: a table ``orders`` taking writes, three idle connections (``api``, ``worker``,
``metabase``), now and then a connection left ``idle in transaction`` holding a row lock for
~20 s, and ``select pg_sleep(8)`` every ~30 s.
Redis, keyed like a real application's: the list ``jobs:email`` filled in bursts (RPUSH) and
drained steadily (LPOP), so its depth rises and falls between 1 and ~300; the stream
``orders:events`` read by two consumer groups, ``fulfilment`` (acks most, leaves some pending)
and ``analytics`` (reads in slow batches, so its lag moves); the sorted set
``jobs:email:scheduled`` of delayed jobs (score: when due); and the keys of three job
libraries, for ``queues: auto``: Celery's ``celery`` list (bound in ``_kombu.binding.celery``),
RQ's ``rq:queue:default`` (in the set ``rq:queues``) and BullMQ's ``bull:emails:wait`` and
``:active`` lists (with the ``bull:emails:meta`` hash).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from typing import Any

log = logging.getLogger("cockpit.lab")

STEP = 1.0  # seconds between steps of every loop
SLOW_QUERY_EVERY = 30.0
SLOW_QUERY_SECONDS = 8
IDLE_TX_EVERY = 45.0
IDLE_TX_SECONDS = 20.0


class _Activity:
    name = "activity"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rng = random.Random()

    def _spawn(self, target: Any, suffix: str) -> None:
        t = threading.Thread(
            target=self._guard, args=(target,), name=f"lab-{self.name}-{suffix}", daemon=True
        )
        t.start()
        self._threads.append(t)

    def _guard(self, target: Any) -> None:
        # The server going away (stop, or a drill killing connections) ends or pauses a
        # loop; it must never print into the cockpit's screen.
        while not self._stop.is_set():
            try:
                target()
                return
            except Exception as e:
                if self._stop.is_set():
                    return
                log.warning("lab %s activity: %s; retrying", self.name, e)
                self._stop.wait(5.0)

    def stop(self) -> None:
        self._stop.set()
        self._interrupt()
        deadline = time.monotonic() + 2.0
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _interrupt(self) -> None:
        """Unblock threads waiting on the server."""


class PostgresActivity(_Activity):
    name = "postgres"

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self._slow_conn: Any = None
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()

    def start(self) -> PostgresActivity:
        self._spawn(self._writer, "writer")
        self._spawn(self._slow_queries, "slow")
        return self

    def _connect(self, app: str, *, autocommit: bool = True) -> Any:
        import psycopg

        conn = psycopg.connect(
            self.dsn, autocommit=autocommit, application_name=app, connect_timeout=3
        )
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _interrupt(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        slow = self._slow_conn
        if slow is not None:
            with contextlib.suppress(Exception):
                slow.cancel_safe(timeout=1.0)
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()

    def _setup(self, conn: Any) -> None:
        conn.execute(
            "create table if not exists orders ("
            " id bigserial primary key,"
            " customer_id int not null,"
            " status text not null default 'new',"
            " total numeric(10, 2) not null,"
            " created_at timestamptz not null default now(),"
            " updated_at timestamptz not null default now())"
        )
        if conn.execute("select count(*) from orders").fetchone()[0] == 0:
            conn.execute(
                "insert into orders (customer_id, status, total, created_at)"
                " select (random() * 5000)::int,"
                " (array['new','paid','shipped','delivered'])[1 + (random() * 3)::int],"
                " round((random() * 400 + 5)::numeric, 2),"
                " now() - random() * interval '30 days'"
                " from generate_series(1, 2000)"
            )
        with contextlib.suppress(Exception):  # needs shared_preload_libraries; optional
            conn.execute("create extension if not exists pg_stat_statements")

    def _writer(self) -> None:
        writer = self._connect("api")
        self._setup(writer)
        for app in ("worker", "metabase", "api"):  # idle connections, as a pool keeps them
            self._connect(app).execute("select 1")
        idle_tx: Any = None
        idle_tx_until = 0.0
        next_idle_tx = time.monotonic() + 10.0
        while not self._stop.wait(STEP):
            rng = self._rng
            writer.execute(
                "insert into orders (customer_id, total) values (%s, %s)",
                (rng.randint(1, 5000), round(rng.uniform(5, 400), 2)),
            )
            writer.execute(
                "update orders set status = %s, updated_at = now()"
                " where id = (select id from orders where status <> 'delivered'"
                " order by random() limit 1)",
                (rng.choice(("paid", "shipped", "delivered")),),
            )
            if rng.random() < 0.2:
                writer.execute(
                    "select status, count(*), sum(total) from orders"
                    " where created_at > now() - interval '1 day' group by status"
                ).fetchall()
            now = time.monotonic()
            if idle_tx is None and now >= next_idle_tx:
                # A forgotten transaction: took a row lock, then the code went elsewhere.
                idle_tx = self._connect("worker", autocommit=False)
                idle_tx.execute(
                    "update orders set updated_at = now() where id = (select min(id) from orders)"
                )
                idle_tx_until = now + IDLE_TX_SECONDS
            elif idle_tx is not None and now >= idle_tx_until:
                with contextlib.suppress(Exception):
                    idle_tx.commit()
                    idle_tx.close()
                idle_tx = None
                next_idle_tx = now + IDLE_TX_EVERY * rng.uniform(0.7, 1.3)

    def _slow_queries(self) -> None:
        import psycopg

        conn = self._connect("reporting")
        self._slow_conn = conn
        while not self._stop.wait(SLOW_QUERY_EVERY * self._rng.uniform(0.8, 1.2)):
            try:
                # The query text is what the Database pane shows as the longest query.
                conn.execute("select pg_sleep(%s)", (SLOW_QUERY_SECONDS,))
            except psycopg.errors.QueryCanceled:
                pass  # cancelled by stop() or by someone practising pg_cancel_backend


class RedisActivity(_Activity):
    name = "redis"
    QUEUE = "jobs:email"
    STREAM = "orders:events"
    GROUP = "fulfilment"
    SLOW_GROUP = "analytics"
    DELAYED = "jobs:email:scheduled"
    CELERY = "celery"
    RQ = "rq:queue:default"
    BULL = "bull:emails"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._client: Any = None

    def start(self) -> RedisActivity:
        self._spawn(self._run, "loop")
        return self

    def _interrupt(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()

    def _seed(self, r: Any) -> None:
        """The keys a library writes once, and a first item in every queue, so that none
        starts as missing."""
        import redis

        for group in (self.GROUP, self.SLOW_GROUP):
            with contextlib.suppress(redis.ResponseError):  # BUSYGROUP: it exists already
                r.xgroup_create(self.STREAM, group, id="0", mkstream=True)
        sep = "\x06\x16"  # kombu's: routing key, pattern, queue
        pipe = r.pipeline(transaction=False)
        pipe.sadd("_kombu.binding.celery", f"celery{sep}{sep}celery")
        pipe.sadd("rq:queues", self.RQ)
        pipe.hset(f"{self.BULL}:meta", mapping={"opts.maxLenEvents": "10000", "version": "bullmq:5"})
        pipe.rpush(self.QUEUE, '{"job":"email","n":0}')
        pipe.rpush(self.CELERY, '{"task":"tasks.resize"}')
        pipe.rpush(self.RQ, "job-0")
        pipe.rpush(f"{self.BULL}:wait", "0")
        pipe.zadd(self.DELAYED, {'{"job":"email","retry":0}': time.time() + 60})
        pipe.execute()

    def _run(self) -> None:
        import redis

        r = redis.Redis.from_url(self.url, socket_timeout=5, decode_responses=True)
        self._client = r
        self._seed(r)
        rng = self._rng
        burst_left = rng.randint(120, 250)
        seq = 0
        while not self._stop.wait(STEP):
            depth = int(r.llen(self.QUEUE))
            if burst_left == 0 and depth < 20 and rng.random() < 0.15:
                burst_left = rng.randint(120, 300 - depth)
            pipe = r.pipeline(transaction=False)
            push = min(burst_left, rng.randint(30, 60))
            if push:
                burst_left -= push
                pipe.rpush(self.QUEUE, *(f'{{"job":"email","n":{seq + i}}}' for i in range(push)))
                seq += push
            # The worker never takes the last job: a drained list is deleted, and a cockpit
            # started then could not tell it from a typo (it shows the key as missing).
            take = min(rng.randint(4, 8), depth + push - 1)
            if take > 0:
                pipe.lpop(self.QUEUE, take)
            for _ in range(rng.randint(1, 3)):
                pipe.xadd(
                    self.STREAM,
                    {"type": rng.choice(("order.created", "order.paid", "order.shipped")),
                     "order_id": str(rng.randint(10_000, 99_999))},
                    maxlen=2000, approximate=True,
                )  # fmt: skip
            self._libraries(pipe, seq)
            pipe.execute()
            # One consumer that acks most of what it reads and leaves some pending, then
            # sometimes catches up on old pending entries: the lag moves, never runs away.
            got: Any = r.xreadgroup(self.GROUP, "worker-1", {self.STREAM: ">"}, count=5)
            ids = [eid for _stream, entries in got for eid, _fields in entries]
            acked = [eid for eid in ids if rng.random() < 0.8]
            if acked:
                r.xack(self.STREAM, self.GROUP, *acked)
            pending = r.xpending(self.STREAM, self.GROUP)
            if int(pending.get("pending", 0)) > 30:
                old = r.xpending_range(self.STREAM, self.GROUP, min="-", max="+", count=10)
                r.xack(self.STREAM, self.GROUP, *(p["message_id"] for p in old))
            # The analytics group reads a batch now and then: its lag saws up and down.
            if rng.random() < 0.15:
                got = r.xreadgroup(self.SLOW_GROUP, "etl-1", {self.STREAM: ">"}, count=40)
                ids = [eid for _stream, entries in got for eid, _fields in entries]
                if ids:
                    r.xack(self.STREAM, self.SLOW_GROUP, *ids)

    def _libraries(self, pipe: Any, seq: int) -> None:
        """One step of the Celery, RQ and BullMQ queues and the delayed jobs: a few in, a few
        out, never quite empty (Redis deletes an empty list)."""
        rng = self._rng
        now = time.time()
        for key, keep in ((self.CELERY, 12), (self.RQ, 8), (f"{self.BULL}:wait", 6),
                          (f"{self.BULL}:active", 3)):  # fmt: skip
            pipe.rpush(key, *[f'{{"job":{seq},"n":{i}}}' for i in range(rng.randint(1, 3))])
            pipe.ltrim(key, -rng.randint(1, keep), -1)
        # Delayed jobs: retries due within the next two minutes; due ones leave the set.
        pipe.zadd(self.DELAYED, {f'{{"job":"email","retry":{seq}}}': now + rng.uniform(5, 120)})
        pipe.zremrangebyscore(self.DELAYED, "-inf", now)


class ActivityProcess:
    """The activity above in a child process of its own.

    The threads used to run inside the cockpit, where their CPU and memory were counted as
    the cockpit's (bench/README.md): a real estate's traffic does not run in the cockpit.
    The child stops when ``stop()`` closes its stdin, or when the cockpit dies (EOF too).
    """

    def __init__(self, postgres_dsn: str | None, redis_url: str | None, log_path: Any) -> None:
        self.args = [*(["--postgres", postgres_dsn] if postgres_dsn else []),
                     *(["--redis", redis_url] if redis_url else [])]  # fmt: skip
        self.log_path = log_path
        self._proc: Any = None

    def start(self) -> ActivityProcess:
        import os
        import subprocess
        import sys
        from pathlib import Path

        root = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as log_file:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "cockpit.lab.activity", *self.args],
                stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(5)
        except Exception:
            proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(2)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m cockpit.lab.activity")
    parser.add_argument("--postgres")
    parser.add_argument("--redis")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s activity %(message)s")
    running: list[_Activity] = []
    if args.postgres:
        running.append(PostgresActivity(args.postgres).start())
    if args.redis:
        running.append(RedisActivity(args.redis).start())
    # Until the cockpit closes our stdin, or dies (EOF either way).
    with contextlib.suppress(Exception):
        sys.stdin.buffer.read()
    for activity in running:
        activity.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
