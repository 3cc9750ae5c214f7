"""A host's log sources: ``tail -F`` for files and ``journalctl -f -o json`` for units, one
long-lived command per source over the host's shared ControlMaster. The follower remembers
where it was (file inode and byte offset, journal cursor), so after a dropped connection the
hub's next ``follow()`` resumes without losing or repeating lines, and marks the gap.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from cockpit.backends.hosts.host import Host
from cockpit.backends.hosts.rows import _clock
from cockpit.backends.loglines import parse_level
from cockpit.backends.ssh import (
    Result,
    check_path,
    check_unit,
    sudo,
    terminate,
)
from cockpit.errors import BackendError
from cockpit.model import (
    LogLevel,
    LogRecord,
)

FILE_HISTORY_LINES = 100
MAX_LINE_CHARS = 16_000
READ_CHUNK = 1 << 16

# $1 file, $2 byte offset to resume at, $3 inode it belonged to ("" first time, "?" unknown
# after a rotation), $4 history lines, $5 marker. The marker line says where following
# starts; then tail runs until the cockpit closes our stdin (so no tail is left behind).
FOLLOW_FILE_SCRIPT = r"""
f=$1 off=$2 ino=$3 n=$4 mark=$5
set -- $(stat -L -c '%i %s' -- "$f" 2>/dev/null || echo '0 0')
cur=$1 size=$2
if [ -z "$ino" ]; then
  [ "$n" -gt 0 ] && head -c "$size" -- "$f" 2>/dev/null | tail -n "$n"
  start=$size
elif [ "$ino" = "$cur" ] || [ "$ino" = "?" ]; then
  if [ "$size" -ge "$off" ]; then start=$off; else start=0; fi
else
  start=0
fi
echo "$mark $cur $start"
tail -c +$((start + 1)) -F -- "$f" 2>&1 &
t=$!
cat >/dev/null
kill $t 2>/dev/null
"""

# $1 systemd dir, $2 journalctl, $3 unit, $4 cursor ("" first time), $5 marker
FOLLOW_JOURNAL_SCRIPT = r"""
d=$1 jc=$2 unit=$3 cursor=$4 mark=$5
if [ ! -d "$d" ]; then echo "$mark nosystemd"; exit 0; fi
echo "$mark ok"
if [ -n "$cursor" ]; then
  "$jc" -f -o json --no-pager -u "$unit" --after-cursor="$cursor" 2>&1 &
else
  "$jc" -f -o json --no-pager -u "$unit" -n 100 2>&1 &
