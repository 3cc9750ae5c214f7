"""Redis in depth against a private redis-server: FLUSHDB through the ActionRunner, queue
depth history, key count, INFO/slowlog detail, stream consumer-group lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cockpit.actions import CACHE_FLUSH, ActionRunner, ConfirmRequest, available_actions
from cockpit.audit import AuditLog
from cockpit.backends.base import DetailProvider
from cockpit.backends.redis import RedisSource, build_redis_sources
from cockpit.backends.redis_queues import HISTORY, RedisQueuesSource
from cockpit.profile import Profile, RedisConfig, SecretRef

pytestmark = pytest.mark.servers


@pytest.fixture
async def sources(redis_url: str) -> AsyncIterator[tuple[RedisSource, RedisQueuesSource]]:
    profile = Profile(
        name="t", redis=(RedisConfig("cache", SecretRef(redis_url), ("queue:default", "stream:events")),)
    )
    db, queues = build_redis_sources(profile)
    assert isinstance(db, RedisSource) and isinstance(queues, RedisQueuesSource)
    yield db, queues
    await db.close()
    await queues.close()


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)


def runner_for(src: Any, tmp_path: Path, answer: Any, **kw: Any) -> tuple[ActionRunner, list]:
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> Any:
        asked.append(req)
        return answer(req) if callable(answer) else answer

    runner = ActionRunner(
        profile=Profile(name="t", **kw),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda source_id: {src.id: src}[source_id],
        confirm=confirm,
    )
    return runner, asked


def other_db(redis_url: str) -> str:
    base, n = redis_url.rsplit("/", 1)
    return f"{base}/{(int(n) + 1) % 16 or 1}"


async def test_flush_through_the_runner_empties_only_the_configured_db(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, redis_url: str,
    tmp_path: Path,
) -> None:
    db, _ = sources
    neighbour = redis.Redis.from_url(other_db(redis_url), decode_responses=True)
    neighbour.set("cockpit-test:keep", "1")
    try:
        client.mset({f"session:{i}": "x" for i in range(25)})
        (snap,) = await db.fetch()
        n = redis_url.rsplit("/", 1)[1]
        assert dict(snap.detail)[f"keys in db{n}"] == "25"
        assert CACHE_FLUSH in available_actions(snap, db)

        # A wrong name runs nothing.
        runner, asked = runner_for(db, tmp_path, "cach")
        outcome = await runner.request(CACHE_FLUSH, snap, origin="key")
        assert outcome.status == "refused" and client.dbsize() == 25

        # Typing the instance name flushes this db, and only this one.
        runner, asked = runner_for(db, tmp_path, lambda r: r.expected)
        outcome = await runner.request(CACHE_FLUSH, snap, origin="key")
        assert outcome.ok, outcome.message
        assert asked[0].typed and asked[0].expected == "cache"
        assert asked[0].command == f"redis-cli -u {redis_url} FLUSHDB"
        assert outcome.message == f"flushed db{n} of cache: 25 key(s) deleted"
        assert client.dbsize() == 0
        assert neighbour.get("cockpit-test:keep") == "1"
    finally:
        neighbour.delete("cockpit-test:keep")
        neighbour.close()


async def test_flush_is_refused_read_only_and_the_password_is_masked(
    redis_server, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    url = f"redis://:Sup3r-secret@127.0.0.1:{redis_server.port}/7"
    (db,) = build_redis_sources(Profile(name="t", redis=(RedisConfig("cache", SecretRef(url)),)))
    assert isinstance(db, RedisSource)
    from cockpit.model import DatabaseSnapshot

    snap = DatabaseSnapshot(name="cache", backend="redis", source=db.id)
    argv = db.flush_db_command(snap)
    assert argv == ["redis-cli", "-u", f"redis://:***@127.0.0.1:{redis_server.port}/7", "FLUSHDB"]
    runner, asked = runner_for(db, tmp_path, lambda r: r.expected, read_only=True)
    outcome = await runner.request(CACHE_FLUSH, snap)
    assert outcome.status == "refused" and "read-only" in outcome.message and asked == []
    await db.close()


async def test_queue_history_grows_and_is_bounded(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    _, queues = sources
    for i in range(3):
        client.rpush("queue:default", *["job"] * (i + 1))
        rows = {r.name: r for r in await queues.fetch()}
    assert rows["queue:default"].history == (1.0, 3.0, 6.0)
    assert rows["stream:events"].history == ()  # missing: a gap, not zeros
    for _ in range(HISTORY + 5):
        rows = {r.name: r for r in await queues.fetch()}
    history = rows["queue:default"].history
    assert len(history) == HISTORY and history[-1] == 6.0


async def test_stream_detail_shows_each_consumer_groups_pending_and_lag(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    _, queues = sources
    client.rpush("queue:default", "job")
    for i in range(10):
        client.xadd("stream:events", {"n": str(i)})
    client.xgroup_create("stream:events", "mailer", id="0")
    client.xgroup_create("stream:events", "audit", id="0")
    client.xreadgroup("mailer", "m1", {"stream:events": ">"}, count=4)
    rows = {r.name: r for r in await queues.fetch()}
    assert isinstance(queues, DetailProvider)
    sections = {s.title: s for s in await queues.detail(rows["stream:events"])}
    groups = {row[0]: row for row in sections["Consumer groups"].rows}
    assert sections["Consumer groups"].columns[3:5] == ("pending", "lag")
    assert groups["mailer"][1] == "1" and groups["mailer"][3:5] == ("4", "6")
    assert groups["audit"][1] == "0" and groups["audit"][3:5] == ("0", "10")
    depth = next(s for s in sections.values() if s.title.startswith("Depth over"))
    assert depth.lines == ("10",)
    # A list queue has its depth history and no consumer groups.
    sections = await queues.detail(rows["queue:default"])
    assert [s.title for s in sections] == ["Depth over the last 1 refreshes (oldest first)"]


async def test_database_detail_has_memory_stats_keyspace_and_slowlog(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    db, _ = sources
    client.config_set("slowlog-log-slower-than", "0")  # log every command
    try:
        client.set("k", "v")
        (snap,) = await db.fetch()
        detail = dict(snap.detail)
        assert detail["eviction policy"] == "noeviction"
        assert detail["evicted keys"] == "0"
        sections = {s.title: s for s in await db.detail(snap)}
        memory = dict(sections["Memory (INFO memory)"].rows)
        assert memory["eviction policy"] == "noeviction" and memory["used"].endswith(("K", "M"))
        stats = dict(sections["Stats (INFO stats)"].rows)
        assert int(stats["commands processed"]) > 0
        assert any(row[2].startswith("SET k") or "set" in row[2].lower()
                   for row in sections["Slowlog (slowest recent commands)"].rows)
    finally:
        client.config_set("slowlog-log-slower-than", "10000")
        client.slowlog_reset()
