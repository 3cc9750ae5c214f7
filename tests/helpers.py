"""Waiting on conditions with deadlines, never on fixed sleeps; recording stub executables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path


async def wait_until(cond: Callable[[], object], timeout: float, interval: float = 0.01) -> None:
    """Return as soon as ``cond()`` is truthy; fail the test when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def wait_until_sync(cond: Callable[[], object], timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def recording_stub(tmp_path: Path, name: str, answer: str) -> tuple[Path, str]:
    """An executable ``name`` in ``tmp_path/bin`` that appends its arguments (tab-separated, one
    line a run) to a log and prints ``answer``; returns the log and the PATH to run it with."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}-argv.log"
    stub = bin_dir / name
    stub.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        for a in "$@"; do printf '%s\\t' "$a"; done >> {log}
        echo >> {log}
        echo "{answer}"
    """))
    stub.chmod(0o755)
    return log, f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def ran(log: Path) -> list[list[str]]:
    """The argument lists a recording stub was run with, in order."""
    if not log.exists():
        return []
    return [line.rstrip("\t").split("\t") for line in log.read_text().splitlines() if line]


@contextlib.asynccontextmanager
async def polled_and_watched(url: str, profile, sources_factory):
    """A headless ``cockpit poll`` of ``profile`` publishing to the Redis stream at ``url``,
    and a read-only watcher app on that stream (not yet running: ``watcher.run_test()``)."""
    from cockpit.app import CockpitApp
    from cockpit.poll import Poller
    from cockpit.profile import Profile
    from cockpit.share_redis import parse_redis_target
    from screens.redis_watch import RedisWatchScreen, redis_feed

    poller = Poller(profile, parse_redis_target(url), sources_factory=sources_factory, log=lambda text: None)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(poller.started.wait(), 10)
        yield CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                         feed=redis_feed(parse_redis_target(url)), screen_factory=RedisWatchScreen)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 30)