fi
t=$!
cat >/dev/null
kill $t 2>/dev/null
"""


class _Follower:
    """One long-lived command whose first marker line says it is connected."""

    def __init__(self, host: Host, id: str, title: str) -> None:
        self.host = host
        self.id = id
        self.title = title
        self.lost_at: datetime | None = None
        self.connected = False
        host.acquire()

    def command(self, marker: str) -> list[str]:
        raise NotImplementedError

    def on_marker(self, fields: list[str]) -> None:
        """The follower started; ``fields`` are what the script put after the marker."""

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        raise NotImplementedError

    def history_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        return self.on_line(raw, now)

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        marker = f"@@cockpit-{secrets.token_hex(6)}".encode()
        proc = await self.host.transport.spawn(self.command(marker.decode()))
        assert proc.stdout is not None and proc.stdin is not None
        self.connected = False
        buffer = b""
        try:
            while True:
                chunk = await proc.stdout.read(READ_CHUNK)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > MAX_LINE_CHARS * 4:  # a "line" that never ends: cut it
                    lines.append(buffer)
                    buffer = b""
                now = datetime.now(UTC)
                batch: list[LogRecord] = []
                was_connected = self.connected
                for raw in lines:
                    if not self.connected:
                        if raw.startswith(marker):
                            self.connected = True
                            self.on_marker(raw[len(marker):].decode(errors="replace").split())
                            if self.lost_at is not None:
                                batch.append(self._gap_record(now))
                            continue
                        record = self.history_line(raw, now)
                    else:
                        record = self.on_line(raw + b"\n", now)
                    if record is not None:
                        batch.append(record)
                if batch or (self.connected and not was_connected):
                    yield batch  # an empty one says "following again" (the pane drops its error)
            # EOF: the command or the connection ended; a follower never ends by itself.
            stderr = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.stdin.close()  # the script kills its follower when stdin closes
                try:
                    await asyncio.wait_for(proc.wait(), 2)
                except (TimeoutError, asyncio.CancelledError):
                    await terminate(proc)
        self._lost()
        failure = self.host.transport.describe_failure(Result(proc.returncode or 0, b"", stderr.encode()))
        if failure is not None:
            raise failure
        message = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
        raise BackendError(
            f"following {self.title} stopped: {message or f'exit status {proc.returncode}'}",
            "will reconnect",
        )

    def _lost(self) -> None:
        if self.connected and self.lost_at is None:
            self.lost_at = datetime.now(UTC)
        self.connected = False

    def _gap_record(self, now: datetime) -> LogRecord:
        assert self.lost_at is not None
        text = f"connection lost {_clock(self.lost_at)} – {_clock(now)}"
        rec = LogRecord(now, self.host.name, LogLevel.WARN, text, id=f"gap:{self.lost_at.timestamp()}")
        self.lost_at = None
        return rec

    async def close(self) -> None:
        await self.host.release()


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode(errors="replace")[:MAX_LINE_CHARS]


class FileLogSource(_Follower):
    """``tail -F FILE`` (follows rotation), resuming at the byte offset after a reconnect."""

    def __init__(self, host: Host, path: str, history: int = FILE_HISTORY_LINES) -> None:
        super().__init__(host, f"hosts:{host.name}:file:{path}", f"{host.name} {path}")
        self.path = check_path(path)
        self.history = history
        self.inode = ""  # "" never started, "?" unknown after a rotation
        self.offset = 0  # bytes of the followed file already yielded

    def command(self, marker: str) -> list[str]:
        return sudo(
            ["sh", "-c", FOLLOW_FILE_SCRIPT, "sh", self.path, str(self.offset), self.inode,
             str(self.history), marker],
            self.host.cfg.sudo,
        )  # fmt: skip

    def explain_command(self) -> list[str]:
        return self.host.transport.display(sudo(["tail", "-F", self.path], self.host.cfg.sudo))

    def on_marker(self, fields: list[str]) -> None:
        if len(fields) >= 2:
            self.inode, self.offset = fields[0], int(fields[1])

    def history_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        text = _text(raw)
        return LogRecord(now, self.host.name, parse_level(text), text)

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        if raw.startswith(b"tail: "):
            notice = _text(raw)
            # Rotation (mv + recreate) or truncation: tail reads the new file from its start.
            if any(w in notice for w in ("following new file", "has appeared", "file truncated")):
                self.inode, self.offset = "?", 0
                return None
            return LogRecord(now, self.host.name, LogLevel.WARN, notice)
        self.offset += len(raw)
        text = _text(raw)
        return LogRecord(now, self.host.name, parse_level(text), text)


_PRIORITY_LEVEL = {0: LogLevel.ERROR, 1: LogLevel.ERROR, 2: LogLevel.ERROR, 3: LogLevel.ERROR,
                   4: LogLevel.WARN, 5: LogLevel.INFO, 6: LogLevel.INFO, 7: LogLevel.DEBUG}  # fmt: skip


def parse_journal_entry(raw: bytes, host: str) -> tuple[LogRecord, str] | None:
    """A ``journalctl -o json`` line -> (record, cursor); None for anything else."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE", "")
    if isinstance(message, list):  # binary-safe form: a list of byte values
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    try:
        when = datetime.fromtimestamp(int(entry["__REALTIME_TIMESTAMP"]) / 1e6, UTC)
    except (KeyError, ValueError, TypeError):
        when = datetime.now(UTC)
    try:
        level = _PRIORITY_LEVEL.get(int(entry.get("PRIORITY", 6)), LogLevel.INFO)
    except (TypeError, ValueError):
        level = LogLevel.INFO
    unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER") or ""
    cursor = str(entry.get("__CURSOR", ""))
    text = str(message)[:MAX_LINE_CHARS]
    return LogRecord(when, f"{host}/{unit}" if unit else host, level, text, id=cursor), cursor


class JournalLogSource(_Follower):
    """``journalctl -f -o json -u UNIT``; resumes ``--after-cursor`` the last entry shown."""

    def __init__(self, host: Host, unit: str) -> None:
        super().__init__(host, f"hosts:{host.name}:journal:{unit}", f"{host.name} {unit}")
        self.unit = check_unit(unit)
        self.cursor = ""

    def command(self, marker: str) -> list[str]:
        t = self.host.tools
        return sudo(
            ["sh", "-c", FOLLOW_JOURNAL_SCRIPT, "sh", t.systemd_dir, t.journalctl, self.unit,
             self.cursor, marker],
            self.host.cfg.sudo,
        )  # fmt: skip

    def explain_command(self) -> list[str]:
        return self.host.transport.display(
            sudo(["journalctl", "-f", "-u", self.unit], self.host.cfg.sudo)
        )

    def on_marker(self, fields: list[str]) -> None:
        if fields[:1] == ["nosystemd"]:
            raise BackendError(
                f"{self.host.name} runs no systemd, so there is no journal for {self.unit}",
                "follow its log file with logs: instead of journal:",
            )

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        parsed = parse_journal_entry(raw, self.host.name)
        if parsed is None:
            text = _text(raw)
            return LogRecord(now, self.host.name, LogLevel.WARN, text) if text.strip() else None
        record, cursor = parsed
        if cursor:
            self.cursor = cursor
        return record
