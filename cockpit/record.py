"""Recording the event stream to compressed files, and reading recordings back.

A recording is gzip-compressed JSON lines (docs/stream.md), rotated by size: the live file
is ``FILE``; full ones become ``FILE.1``, ``FILE.2``, ... (``.1`` the newest of them).
Every event is masked as the audit log masks before it is written.

Surviving ``kill -9``: at most a second after an event is published, a sync flush ends the
compressed block it is in, so a reader gets every event up to the last flush. A new
recorder never appends to a file a killed one left torn: it rotates it first. Reading is
streamed (``iter_recording``): memory stays bounded whatever the recording's length, and a
line that is not JSON is skipped and counted, not fatal.
"""
from __future__ import annotations

import gzip
import json
import os
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.masking import mask_secrets
from cockpit.stream import StreamError, dumps

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
FLUSH_EVERY_S = 1.0  # the most a kill -9 can lose
READ_CHUNK = 64 * 1024
MAX_LINE = 16 * 1024 * 1024  # a longer "line" is not an event: skipped, counted


class Recorder:
    """A stream sink writing one compressed JSON line per event."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = 20,
        flush_every: float = FLUSH_EVERY_S,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size:
            self._shift()  # an earlier run's file (maybe torn by a kill): keep it whole
        self._file = self._open()
        self.header: list[dict[str, Any]] = []  # re-written at the top of each rotated file
        # Flushing per event cost compression and a write per event; a flusher thread ends
        # the current block once a second instead, so a kill loses at most that second.
        self._dirty = False
        self._unflushed = 0  # bytes written since the last flush, before compression
        self._closed = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, args=(flush_every,), name="recorder-flush", daemon=True
        )
        self._flusher.start()

    def _open(self) -> gzip.GzipFile:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._raw = os.fdopen(fd, "ab")  # GzipFile does not close a file it was given
        return gzip.GzipFile(fileobj=self._raw, mode="ab")

    def _close_file(self) -> None:
        try:
            self._file.close()
        finally:
            self._raw.close()

    def _flush_loop(self, every: float) -> None:
        while not self._closed.wait(every):
            with self._lock:
                if self._dirty and not self._closed.is_set():
                    self._file.flush()  # zlib.Z_SYNC_FLUSH: a complete block, then the OS
                    self._dirty = False
                    self._unflushed = 0

    def publish(self, event: dict[str, Any]) -> None:
        line = (dumps(mask_secrets(event)) + "\n").encode()
        with self._lock:
            self._file.write(line)
            self._dirty = True
            self._unflushed += len(line)
            if self._unflushed > self.max_bytes:  # the file's size is known after a flush
                self._file.flush()
                self._unflushed = 0
            raw: Any = self._file.fileobj  # the file gzip writes through
            if raw is not None and raw.tell() > self.max_bytes:
                self._rotate()

    def _shift(self) -> None:
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def _rotate(self) -> None:
        self._close_file()
        self._shift()
        self._file = self._open()
        for event in self.header:
            self._file.write((dumps(mask_secrets(event)) + "\n").encode())

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._close_file()


def recording_files(path: Path | str) -> list[Path]:
    """The files of a recording, oldest first."""
    path = Path(path)
    rotated = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]), reverse=True,
    )
    return [*rotated, path] if path.exists() else rotated


@dataclass
class ReadStats:
    """What reading skipped: lines that were not JSON objects, and files cut short."""

    rejected: int = 0
    last_rejection: str = ""
    torn_files: int = 0

    def reject(self, why: str) -> None:
        self.rejected += 1
        self.last_rejection = why


def _file_lines(f: Path, stats: ReadStats) -> Iterator[bytes]:
    """The complete lines of one recording file, decompressed a chunk at a time.

    Streamed with ``zlib`` rather than ``gzip.open`` so a file cut short (a kill) yields
    everything up to its last complete block instead of an ``EOFError``, and so members
    written one after another (older recorders appended to a file) are read in turn.
    """
    try:
        fh = open(f, "rb")  # noqa: SIM115 - closed below, around a generator
    except OSError as e:
        raise StreamError(f"{f} is not a cockpit recording: {e.strerror or e}") from None
    with fh:
        inflate = zlib.decompressobj(wbits=31)
        pending = b""
        started = False
        while True:
            raw = fh.read(READ_CHUNK)
            if not raw:
                break
            while raw:
                try:  # at most 256 KiB out at a time: gzip of JSON lines expands ~20x
                    data = inflate.decompress(raw, 4 * READ_CHUNK)
                except zlib.error as e:
                    if not started:
                        raise StreamError(f"{f} is not a cockpit recording: {e}") from None
                    stats.reject(f"{f.name}: corrupt data after a complete block ({e})")
                    stats.torn_files += 1
                    return
                started = True
                raw = inflate.unconsumed_tail
                if inflate.eof:  # one gzip member ended; another may follow
                    raw = inflate.unused_data
                    inflate = zlib.decompressobj(wbits=31)
                pending += data
                *lines, pending = pending.split(b"\n")
                yield from lines
                if len(pending) > MAX_LINE:
                    stats.reject(f"{f.name}: a line longer than {MAX_LINE >> 20} MiB")
                    pending = b""
        if pending:  # the tail after the last flush: cut by a kill, not an event
            stats.torn_files += 1


def iter_recording(path: Path | str, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """The events of a recording, oldest first, one at a time (bounded memory)."""
    files = recording_files(path)
    if not files:
        raise StreamError(f"no recording at {path}", "check the path given to --record")
    stats = stats if stats is not None else ReadStats()
    for f in files:
        for n, line in enumerate(_file_lines(f, stats), 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as e:  # JSONDecodeError and bad UTF-8 alike
                stats.reject(f"{f.name} line {n} is not JSON: {e}")
                continue
            if not isinstance(event, dict):
                stats.reject(f"{f.name} line {n} is not a JSON object")
                continue
            yield event


def read_recording(path: Path | str) -> list[dict[str, Any]]:
    """Every event at once: for short recordings and tests; replay streams instead."""
    return list(iter_recording(path))
