"""Redis queues by any key name against a private redis-server (issue 22 items 1, 7, 8):
the key's type is detected, a missing key says so, a stream's depth is its groups' backlog,
and the cockpit's own key reads leave the server's hit ratio alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from cockpit.actions import QUEUE_TRIM_STREAM
from cockpit.backends.base import DetailProvider
from cockpit.backends.redis import RedisSource, build_redis_sources
from cockpit.backends.redis_queues import RedisQueuesSource
from cockpit.config import load_text
from cockpit.errors import ConfigError
from cockpit.model import QueueStatus, Severity
from cockpit.profile import Profile, RedisConfig, SecretRef, Thresholds
from widgets.queues import QueuesPane

pytestmark = pytest.mark.servers


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=3)


@pytest.fixture
async def open_sources(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Any] = []

    def make(*queues: str) -> tuple[RedisSource, RedisQueuesSource]:
        profile = Profile(
            name="t",
            redis=(RedisConfig("cache", SecretRef(redis_url), queues),),
            thresholds=Thresholds(queue_depth=30),
        )
        db, q = build_redis_sources(profile)
        assert isinstance(db, RedisSource) and isinstance(q, RedisQueuesSource)
        opened.extend((db, q))
        return db, q

    yield make
    for src in opened:
        await src.close()


def by_name(rows: list[QueueStatus]) -> dict[str, QueueStatus]:
    return {r.name: r for r in rows}


def cells(row: QueueStatus) -> list[str]:
    """The queues pane's cells for ``row`` (its row() needs only a severity style)."""
    pane: Any = SimpleNamespace(severity_style=lambda severity: "")
    return [c.plain for c in QueuesPane.row(pane, row)[1]]


def test_check_config_accepts_any_key_name() -> None:
    text = (
        "profiles: {a: {redis: [{name: r, url: env:R, queues: "
        "[jobs:email, 'list:celery', 'stream:orders:events', 'queue:default', auto]}]}}"
    )
    (profile,) = load_text(text, Path("p.yaml")).profiles.values()
    assert profile.redis[0].queues == (
        "jobs:email", "list:celery", "stream:orders:events", "queue:default", "auto",
    )
    for bad in ("'list:'", "'stream:'", "''"):
        with pytest.raises(ConfigError) as e:
            load_text(f"profiles: {{a: {{redis: [{{name: r, url: env:R, queues: [{bad}]}}]}}}}",
                      Path("p.yaml"))
        assert "list:KEY" in e.value.message


def seed_estate(client: redis.Redis) -> None:
    client.rpush("jobs:email", *[f"job-{i}" for i in range(7)])
    for i in range(50):
        client.xadd("orders:events", {"n": str(i)})
    # fulfilment read everything and acked all but 5; analytics has read 10 and acked them.
    client.xgroup_create("orders:events", "fulfilment", id="0")
    got = client.xreadgroup("fulfilment", "f1", {"orders:events": ">"}, count=100)
    ids = [eid for _s, entries in got for eid, _f in entries]
    client.xack("orders:events", "fulfilment", *ids[:45])
    client.xgroup_create("orders:events", "analytics", id="0")
    got = client.xreadgroup("analytics", "a1", {"orders:events": ">"}, count=10)
    client.xack("orders:events", "analytics", *[eid for _s, es in got for eid, _f in es])


async def test_any_key_name_list_and_stream_backlog_per_group(
    open_sources: Callable[..., Any], client: redis.Redis
) -> None:
    seed_estate(client)
    client.rpush("celery", "a", "b")
    _, queues = open_sources("jobs:email", "orders:events", "auto")
    rows = by_name(await queues.fetch())
    assert rows["jobs:email"].kind == "list" and rows["jobs:email"].depth == 7
    assert rows["celery"].kind == "celery" and rows["celery"].depth == 2
    stream = rows["orders:events"]
    # The backlog is the worst group's lag + pending (analytics: 40 + 0), not the 50 entries.
    assert stream.kind == "stream" and stream.depth == 40
    assert stream.in_flight == 5
    assert stream.severity is Severity.WARNING  # 40 > queue_depth 30
    assert "analytics" in stream.note and "50" in stream.note
    assert isinstance(queues, DetailProvider)
    sections = {s.title: s for s in await queues.detail(stream)}
    groups = sections["Consumer groups"]
    assert "backlog" in groups.columns
    table = {r[0]: dict(zip(groups.columns, r, strict=True)) for r in groups.rows}
    assert (table["fulfilment"]["lag"], table["fulfilment"]["pending"]) == ("0", "5")
    assert table["fulfilment"]["backlog"] == "5" and table["analytics"]["backlog"] == "40"
    assert any("50" in line for line in groups.lines)  # the stream's length is shown too
    # A trim's default keeps every entry (50), not the backlog (40): trimming to a group's
    # backlog would drop entries the other group still has pending.
    assert QUEUE_TRIM_STREAM.resolve_params(queues, stream, None) == {"maxlen": 50}


async def test_stream_read_to_the_end_has_no_backlog(
    open_sources: Callable[..., Any], client: redis.Redis
) -> None:
    for i in range(1308):
        client.xadd("orders:events", {"n": str(i)})
    client.xgroup_create("orders:events", "fulfilment", id="$")
    _, queues = open_sources("orders:events")
    (row,) = await queues.fetch()
    assert row.depth == 0 and row.severity is Severity.OK
    assert "1,308" in row.note


