"""Secrets stay off the screen: a Redis password given as ``?password=`` in its URL, and the
command-line forms the audit must mask (PGPASSWORD=, AWS_SECRET_ACCESS_KEY=, redis-cli -a)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions import CACHE_FLUSH, ActionRunner, ConfirmRequest
from cockpit.app import CockpitApp
from cockpit.audit import AuditLog
from cockpit.backends.redis import RedisSource, build_redis_sources
from cockpit.explain import explain
from cockpit.lab.servers import ServerUnavailable, start_redis
from cockpit.model import PaneKind
from cockpit.profile import Profile, RedisConfig, SecretRef
from cockpit.share import Target, watch

from .helpers import wait_until

PW = "S3cretPW"


# --- the audit masker's forms -----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "kept"),
    [
        ("PGPASSWORD=S3cretPW psql -h db -U app", "PGPASSWORD=*** psql -h db -U app"),
        ("env AWS_SECRET_ACCESS_KEY=S3cretPW aws s3 ls", "env AWS_SECRET_ACCESS_KEY=*** aws s3 ls"),
        ("redis-cli -h db -a S3cretPW FLUSHDB", "redis-cli -h db -a *** FLUSHDB"),
        ("redis-cli -u 'redis://db:6379/0?password=S3cretPW' FLUSHDB",
         "redis-cli -u 'redis://db:6379/0?password=***' FLUSHDB"),
        ("mysqladmin --password 'S3cretPW' status", "mysqladmin --password '***' status"),
        ("PGPASSWORD=\"S3cretPW\" psql", "PGPASSWORD=\"***\" psql"),
    ],
)
def test_the_audit_masks_command_line_secrets_and_keeps_quotes(tmp_path: Path, command: str, kept: str) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"type": "action", "profile": "t", "command": command})
    raw = (tmp_path / "audit.jsonl").read_text()
    assert PW not in raw
    assert json.loads(raw.splitlines()[-1])["command"] == kept


def test_one_masker_for_urls_and_command_lines() -> None:
    from cockpit.masking import mask_argv, mask_text, mask_url

    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("rediss://app:pw@h/1") == "rediss://app:***@h/1"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_url("redis://h/0?password=pw&db=2") == "redis://h/0?password=***&db=2"
    assert mask_url("https://p/api?token=t&key=k&keyspace=x") == "https://p/api?token=***&key=***&keyspace=x"
    assert mask_url("https://app:pw@p:9090/") == "https://app:***@p:9090/"
    # command lines: each form, its quotes kept, what is not secret untouched
    assert mask_text("REDISCLI_AUTH='a b' redis-cli PING") == "REDISCLI_AUTH='***' redis-cli PING"
    assert mask_text("psql --password=pw -h db") == "psql --password=*** -h db"
    assert mask_text("ls -a /tmp") == "ls -a /tmp"  # -a is a password for redis-cli only
    assert mask_text("redis-cli --no-auth-warning -u redis://h/0 PING") == (
        "redis-cli --no-auth-warning -u redis://h/0 PING")
    assert mask_text('curl -H "Authorization: Bearer abc" https://h') == 'curl -H "Authorization: Bearer ***" https://h'
    assert mask_argv(["redis-cli", "-a", "pw", "-u", "redis://h/0?password=pw", "PING"]) == [
        "redis-cli", "-a", "***", "-u", "redis://h/0?password=***", "PING"]
    assert mask_argv(["env", "PGPASSWORD=pw", "psql"]) == ["env", "PGPASSWORD=***", "psql"]
    assert mask_argv(["psql", "--password", "pw"]) == ["psql", "--password", "***"]


def test_records_are_masked_by_key_name_and_by_form() -> None:
    from cockpit.masking import mask_secrets

    masked = mask_secrets({
        "dsn": "postgresql://app:s3cr3t@db.internal:5432/orders", "password": "hunter2",
        "aws_secret_access_key": "wJalr", "apiKey": "k-123", "Authorization": "Bearer abc", "desired": 3,
        "nested": [{"token": "t0k"}, "https://s3/x?X-Amz-Signature=deadbeef&part=1"],
        "command": "psql 'host=db password=pw1 dbname=x' --token=zzz", "error": "auth ?token=abc123",
    })
    assert masked == {
        "dsn": "postgresql://app:***@db.internal:5432/orders", "password": "***",
        "aws_secret_access_key": "***", "apiKey": "***", "Authorization": "***", "desired": 3,
        "nested": [{"token": "***"}, "https://s3/x?X-Amz-Signature=***&part=1"],
        "command": "psql 'host=db password=*** dbname=x' --token=***", "error": "auth ?token=***",
    }


# --- a Redis password in the URL's query, on every way out --------------------------------


@pytest.fixture
def redis_url_with_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import redis

    try:
        server = start_redis(tmp_path / "redis")
    except ServerUnavailable as e:
        pytest.skip(str(e))
    client = redis.Redis(port=server.port, socket_timeout=3)
    client.config_set("requirepass", PW)
    client.close()
    url = f"redis://127.0.0.1:{server.port}/0?password={PW}"
    monkeypatch.setenv("COCKPIT_TEST_REDIS_URL", url)
    try:
        yield url
    finally:
        server.stop()


def _redis_profile() -> Profile:
    cfg = RedisConfig("cache", SecretRef("env:COCKPIT_TEST_REDIS_URL"), ("queue:jobs",))
    return Profile(name="t", refresh=0.2, redis=(cfg,))


@pytest.mark.servers
async def test_a_query_password_is_masked_in_explain_the_confirmation_and_the_audit(
    redis_url_with_password: str, tmp_path: Path
) -> None:
    import redis as redis_client

    # A key to flush: an empty database is not offered a flush at all.
    redis_client.Redis.from_url(redis_url_with_password).set("sessions:42", "x")
    db, queues = build_redis_sources(_redis_profile())
    assert isinstance(db, RedisSource)
    try:
        (snap,) = await db.fetch()  # it authenticates with the password from the query
        shown = json.dumps([s.lines for s in explain(PaneKind.DATABASE, [db], snap, db)])
        assert PW not in shown
        assert "password=***" in shown
        asked: list[ConfirmRequest] = []

        async def confirm(req: ConfirmRequest) -> Any:
            asked.append(req)
            return None  # cancelled: the command was shown, nothing runs

        runner = ActionRunner(profile=Profile(name="t"), audit=AuditLog(tmp_path / "audit.jsonl"),
                              resolve_backend=lambda _: db, confirm=confirm)
        await runner.request(CACHE_FLUSH, snap)
        assert asked[0].command.endswith("/0?password=***' FLUSHDB"), asked[0].command
        assert PW not in (tmp_path / "audit.jsonl").read_text()
    finally:
        await db.close()
        await queues.close()


@pytest.mark.servers
async def test_a_query_password_never_reaches_the_screen_a_screenshot_or_watchers(
    redis_url_with_password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sock = tmp_path / "share.sock"
    app = CockpitApp(_redis_profile(), share=str(sock))
    events: list[dict[str, Any]] = []

    async def watcher() -> None:
        async for event in watch(Target("unix", sock)):
            events.append(event)

    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.cockpit.panes[PaneKind.DATABASE].row_count() == 1, 15)
        await wait_until(lambda: app.cockpit.panes[PaneKind.QUEUES].row_count() == 1, 15)
        task = asyncio.create_task(watcher())
        await wait_until(lambda: any(e.get("kind") == "snapshot" and e.get("pane") == "queues"
                                     for e in events), 10)
        task.cancel()
        stream = json.dumps(events)
        assert "password=***" in stream and PW not in stream
        app.action_save_screen()
        await pilot.pause()
        (shot,) = tmp_path.glob("cockpit-t-*.svg")
        assert PW not in shot.read_text()
        # the detail view of the database row lists the server's URL
        pane = app.cockpit.panes[PaneKind.DATABASE]
        pane.focus_body()
        await pilot.press("enter")
        await pilot.pause()
        assert PW not in app.export_screenshot()


async def test_a_screenshot_is_masked_whatever_reached_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .fakes import FakeEstate

    monkeypatch.chdir(tmp_path)
    estate = FakeEstate()
    app = CockpitApp(Profile(name="t", refresh=0.2), sources_factory=estate.factory)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(lambda: app.cockpit.panes[PaneKind.SERVICES].row_count() == 2, 10)
        estate.logs.push(f"deploy: PGPASSWORD={PW} psql -h db; redis-cli -a '{PW}' PING")
        await wait_until(lambda: app.cockpit.logs.view.total == 1, 10)
        await pilot.press("ctrl+s")
        await wait_until(lambda: list(tmp_path.glob("cockpit-t-*.svg")), 5)
        (shot,) = tmp_path.glob("cockpit-t-*.svg")
        svg = shot.read_text()
        assert PW not in svg
        assert "PGPASSWORD=***&#160;psql" in svg and "-a&#160;&#x27;***&#x27;&#160;PING" in svg


def test_a_slack_webhook_url_is_masked_wherever_it_is_written():
    from cockpit.masking import mask_secrets, mask_text

    hook = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xYz123SecretToken"
    lab = "http://127.0.0.1:4242/services/T0LAB00001/B0LAB00001/0a1b2c3d4e5f"
    assert mask_text(f"curl -X POST {hook}") == "curl -X POST https://hooks.slack.com/***"
    assert mask_text(f"posting to {lab} failed") == "posting to http://127.0.0.1:4242/services/*** failed"
    assert "Secret" not in str(mask_secrets({"command": f"curl {hook}", "params": {"url": hook}}))
    # Other paths named services (a Kubernetes service proxy) are not secrets.
    proxy = "https://k8s:6443/api/v1/namespaces/web/services/api/proxy/health"
    assert mask_text(proxy) == proxy
