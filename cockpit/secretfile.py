"""Reading a secret from a file (``file:PATH`` references, share tokens): bounded and timed.

A secret file is a small regular file. Anything else is refused before it is read: a device
(``/dev/zero`` would be read until memory runs out), a FIFO (its open and read wait for a
writer forever), a directory. The read itself runs under a timeout, so a file on a network
filesystem that stopped answering cannot hold up a refresh or ``cockpit check``.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from cockpit.errors import ConfigError

MAX_BYTES = 64 * 1024
TIMEOUT_S = 5.0

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_secret_file(
    path: Path | str, *, private: bool = False, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_S
) -> str:
    """The file's text, stripped. ``private``: refused unless it is ours and mode 0600 or less.

    Raises ConfigError (naming the path, never the content) for anything but a readable
    regular file of at most ``max_bytes``, or when reading takes longer than ``timeout``.
    """
    path = Path(path).expanduser()
    result: list[str | BaseException] = []

    def read() -> None:
        try:
            result.append(_read(path, private, max_bytes))
        except BaseException as e:  # handed to the caller's thread below
            result.append(e)

    worker = threading.Thread(target=read, name="secret-file", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        raise ConfigError(
            f"reading {path} took longer than {timeout:g} s",
            "is it on a network filesystem that stopped answering? keep secrets on a local disk",
        )
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _read(path: Path, private: bool, max_bytes: int) -> str:
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}", "check the path") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise ConfigError(f"{path} is {kind}, not a regular file", "point it at a plain file holding the secret")
        if st.st_size > max_bytes:
            raise ConfigError(
                f"{path} is {st.st_size} bytes: a secret file holds at most {max_bytes // 1024} KB",
                "point it at the file holding only the secret",
            )
        if private and (st.st_uid != os.getuid() or st.st_mode & 0o077):
            raise ConfigError(
                f"{path} can be read by others (mode {stat.S_IMODE(st.st_mode):04o}) or is not yours",
                f"keep it to yourself: chmod 600 {path}",
            )
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:  # a file growing while it is read still stops here
            chunk = os.read(fd, max_bytes + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise ConfigError(f"{path} holds more than {max_bytes // 1024} KB", "point it at the file holding only the secret")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}", "check the path") from e
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode().strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", "a secret file holds the secret as text") from None
