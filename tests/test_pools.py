"""SDK calls run in their own pools and are counted while they run (the CLI quits at once,
rather than waiting out read timeouts, when some are still blocked)."""

from __future__ import annotations

import asyncio
import threading

from cockpit.backends.pools import in_flight, run_in_pool

from .helpers import wait_until


async def test_a_blocked_sdk_call_is_counted_until_it_returns():
    release = threading.Event()
    names: list[str] = []

    def blocked() -> str:
        names.append(threading.current_thread().name)
        release.wait(10)
        return "answer"

    task = asyncio.create_task(run_in_pool("test", 2, blocked))
    await wait_until(lambda: in_flight() == 1, 5)
    assert names[0].startswith("cockpit-test"), "its own pool, not the default executor"
    release.set()
    assert await task == "answer"
    assert in_flight() == 0
