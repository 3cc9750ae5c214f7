"""Seen item 11: detail screens are live, not snapshots.

A row's detail screen follows its source's refreshes (the figures move while it is open) and
shows the result of an action taken while it is open at once: a real PostgreSQL whose
session stays idle in transaction, and moto's SQS whose dead-letter queue is peeked from
the palette. Waits are conditions with deadlines.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from rich.console import Console
from textual.widgets import Static

from cockpit.actions import get_action
from cockpit.app import CockpitApp
from cockpit.model import PaneKind
from cockpit.profile import AwsConfig, DatabaseConfig, Profile, SecretRef, SqsQueue
from screens.detail import DetailScreen
from tests.fixtures.moto import aws_client
from tests.helpers import wait_until


def screen_text(screen: Any) -> str:
    """The text of what the screen's static parts show, in order."""
    console = Console(width=200, record=True, file=io.StringIO())
    for w in screen.query(Static):
        if w.display and w.content:
            console.print(w.content)
    return console.export_text()


async def open_detail(app: CockpitApp, pilot: Any, kind: PaneKind) -> DetailScreen:
    pane = app.cockpit.panes[kind]
    await wait_until(lambda: pane.row_count() >= 1, 20)
    pane.focus_body()
    await pilot.press("enter")
    await wait_until(lambda: isinstance(app.screen, DetailScreen), 5)
    assert isinstance(app.screen, DetailScreen)
    return app.screen


@pytest.mark.servers
async def test_database_detail_figures_move_while_it_is_open(postgres_dsn: str) -> None:
    holder = psycopg.connect(postgres_dsn, application_name="holder")  # not autocommit
    holder.execute("SELECT 1")  # a transaction is open and stays idle in it
    pid = holder.info.backend_pid
    app = CockpitApp(Profile(name="pg", refresh=0.5, timeout=3,
                             databases=(DatabaseConfig("app", SecretRef(postgres_dsn)),)))  # fmt: skip
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            screen = await open_detail(app, pilot, PaneKind.DATABASE)

            def idle_s() -> int | None:
                m = re.search(r"oldest idle in transaction\s+(\d+) s", screen_text(screen))
                return int(m.group(1)) if m else None

            def holder_duration() -> str | None:
                for line in screen_text(screen).splitlines():
                    if re.match(rf"\W*{pid}\b", line) and "idle in transaction" in line:
                        m = re.search(r"(\d+(?:\.\d)? s)", line)
                        return m.group(1) if m else None
                return None

            await wait_until(lambda: idle_s() is not None and holder_duration() is not None, 15)
            first, first_duration = idle_s(), holder_duration()
            assert first is not None
            # The field and the session's row both move with the source's refreshes.
            await wait_until(lambda: (idle_s() or 0) >= first + 2, 15)
            await wait_until(lambda: holder_duration() not in (None, first_duration), 10)
            await pilot.press("escape")
            await pilot.press("q")
    finally:
        holder.close()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield


async def test_queue_detail_shows_a_peek_taken_while_it_is_open(moto_endpoint: str, aws_env: None) -> None:
    sqs = aws_client(moto_endpoint, "sqs")
    dlq_url = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})
    sqs.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": policy})
    sqs.send_message(QueueUrl=dlq_url, MessageBody="poison order 42")
    profile = Profile(name="q", refresh=0.5, timeout=3, aws=AwsConfig(
        region="us-east-1", endpoint_url=moto_endpoint, sqs=(SqsQueue("jobs"),)))  # fmt: skip
    app = CockpitApp(profile)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_detail(app, pilot, PaneKind.QUEUES)
        await wait_until(lambda: "not peeked yet" in screen_text(screen), 10)
        # What the palette's "queue: peek dead letters jobs" runs, with the detail open.
        started = time.monotonic()
        app.request_action(get_action("queue.peek_dlq"), screen.record, "palette")
        await wait_until(lambda: "1 messages peeked from jobs-dlq" in screen_text(screen), 10)
        assert "poison order 42" in screen_text(screen)
        assert "not peeked yet" not in screen_text(screen)
        assert time.monotonic() - started < 10
        await pilot.press("escape")
        await pilot.press("q")


async def test_an_open_detail_updates_only_what_changed_and_says_when_its_row_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import replace

    from tests.fakes import FakeEstate

    estate = FakeEstate()
    app = CockpitApp(Profile(name="t", refresh=0.2), sources_factory=estate.factory)
    updated: list[Static] = []
    real_update = Static.update

    def spy(self: Static, *args: Any, **kwargs: Any) -> None:
        updated.append(self)
        real_update(self, *args, **kwargs)

    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_detail(app, pilot, PaneKind.SERVICES)
        assert screen.record.name == "api"
        monkeypatch.setattr(Static, "update", spy)
        # Refreshes with nothing new: no widget of the detail is touched.
        calls = estate.services.calls
        await wait_until(lambda: estate.services.calls >= calls + 3, 5)
        await pilot.pause()
        assert [w for w in updated if w.screen is screen] == []

        # One figure moves: its line, and only it, is updated.
        api, worker = estate.services.records
        estate.services.records = [replace(api, running=1), worker]
        await wait_until(lambda: re.search(r"running\s+1\b", screen_text(screen)), 5)
        assert len({id(w) for w in updated if w.screen is screen}) == 1

        # The row leaves its source: the screen says so and keeps what it showed.
        estate.services.records = [worker]
        await wait_until(lambda: "no longer in" in screen_text(screen), 5)
        assert re.search(r"running\s+1\b", screen_text(screen))
        await pilot.press("escape")
        await pilot.press("q")
