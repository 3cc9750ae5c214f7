"""Waiting on conditions with deadlines, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


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
