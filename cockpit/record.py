"""Recording the event stream to compressed files, and reading recordings back.

A recording is gzip-compressed JSON lines (docs/stream.md), rotated by size: the live file
is ``FILE``; full ones become ``FILE.1``, ``FILE.2``, ... (``.1`` the newest of them).
Every event is masked as the audit log masks before it is written.
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path
from typing import Any

from cockpit.masking import mask_secrets
from cockpit.stream import StreamError, dumps, loads_lines

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class Recorder:
    """A stream sink writing one compressed JSON line per event."""

    def __init__(self, path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = 20) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._open()
        self.header: list[dict[str, Any]] = []  # re-written at the top of each rotated file

    def _open(self) -> gzip.GzipFile:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return gzip.GzipFile(fileobj=os.fdopen(fd, "ab"), mode="ab")

    def publish(self, event: dict[str, Any]) -> None:
        line = (dumps(mask_secrets(event)) + "\n").encode()
        with self._lock:
            self._file.write(line)
            # A sync flush per event keeps what was seen on disk if the cockpit dies.
            self._file.flush()
            if self._file.fileobj is not None and self._file.fileobj.tell() > self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = self._open()
        for event in self.header:
            self._file.write((dumps(mask_secrets(event)) + "\n").encode())

    def close(self) -> None:
        with self._lock:
            self._file.close()


def recording_files(path: Path | str) -> list[Path]:
    """The files of a recording, oldest first."""
    path = Path(path)
    rotated = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]), reverse=True,
    )
    return [*rotated, path] if path.exists() else rotated


def read_recording(path: Path | str) -> list[dict[str, Any]]:
    files = recording_files(path)
    if not files:
        raise StreamError(f"no recording at {path}", "check the path given to --record")
    events: list[dict[str, Any]] = []
    for f in files:
        try:
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                text = fh.read()
        except EOFError:  # the cockpit died mid-write: keep every complete line
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                text = _read_partial(fh)
        except (OSError, gzip.BadGzipFile) as e:
            raise StreamError(f"{f} is not a cockpit recording: {e}") from None
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            lines = lines[:-1]
        events += loads_lines(lines)
    return events


def _read_partial(fh) -> str:
    chunks = []
    try:
        while chunk := fh.read(65536):
            chunks.append(chunk)
    except EOFError:
        pass
    return "".join(chunks)
