"""Thread pools for blocking SDK calls, one per SDK, apart from asyncio's default executor.

boto3 and the kubernetes client block in threads. Against an endpoint that accepts and never
answers, a call holds its thread until the SDK's read timeout (30-60 s); on the shared default
executor a handful of those starve everything else that runs there (the audit write before an
action, other backends). Each SDK gets its own bounded pool instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_POOLS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()
_in_flight = 0


def sdk_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The pool named ``name`` (threads ``cockpit-NAME_n``), created on first use."""
    with _LOCK:
        pool = _POOLS.get(name)
        if pool is None:
            pool = _POOLS[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"cockpit-{name}")
        return pool


async def run_in_pool(name: str, workers: int, fn: Callable[[], T]) -> T:
    """``fn()`` in the pool ``name``, counted in ``in_flight()`` while it runs."""

    def counted() -> Any:
        global _in_flight
        with _LOCK:
            _in_flight += 1
        try:
            return fn()
        finally:
            with _LOCK:
                _in_flight -= 1

    return await asyncio.get_running_loop().run_in_executor(sdk_pool(name, workers), counted)


def in_flight() -> int:
    """SDK calls still running, e.g. blocked in a read against an endpoint that hangs."""
    with _LOCK:
        return _in_flight
