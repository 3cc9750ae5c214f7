"""Sharing the live stream: one driver, many read-only watchers, no extra backend calls.

The driver publishes its events on a Unix socket (mode 0600, in the user's runtime dir) or
a loopback TCP port guarded by a random token. A watcher that joins late first gets the
full state. A watcher that cannot keep up is dropped with a message rather than slowing the
driver: each has a bounded queue, and a full queue ends that watcher.

Other local users are the threat here. A token never travels in process arguments (``ps``
shows them to everyone): the driver writes it to a 0600 file in its runtime directory, and a
watcher reads it from there, from ``--token-file`` or from ``$COCKPIT_SHARE_TOKEN``. The
runtime directory must be ours and 0700, and the socket path is removed only when it is a
socket we own that no driver answers on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import stat
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
TOKEN_ENV = "COCKPIT_SHARE_TOKEN"
_TOKEN_HINT = f"give it in ${TOKEN_ENV} or in a file only you can read (--token-file)"


def _private_dir(path: Path) -> Path:
    """``path`` when it is a real directory of ours with mode 0700; refused otherwise."""
    try:
        st = os.lstat(path)
    except OSError as e:
        raise CockpitError(f"cannot use the runtime directory {path}: {e.strerror}") from e
    hint = f"remove {path} (or set XDG_RUNTIME_DIR to a directory only you can write) and retry"
    if not stat.S_ISDIR(st.st_mode):
        raise CockpitError(f"refusing the runtime directory {path}: it is not a directory", hint)
    if st.st_uid != os.getuid():
        raise CockpitError(f"refusing the runtime directory {path}: it is owned by uid {st.st_uid}, not you",
                           hint)
    mode = stat.S_IMODE(st.st_mode)
    if mode != 0o700:
        # Not "repaired": while it was open, another user could have put a fake driver in it.
        raise CockpitError(f"refusing the runtime directory {path}: mode {mode:04o}, not 0700", hint)
    return path


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/cockpit``, else ``$TMPDIR/cockpit-UID``: created 0700, checked."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "cockpit" if base else Path(tempfile.gettempdir()) / f"cockpit-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)  # ours, just made: whatever the umask took away
    except FileExistsError:
        pass
    except OSError as e:
        raise CockpitError(f"cannot create the runtime directory {path}: {e.strerror}",
                           "set XDG_RUNTIME_DIR to a directory only you can write") from e
    return _private_dir(path)


def default_socket(profile: str) -> Path:
    return runtime_dir() / f"share-{profile}.sock"


def token_file(port: int) -> Path:
    """Where the driver sharing on loopback ``port`` keeps its token (mode 0600)."""
    return runtime_dir() / f"share-tcp-{port}.token"


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
    """``None``/``""`` (default socket), a socket path, ``unix:PATH`` or ``tcp://127.0.0.1:PORT``.

    The token is not part of it: a target is given in process arguments.
    """
    if not text:
        return Target("unix", default_socket(profile))
    if text.startswith("tcp://"):
        url = urlparse(text)
        host = url.hostname or "127.0.0.1"
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise CockpitError(f"refusing to share on {host}: loopback only",
                               "reach it from elsewhere through an SSH tunnel (see README)")
        if "token=" in url.query:
            raise CockpitError("a token in a command's arguments can be read by every local user (ps)",
                               _TOKEN_HINT)
        return Target("tcp", host=host, port=url.port or 0)
    return Target("unix", Path(text.removeprefix("unix:")))


def watcher_token(target: Target, given_file: str | None = None) -> str:
    """The token a watcher brings: ``--token-file``, else ``$COCKPIT_SHARE_TOKEN``, else the
    driver's own token file when the driver is this user."""
    from cockpit.secretfile import read_secret_file

    if given_file:
        return read_secret_file(given_file, private=True, max_bytes=4096)
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    if target.kind == "tcp" and target.port:
        with contextlib.suppress(CockpitError):
            own = token_file(target.port)
            if own.exists():
                return read_secret_file(own, private=True, max_bytes=4096)
    return ""


def _write_private(path: Path, text: str) -> None:
    """A 0600 file of ours at ``path`` (in our 0700 runtime dir), replacing an older one."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise CockpitError(f"refusing to write the token to {path}: something else is there",
                               f"remove {path} and retry")
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def claim_socket_path(path: Path) -> None:
    """Make way for our socket: only a stale socket of ours is removed, nothing else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise CockpitError(f"refusing to share on {path}: it exists and is not a socket",
                           "give --share a path where nothing is, or remove it yourself")
    if st.st_uid != os.getuid():
        raise CockpitError(f"refusing to share on {path}: the socket there is uid {st.st_uid}'s",
                           "give --share another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # a driver that died left it: nobody answers
        return
    finally:
        probe.close()
    raise CockpitError(f"a driver is already sharing on {path}",
                       "stop it first, or give --share another path")


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
            target.token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        self._server: asyncio.AbstractServer | None = None
        self.watchers: list[_Watcher] = []
        self.dropped = 0
        self.token_file: Path | None = None
        self._socket_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket we bound

    @property
    def address(self) -> str:
        """Where watchers connect (never the token)."""
        return str(self.target)

    @property
    def watch_command(self) -> str:
        """What a watcher runs: the token comes from the 0600 file, not the command line."""
        if self.target.kind == "tcp":
            where = f" --token-file {self.token_file}" if self.token_file else ""
            return f"cockpit attach {self.address}{where}"
        return f"cockpit attach {self.address}"

    async def start(self) -> str:
        if self.target.kind == "tcp":
            self._server = await asyncio.start_server(self._serve, self.target.host, self.target.port)
            self.target.port = self._server.sockets[0].getsockname()[1]
            path = token_file(self.target.port)
            _write_private(path, self.target.token)
            self.token_file = path
        else:
            assert self.target.path is not None
            path = self.target.path
            claim_socket_path(path)
            old = os.umask(0o177)  # the socket is born 0600: no window where others can connect
            try:
                self._server = await asyncio.start_unix_server(self._serve, str(path))
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            st = os.lstat(path)
            self._socket_id = (st.st_dev, st.st_ino)
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
                writer.write((dumps({"v": 1, "kind": "refused", "reason": "wrong or missing token (give it with "
                                     f"--token-file or ${TOKEN_ENV})"}) + "\n").encode())
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
        if self.target.kind == "unix" and self.target.path is not None and self._socket_id:
            # Only the socket we bound: the path may have been replaced since.
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(self.target.path)
                if stat.S_ISSOCK(st.st_mode) and (st.st_dev, st.st_ino) == self._socket_id:
                    self.target.path.unlink()
        if self.token_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.token_file.unlink()
            self.token_file = None


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
