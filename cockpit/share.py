"""Sharing the live stream: one driver, many read-only watchers, no extra backend calls.

The driver publishes its events on a Unix socket (mode 0600, in the user's runtime dir) or
a loopback TCP port guarded by a random token. A watcher that joins late first gets the
full state. A watcher that cannot keep up is dropped with a message rather than slowing the
driver: each has a bounded queue, and a full queue ends that watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cockpit.errors import CockpitError
from cockpit.masking import mask_secrets
from cockpit.stream import dumps

QUEUE_SIZE = 2000


def runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "cockpit" if base else Path(tempfile.gettempdir()) / f"cockpit-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def default_socket(profile: str) -> Path:
    return runtime_dir() / f"share-{profile}.sock"


@dataclass
class Target:
    kind: str  # "unix" | "tcp"
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.kind == "tcp" else f"unix:{self.path}"


def parse_target(text: str | None, profile: str = "lab") -> Target:
    """``None``/``""`` (default socket), a socket path, ``unix:PATH`` or ``tcp://127.0.0.1:PORT?token=T``."""
    if not text:
        return Target("unix", default_socket(profile))
    if text.startswith("tcp://"):
        url = urlparse(text)
        host = url.hostname or "127.0.0.1"
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise CockpitError(f"refusing to share on {host}: loopback only",
                               "reach it from elsewhere through an SSH tunnel (see README)")
        token = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p).get("token", "")
        return Target("tcp", host=host, port=url.port or 0, token=token)
    return Target("unix", Path(text.removeprefix("unix:")))


@dataclass
class _Watcher:
    writer: asyncio.StreamWriter
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    task: asyncio.Task[None] | None = None


class ShareServer:
    """A stream sink that fans events out to watchers."""

    def __init__(self, target: Target, full_state: Callable[[], list[dict[str, Any]]]) -> None:
        self.target = target
        self.full_state = full_state
        if target.kind == "tcp" and not target.token:
            target.token = secrets.token_urlsafe(24)
        self._server: asyncio.AbstractServer | None = None
        self.watchers: list[_Watcher] = []
        self.dropped = 0

    @property
    def address(self) -> str:
        if self.target.kind == "tcp":
            return f"tcp://{self.target.host}:{self.target.port}?token={self.target.token}"
        return f"unix:{self.target.path}"

    async def start(self) -> str:
        if self.target.kind == "tcp":
            self._server = await asyncio.start_server(self._serve, self.target.host, self.target.port)
            self.target.port = self._server.sockets[0].getsockname()[1]
        else:
            path = self.target.path
            assert path is not None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
            try:
                self._server = await asyncio.start_unix_server(self._serve, str(path))
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
        return self.address

    def publish(self, event: dict[str, Any]) -> None:
        if not self.watchers:
            return
        line = dumps(mask_secrets(event)) + "\n"  # as a recording is masked: it leaves the driver
        for w in list(self.watchers):
            try:
                w.queue.put_nowait(line)
            except asyncio.QueueFull:
                self._drop(w, "too slow: the driver does not wait for watchers; reconnecting")

    def _drop(self, w: _Watcher, reason: str) -> None:
        self.dropped += 1
        if w in self.watchers:
            self.watchers.remove(w)
        with contextlib.suppress(Exception):
            w.writer.write((dumps({"v": 1, "kind": "dropped", "reason": reason}) + "\n").encode())
        w.writer.close()
        if w.task is not None:
            w.task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.target.kind == "tcp":
            try:
                first = await asyncio.wait_for(reader.readline(), 5)
                token = json.loads(first or b"{}").get("token", "")
            except (TimeoutError, ValueError, AttributeError):
                token = ""
            if not secrets.compare_digest(str(token), self.target.token):
                writer.write((dumps({"v": 1, "kind": "refused", "reason": "wrong or missing token"}) + "\n").encode())
                with contextlib.suppress(Exception):
                    await writer.drain()
                writer.close()
                return
        w = _Watcher(writer)
        for event in self.full_state():
            w.queue.put_nowait(dumps(mask_secrets(event)) + "\n")
        self.watchers.append(w)
        w.task = asyncio.current_task()
        try:
            while True:
                line = await w.queue.get()
                if line is None:
                    break
                writer.write(line.encode())
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if w in self.watchers:
                self.watchers.remove(w)
            writer.close()

    async def stop(self) -> None:
        for w in list(self.watchers):
            self._drop(w, "the driver stopped sharing")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        if self.target.kind == "unix" and self.target.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.target.path.unlink()


async def watch(target: Target, *, retry: float = 2.0) -> AsyncIterator[dict[str, Any]]:
    """Events from a driver, reconnecting after a drop; a ``status`` event says what happened."""
    while True:
        try:
            if target.kind == "tcp":
                reader, writer = await asyncio.open_connection(target.host, target.port, limit=2**24)
                writer.write((json.dumps({"token": target.token}) + "\n").encode())
                await writer.drain()
            else:
                reader, writer = await asyncio.open_unix_connection(str(target.path), limit=2**24)
        except OSError as e:
            yield {"v": 1, "kind": "status", "error": f"cannot reach the driver at {target}: {e.strerror or e}",
                   "hint": "is `cockpit --share` running? retrying"}
            await asyncio.sleep(retry)
            continue
        try:
            while line := await reader.readline():
                event = json.loads(line)
                yield event
                if event.get("kind") == "refused":
                    return
        except (ConnectionError, ValueError) as e:
            yield {"v": 1, "kind": "status", "error": f"lost the driver: {e}", "hint": "reconnecting"}
        finally:
            writer.close()
        yield {"v": 1, "kind": "status", "error": "the driver closed the stream", "hint": "reconnecting"}
        await asyncio.sleep(retry)