async def test_missing_key_says_so_and_is_not_green(
    open_sources: Callable[..., Any], client: redis.Redis
) -> None:
    client.rpush("jobs:email", "x")
    _, queues = open_sources("jobs:emial", "jobs:email")
    rows = by_name(await queues.fetch())
    missing = rows["jobs:emial"]
    assert missing.severity is Severity.UNKNOWN and missing.depth is None
    assert missing.kind == "missing" and "jobs:emial" in missing.note
    shown = cells(missing)
    assert shown[0] == "?" and shown[1] == "jobs:emial" and shown[2] == "missing"
    assert shown[3] == "–"
    # A list seen once and drained is empty (Redis deletes empty lists), not missing.
    client.delete("jobs:email")
    rows = by_name(await queues.fetch())
    assert rows["jobs:email"].depth == 0 and rows["jobs:email"].severity is Severity.OK
    assert "empty" in rows["jobs:email"].note


async def test_todays_prefixed_forms_keep_working(
    open_sources: Callable[..., Any], client: redis.Redis
) -> None:
    client.rpush("queue:default", "a", "b")  # the literal key of today's form exists
    client.rpush("jobs:email", "a", "b", "c")  # queue:jobs:email means the list jobs:email
    client.xadd("events", {"n": "1"})
    client.zadd("jobs:email:scheduled", {"j1": 1, "j2": 2})
    client.hset("jobs:config", "a", "1")
    _, queues = open_sources(
        "queue:default", "queue:jobs:email", "stream:events", "jobs:email:scheduled",
        "list:events", "jobs:config", "queue:nothing",
    )
    rows = by_name(await queues.fetch())
    assert rows["queue:default"].depth == 2 and rows["queue:default"].kind == "list"
    assert rows["jobs:email"].depth == 3 and "queue:jobs:email" in rows["jobs:email"].note
    assert rows["events"].kind == "stream" and rows["events"].depth == 1
    assert rows["jobs:email:scheduled"].kind == "zset"
    assert rows["jobs:email:scheduled"].depth == 2
    # Insisting on a list where the key is a stream, or a hash: a row that says why.
    wrong = rows["list:events"]
    assert wrong.severity is Severity.UNKNOWN and wrong.depth is None
    assert "stream" in wrong.note and "list" in wrong.note
    assert "hash" in rows["jobs:config"].note and rows["jobs:config"].depth is None
    nothing = rows["queue:nothing"]
    assert nothing.kind == "missing"
    assert "queue:nothing" in nothing.note and "nothing" in nothing.note.replace("queue:nothing", "")


async def test_the_cockpits_reads_leave_the_hit_ratio_alone(
    open_sources: Callable[..., Any], client: redis.Redis
) -> None:
    seed_estate(client)
    client.config_resetstat()
    client.set("session:1", "x")
    for _ in range(7):
        client.get("session:1")  # 7 hits
    client.get("session:gone")
    client.get("session:gone")  # 2 misses: 7 / 9 = 77.7 %
    db, queues = open_sources("jobs:email", "orders:events", "jobs:typo", "queue:default", "auto")
    (snap,) = await db.fetch()
    assert snap.cache_hit_ratio == pytest.approx(7 / 9, abs=1e-4)
    for _ in range(3):
        rows = await queues.fetch()
        await queues.detail(next(r for r in rows if r.name == "orders:events"))
    stats = client.info("stats")
    assert stats["keyspace_misses"] > 2 and stats["keyspace_hits"] > 7  # the cockpit did read
    (snap,) = await db.fetch()
    assert snap.cache_hit_ratio == pytest.approx(7 / 9, abs=1e-4)
    assert dict(snap.detail)["hit ratio"].startswith("77.8 %")


async def test_the_queues_pane_shows_a_real_applications_keys(
    redis_url: str, client: redis.Redis
) -> None:
    """Done-when of issue 22: ``queues: [jobs:email, orders:events, auto]`` on a plain Redis."""
    from cockpit.app import CockpitApp
    from cockpit.model import PaneKind
    from tests.helpers import wait_until

    seed_estate(client)
    client.sadd("rq:queues", "rq:queue:default")
    client.rpush("rq:queue:default", "j1", "j2")
    queues = ("jobs:email", "orders:events", "jobs:emial", "auto")
    profile = Profile(name="t", refresh=0.5, redis=(RedisConfig("cache", SecretRef(redis_url), queues),))
    app = CockpitApp(profile)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.QUEUES]

        def shown() -> dict[str, list[str]]:
            table = pane.table
            rows = [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]
            return {r[1]: r for r in rows}

        await wait_until(lambda: len(shown()) == 4, 15)
        rows = shown()
        assert rows["jobs:email"][2:4] == ["list", "7"]
        assert rows["orders:events"][2:5] == ["stream", "40", "5"]  # backlog, in flight
        assert rows["rq:queue:default"][2:4] == ["rq", "2"]
        assert rows["jobs:emial"][0] == "?" and rows["jobs:emial"][2:4] == ["missing", "–"]
        await pilot.press("q")


async def test_cockpit_check_names_the_missing_key(open_sources: Callable[..., Any]) -> None:
    from cockpit.check import findings_for

    _, queues = open_sources("jobs:emial")
    (row,) = await queues.fetch()
    (finding,) = findings_for(row)
    assert finding.severity is Severity.UNKNOWN
    assert finding.text.startswith("missing: no key jobs:emial in db") and "None" not in finding.text
