"""The Redis backend against a private redis-server: the database row and the queue rows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis

from cockpit.backends.redis import RedisSource, build_redis_sources, mask_url
from cockpit.backends.redis_queues import RedisQueuesSource
from cockpit.errors import BackendError
from cockpit.lab.servers import RedisServer, free_port
from cockpit.model import PaneKind, QueueStatus, Severity
from cockpit.profile import Profile, RedisConfig, SecretRef, Thresholds

pytestmark = pytest.mark.servers


def profile_for(url: str, queues: tuple[str, ...] = (), **thresholds: float) -> Profile:
    return Profile(
        name="t",
        redis=(RedisConfig("cache", SecretRef(url), queues),),
        thresholds=Thresholds(**thresholds),  # type: ignore[arg-type]
    )


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)


@pytest.fixture
async def sources(redis_url: str) -> AsyncIterator[tuple[RedisSource, RedisQueuesSource]]:
    db, queues = build_redis_sources(
        profile_for(redis_url, ("queue:default", "stream:events"), queue_depth=5)
    )
    assert isinstance(db, RedisSource) and isinstance(queues, RedisQueuesSource)
    yield db, queues
    await db.close()
    await queues.close()


def by_name(rows: list[QueueStatus]) -> dict[str, QueueStatus]:
    return {r.name: r for r in rows}


async def test_sources_and_ids(redis_url: str) -> None:
    only_db = build_redis_sources(profile_for(redis_url))
    assert [(s.id, s.pane) for s in only_db] == [("redis:cache", PaneKind.DATABASE)]
    both = build_redis_sources(profile_for(redis_url, ("queue:default",)))
    assert [(s.id, s.pane) for s in both] == [
        ("redis:cache", PaneKind.DATABASE),
        ("redis:cache:queues", PaneKind.QUEUES),
    ]


async def test_database_row_from_info(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis, redis_url: str
) -> None:
    db, _ = sources
    client.set("greeting", "hello")
    client.get("greeting")
    client.get("missing")
    (snap,) = await db.fetch()
    assert (snap.name, snap.backend, snap.source, snap.status) == (
        "cache",
        "redis",
        "redis:cache",
        "up",
    )
    assert snap.connections is not None and snap.connections >= 2  # the test's and ours
    assert snap.max_connections == 10000  # redis-server's default maxclients
    assert snap.size_bytes and snap.size_bytes > 100_000
    assert snap.severity is Severity.OK
    detail = dict(snap.detail)
    dbnum = redis_url.rsplit("/", 1)[1]
    assert f"db{dbnum}=1 keys" in detail["keyspace"]
    assert detail["hit ratio"].endswith(" %")
    assert "ops/s" in detail and detail["role"] == "master"


async def test_list_depth_rises_after_rpush(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    _, queues = sources
    rows = by_name(await queues.fetch())
    # Not created yet: it may be a typo, so not an empty queue: missing, no depth, not green.
    assert rows["queue:default"].depth is None and rows["queue:default"].kind == "missing"
    assert rows["queue:default"].severity is Severity.UNKNOWN
    assert rows["queue:default"].backend == "redis"
    client.rpush("queue:default", *[f"job-{i}" for i in range(3)])
    rows = by_name(await queues.fetch())
    assert rows["queue:default"].depth == 3
    assert rows["queue:default"].severity is Severity.OK
    client.rpush("queue:default", *[f"job-{i}" for i in range(3)])
    rows = by_name(await queues.fetch())
    assert rows["queue:default"].depth == 6
    assert rows["queue:default"].severity is Severity.WARNING  # over queue_depth=5


async def test_stream_pending_entries_are_in_flight(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    _, queues = sources
    assert by_name(await queues.fetch())["stream:events"].kind == "missing"
    for i in range(8):
        client.xadd("stream:events", {"n": str(i)})
    client.xgroup_create("stream:events", "workers", id="0")
    client.xreadgroup("workers", "w1", {"stream:events": ">"}, count=3)  # 3 delivered, unacked
    row = by_name(await queues.fetch())["stream:events"]
    assert row.depth == 8  # the group's backlog: lag 5 + pending 3
    assert row.in_flight == 3
    assert row.oldest_age_s is not None and 0 <= row.oldest_age_s < 60
    assert row.severity is Severity.WARNING  # backlog 5 undelivered + 3 pending > 5
    ids = [e["message_id"] for e in client.xpending_range("stream:events", "workers", "-", "+", 10)]
    client.xack("stream:events", "workers", *ids)
    row = by_name(await queues.fetch())["stream:events"]
    assert row.in_flight == 0 and row.oldest_age_s is None and row.depth == 5
    assert row.severity is Severity.OK  # 5 undelivered is not over 5


async def test_a_queue_key_of_another_type_names_the_key_and_the_fix(
    redis_url: str, client: redis.Redis
) -> None:
    client.sadd("queue:tags", "a", "b")
    client.rpush("queue:default", "x")
    _, queues = build_redis_sources(profile_for(redis_url, ("queue:default", "queue:tags")))
    try:
        rows = by_name(await queues.fetch())
    finally:
        await queues.close()
    # The other queues still show; the set's row says what it is and where to fix it.
    assert rows["queue:default"].depth == 1
    tags = rows["queue:tags"]
    assert tags.depth is None and tags.severity is Severity.UNKNOWN
    assert "queue:tags is a set, not a queue" in tags.note and "queues:" in tags.note


async def test_unreachable_port_says_what_to_do_and_hides_the_password() -> None:
    port = free_port()
    db, queues = build_redis_sources(
        profile_for(f"redis://:Sup3r-secret@127.0.0.1:{port}/0", ("queue:default",))
    )
    for src in (db, queues):
        t0 = time.monotonic()
        with pytest.raises(BackendError) as err:
            await src.fetch()
        assert time.monotonic() - t0 < 5
        assert err.value.message.startswith(f"cannot connect to Redis redis://:***@127.0.0.1:{port}/0")
        assert "redis-server running" in err.value.hint
        assert "Sup3r-secret" not in str(err.value)
        assert all("Sup3r-secret" not in a for a in src.explain_command())
    await db.close()
    await queues.close()


async def test_wrong_password_points_at_the_reference(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    # An ACL user of its own, so the shared server's default user stays passwordless.
    client.execute_command("ACL", "SETUSER", "cockpit", "on", ">right-one", "~*", "+@all")
    try:
        (db,) = build_redis_sources(
            profile_for(f"redis://cockpit:Wr0ng@127.0.0.1:{redis_server.port}/0")
        )
        with pytest.raises(BackendError) as err:
            await db.fetch()
        assert err.value.message == (
            f"authentication failed for Redis redis://cockpit:***@127.0.0.1:{redis_server.port}/0"
        )
        assert "env:" in err.value.hint and "profiles.yaml" in err.value.hint
        assert "Wr0ng" not in str(err.value)
        await db.close()
        (good,) = build_redis_sources(
            profile_for(f"redis://cockpit:right-one@127.0.0.1:{redis_server.port}/0")
        )
        (snap,) = await good.fetch()
        assert snap.status == "up"
        await good.close()
    finally:
        client.execute_command("ACL", "DELUSER", "cockpit")


async def test_recovers_when_the_server_drops_our_connection(
    sources: tuple[RedisSource, RedisQueuesSource], client: redis.Redis
) -> None:
    db, _ = sources
    await db.fetch()
    killed = client.client_kill_filter(skipme=True, _type="normal")
    assert killed >= 1
    try:
        await db.fetch()  # may fail once: the pooled connection was closed under it
    except BackendError:
        pass
    (snap,) = await asyncio.wait_for(db.fetch(), 5)
    assert snap.status == "up"


def test_mask_url() -> None:
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("rediss://app:pw@h/1") == "rediss://app:***@h/1"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
