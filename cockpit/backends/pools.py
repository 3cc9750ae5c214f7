"""Thread pools for blocking SDK calls, one per SDK, apart from asyncio's default executor.

boto3 and the kubernetes client block in threads. Against an endpoint that accepts and never
answers, a call holds its thread until the SDK's read timeout (30-60 s); on the shared default
executor a handful of those starve everything else that runs there (the audit write before an
action, other backends). Each SDK gets its own bounded pool instead.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def sdk_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The pool named ``name`` (threads ``cockpit-NAME_n``), created on first use."""
    with _LOCK:
        pool = _POOLS.get(name)
        if pool is None:
            pool = _POOLS[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"cockpit-{name}")
        return pool
