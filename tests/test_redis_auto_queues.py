"""queues: auto against a real redis-server: Celery, RQ and BullMQ layouts are detected (and
say so), other keys are ignored, and the keyspace is walked with a bounded SCAN, never KEYS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from cockpit.backends import redis_queues as redis_backend
from cockpit.backends.redis import build_redis_sources
from cockpit.backends.redis_queues import RedisQueuesSource
from cockpit.model import QueueStatus
from cockpit.profile import Profile, RedisConfig, SecretRef

pytestmark = pytest.mark.servers
SEP = "\x06\x16"  # kombu's field separator in _kombu.binding.* members


def auto_source(url: str, queues: tuple[str, ...] = ("auto",)) -> RedisQueuesSource:
    sources = build_redis_sources(
        Profile(name="t", redis=(RedisConfig("cache", SecretRef(url), queues),))
    )
    (queue_source,) = [s for s in sources if isinstance(s, RedisQueuesSource)]
    return queue_source


@pytest.fixture
async def src(redis_url: str) -> AsyncIterator[RedisQueuesSource]:
    s = auto_source(redis_url)
    yield s
    await s.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)
    yield c
    c.close()


def noise(client: redis.Redis) -> None:
    """Keys that look nothing like a job queue, or almost: none may become a row."""
    client.set("session:abc", "x")
    client.rpush("mylist", "a", "b")
    client.hset("cache:user:1", mapping={"name": "x"})
    client.hset("bull:email:1", mapping={"data": "{}"})  # a BullMQ job, not a queue
    client.hset("rq:job:42", mapping={"status": "queued"})  # an RQ job, not a queue
    client.sadd("_kombu.binding.reply.celery.pidbox", f"{SEP}{SEP}w1@host.reply.celery.pidbox")


async def rows_of(src: RedisQueuesSource) -> dict[str, QueueStatus]:
    return {r.name: r for r in await src.fetch()}


async def test_celery_queues_from_kombu_bindings_and_the_default_list(
    src: RedisQueuesSource, client: redis.Redis
) -> None:
    noise(client)
    client.rpush("celery", *["{}"] * 3)
    client.sadd("_kombu.binding.celery", f"celery{SEP}{SEP}celery")
    client.sadd("_kombu.binding.emails", f"emails{SEP}{SEP}emails")
    client.rpush("emails", "{}", "{}")
    client.sadd("_kombu.binding.reports", f"reports{SEP}{SEP}reports")  # bound, empty
    rows = await rows_of(src)
    assert set(rows) == {"celery", "emails", "reports"}
    assert {r.kind for r in rows.values()} == {"celery"}
    assert (rows["celery"].depth, rows["emails"].depth, rows["reports"].depth) == (3, 2, 0)
    (found, *_) = await src.detail(rows["emails"])
    assert found.title == "Detected by queues: auto as Celery"
    assert found.lines[0] == "matched: Celery queue emails: bound in the kombu set _kombu.binding.emails"
    assert found.lines[1].endswith("the whole db")


async def test_celery_default_list_alone(src: RedisQueuesSource, client: redis.Redis) -> None:
    client.rpush("celery", "{}")
    rows = await rows_of(src)
    assert list(rows) == ["celery"] and rows["celery"].kind == "celery"


async def test_rq_queues_from_the_rq_queues_set(src: RedisQueuesSource, client: redis.Redis) -> None:
    noise(client)
    client.sadd("rq:queues", "rq:queue:default", "rq:queue:high")
    client.rpush("rq:queue:default", "job1", "job2", "job3", "job4")
    rows = await rows_of(src)
    assert set(rows) == {"rq:queue:default", "rq:queue:high"}
    assert rows["rq:queue:default"].depth == 4 and rows["rq:queue:high"].depth == 0
    assert rows["rq:queue:default"].kind == "rq"
    (found, *_) = await src.detail(rows["rq:queue:high"])
    assert found.title == "Detected by queues: auto as RQ"
    assert "member of the set rq:queues" in found.lines[0]


async def test_bullmq_wait_and_active_lists(src: RedisQueuesSource, client: redis.Redis) -> None:
    noise(client)
    client.rpush("bull:email:wait", "1", "2")
    client.rpush("bull:email:active", "3")
    client.hset("bull:email:meta", mapping={"opts.maxLenEvents": "10000"})
    client.hset("bull:sms:meta", mapping={"opts.maxLenEvents": "10000"})  # no jobs waiting
    rows = await rows_of(src)
    assert set(rows) == {"bull:email:wait", "bull:sms:wait"}
    email = rows["bull:email:wait"]
    assert (email.kind, email.depth, email.in_flight) == ("bullmq", 2, 1)
    assert rows["bull:sms:wait"].depth == 0


async def test_nothing_detected_on_a_db_of_other_keys(src: RedisQueuesSource, client: redis.Redis) -> None:
    noise(client)
    assert await src.fetch() == []


async def test_auto_beside_configured_keys(redis_url: str, client: redis.Redis) -> None:
    src = auto_source(redis_url, ("auto", "queue:default"))
    try:
        client.rpush("queue:default", "x")
        client.sadd("rq:queues", "rq:queue:default")
        rows = await rows_of(src)
        assert {n: r.kind for n, r in rows.items()} == {"queue:default": "list", "rq:queue:default": "rq"}
    finally:
        await src.close()


async def test_detection_uses_a_bounded_scan_never_keys(
    src: RedisQueuesSource, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def calls(name: str) -> int:
        return int(client.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))

    client.mset({f"filler:{i}": "x" for i in range(300)})
    client.rpush("bull:email:wait", "1")
    keys_before, scans_before = calls("keys"), calls("scan")
    monkeypatch.setattr(redis_backend, "SCAN_COUNT", 10)
    monkeypatch.setattr(redis_backend, "SCAN_ROUNDS", 3)
    await src.fetch()
    assert calls("keys") == keys_before  # KEYS blocks the server: never used
    assert 1 <= calls("scan") - scans_before <= 3
    assert "stopped before the end of a large db" in src.scan_note
