"""Waiting on conditions with deadlines, never on fixed sleeps; recording stub executables."""

from __future__ import annotations

import asyncio
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
