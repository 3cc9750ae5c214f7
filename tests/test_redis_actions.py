"""Redis actions against real redis-servers, through the ActionRunner: FLUSHALL only where the
profile allows it, DEL of a queue's key, XTRIM of a stream queue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cockpit.actions import (
    CACHE_FLUSH_ALL,
    QUEUE_DELETE_KEY,
    QUEUE_TRIM_STREAM,
    ActionRunner,
    ConfirmRequest,
    available_actions,
)
from cockpit.audit import AuditLog
from cockpit.backends.redis import RedisSource, build_redis_sources
from cockpit.backends.redis_queues import RedisQueuesSource
from cockpit.lab.servers import RedisServer, ServerUnavailable, start_redis
from cockpit.model import QueueStatus
from cockpit.profile import Profile, RedisConfig, SecretRef
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.servers


def runner_for(src: Any, tmp_path: Path, answer: Any) -> tuple[ActionRunner, list[ConfirmRequest]]:
    asked: list[ConfirmRequest] = []

    async def confirm(req: ConfirmRequest) -> Any:
        asked.append(req)
        return answer(req) if callable(answer) else answer

    runner = ActionRunner(
        profile=Profile(name="t"),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda source_id: {src.id: src}[source_id],
        confirm=confirm,
    )
    return runner, asked


def typed_right(req: ConfirmRequest) -> Any:
    return req.expected


def sources_for(url: str, **kw: Any) -> tuple[RedisSource, RedisQueuesSource]:
    cfg = RedisConfig("cache", SecretRef(url), ("queue:default", "queue:other", "stream:events"), **kw)
    db, queues = build_redis_sources(Profile(name="t", redis=(cfg,)))
    assert isinstance(db, RedisSource) and isinstance(queues, RedisQueuesSource)
    return db, queues


@pytest.fixture
async def sources(redis_url: str) -> AsyncIterator[tuple[RedisSource, RedisQueuesSource]]:
    db, queues = sources_for(redis_url)
    yield db, queues
    await db.close()
    await queues.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)
    yield c
    c.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own: FLUSHALL must not reach the session's shared one."""
    try:
        server = start_redis(tmp_path / "redis")
    except ServerUnavailable as e:
        skip_or_fail(str(e))  # under CI a server that cannot start fails the FLUSHALL test
    try:
        yield server
    finally:
        server.stop()


async def test_flush_all_is_refused_unless_the_profile_allows_it(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, tmp_path: Path
) -> None:
    db, _ = sources
    client.set("keep", "1")
    (snap,) = await db.fetch()
    # Offered (so the palette can say why not), refused below the UI before any confirmation.
    assert CACHE_FLUSH_ALL in available_actions(snap, db)
    runner, asked = runner_for(db, tmp_path, typed_right)
    outcome = await runner.request(CACHE_FLUSH_ALL, snap, origin="palette")
    assert outcome.status == "refused" and asked == []
    assert "FLUSHALL is not enabled for Redis cache" in outcome.message
    assert "allow_flushall: true" in outcome.message
    assert client.get("keep") == "1"
    # The backend refuses on its own too (another caller than the runner).
    with pytest.raises(Exception, match="allow_flushall"):
        await db.flush_all(snap)
    assert client.get("keep") == "1"


async def test_flush_all_when_allowed_needs_the_typed_name_and_empties_every_db(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    base = f"redis://127.0.0.1:{own_redis.port}"
    zero, three = (redis.Redis.from_url(f"{base}/{n}", decode_responses=True) for n in (0, 3))
    db, queues = sources_for(f"{base}/0", allow_flushall=True)
    try:
        zero.mset({f"a{i}": "x" for i in range(4)})
        three.mset({f"b{i}": "x" for i in range(6)})
        (snap,) = await db.fetch()
        runner, asked = runner_for(db, tmp_path, "cach")
        outcome = await runner.request(CACHE_FLUSH_ALL, snap)
        assert outcome.status == "refused" and zero.dbsize() == 4 and three.dbsize() == 6
        runner, asked = runner_for(db, tmp_path, typed_right)
        outcome = await runner.request(CACHE_FLUSH_ALL, snap)
        assert outcome.ok, outcome.message
        assert asked[0].typed and asked[0].expected == "cache"
        assert asked[0].command == f"redis-cli -u {base}/0 FLUSHALL"
        assert outcome.message == "flushed every db of cache: 10 key(s) deleted"
        assert zero.dbsize() == 0 and three.dbsize() == 0
    finally:
        zero.close()
        three.close()
        await db.close()
        await queues.close()


async def test_delete_key_removes_only_that_queue(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, tmp_path: Path,
    redis_url: str,
) -> None:
    _, queues = sources
    client.rpush("queue:default", *range(5))
    client.rpush("queue:other", *range(2))
    rows = {r.name: r for r in await queues.fetch()}
    row = rows["queue:default"]
    assert QUEUE_DELETE_KEY in available_actions(row, queues)
    runner, asked = runner_for(queues, tmp_path, typed_right)
    outcome = await runner.request(QUEUE_DELETE_KEY, row)
    assert outcome.ok, outcome.message
    assert asked[0].typed and asked[0].expected == "queue:default"
    assert asked[0].command == f"redis-cli -u {redis_url} DEL queue:default"
    assert outcome.message == "deleted list queue:default on cache with 5 item(s)"
    assert client.exists("queue:default") == 0 and client.llen("queue:other") == 2
    rows = {r.name: r for r in await queues.fetch()}
    assert rows["queue:default"].depth == 0 and rows["queue:other"].depth == 2


async def test_a_key_the_source_does_not_show_is_refused(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, tmp_path: Path
) -> None:
    _, queues = sources
    client.rpush("precious", "1")
    await queues.fetch()
    forged = QueueStatus("precious", "redis", queues.id, depth=1)
    runner, asked = runner_for(queues, tmp_path, typed_right)
    outcome = await runner.request(QUEUE_DELETE_KEY, forged)
    assert outcome.status == "refused" and asked == [] and client.llen("precious") == 1


async def test_trim_stream_keeps_about_n_newest_entries(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, tmp_path: Path,
    redis_url: str,
) -> None:
    _, queues = sources
    pipe = client.pipeline()
    for i in range(1000):
        pipe.xadd("stream:events", {"n": str(i)})
    pipe.execute()
    rows = {r.name: r for r in await queues.fetch()}
    row = rows["stream:events"]
    assert row.kind == "stream" and QUEUE_TRIM_STREAM in available_actions(row, queues)
    runner, asked = runner_for(queues, tmp_path, typed_right)
    outcome = await runner.request(QUEUE_TRIM_STREAM, row, {"maxlen": 100})
    assert outcome.ok, outcome.message
    assert asked[0].command == f"redis-cli -u {redis_url} XTRIM stream:events MAXLEN '~' 100"
    left = client.xlen("stream:events")
    assert 100 <= left < 1000  # ~: whole macro nodes only, never below N
    assert f"{left} left" in outcome.message
    newest = client.xrevrange("stream:events", count=1)[0][1]
    assert newest == {"n": "999"}  # the newest entries are the ones kept

    # A list cannot be trimmed: refused before any confirmation.
    client.rpush("queue:default", "x")
    rows = {r.name: r for r in await queues.fetch()}
    runner, asked = runner_for(queues, tmp_path, typed_right)
    outcome = await runner.request(QUEUE_TRIM_STREAM, rows["queue:default"], {"maxlen": 0})
    assert outcome.status == "refused" and asked == [] and "not a stream" in outcome.message
