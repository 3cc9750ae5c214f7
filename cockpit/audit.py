"""The append-only audit log: one JSON line per action phase, alarm transition and note.

Each line is written with one ``write`` on an ``O_APPEND`` descriptor and fsynced before
the caller goes on, so what the user is told has happened is already on disk. An action
writes a ``started`` line before it runs and a ``finished`` line after (the ActionRunner),
so even a ``kill -9`` leaves a record of what was under way. Every line, whoever writes it,
goes through one path: the file is opened without following a symbolic link, must be a
regular file, and its last line must be whole JSON, or nothing is written: losing the
record silently (or papering over a torn line) is worse than refusing. Secrets are masked
before anything is written. Every line carries the cockpit's session id, so the timeline
can tell one cockpit's alarms from another's.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import logging
import os
import secrets
import socket
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit import masking
from cockpit.errors import ActionRefused, CockpitError
from cockpit.profile import Profile

log = logging.getLogger(__name__)


# Text from the estate (an alert's summary) can be any length; an audit line should not be.
REASON_CAP = 4096
FIELD_CAP = 16384
_TAIL_CHUNK = 65536


def new_session_id() -> str:
    """Sortable by start time (UTC), then unique: ``20261207T031200.123Z-4242-9f3a``."""
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z-{os.getpid()}-{secrets.token_hex(2)}"


# One cockpit process, one session: every AuditLog it opens writes lines of this session.
SESSION = new_session_id()


def cap_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit} characters cut)"


def _capped(obj: Any) -> Any:
    if isinstance(obj, str):
        return cap_text(obj, FIELD_CAP)
    if isinstance(obj, dict):
        return {k: _capped(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_capped(v) for v in obj]
    return obj

def default_audit_path(profile: Profile | None = None) -> Path:
    """The profile's ``audit_log``, else ``$XDG_STATE_HOME/cockpit/audit.jsonl``."""
    if profile is not None and profile.audit_log:
        return Path(profile.audit_log).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "cockpit" / "audit.jsonl"


def utc_iso(when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    if when.tzinfo is None:  # naive times in this codebase are UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class AuditLog:
    def __init__(
        self, path: Path | str, *, session: str | None = None, profile: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.session = session or SESSION
        self.profile = profile  # written on lines that do not say their own
        self._lock = threading.Lock()
        self.skipped = 0  # lines ``read`` could not parse, for the caller to report

    # --- the one way in: open, check, write -------------------------------------------

    def _fix(self) -> str:
        return f"fix or move aside {self.path} (or set audit_log: in the profile)"

    def _open(self) -> int:
        """A descriptor to append to (and read the tail of); refuses what is not a plain file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a symlink planted at the path must not redirect the record.
            # O_NONBLOCK: a FIFO there must not hang the cockpit. Opening is the real
            # test of permissions (os.access lies for root).
            fd = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                0o600,
            )
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ActionRefused(f"audit log {self.path} is a symbolic link", self._fix()) from e
            if e.errno == errno.EISDIR:
                raise ActionRefused(f"audit log {self.path} is a directory", self._fix()) from e
            raise ActionRefused(
                f"audit log {self.path} is not writable: {e.strerror or e}", self._fix()
            ) from e
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ActionRefused(f"audit log {self.path} is not a regular file", self._fix())
        return fd

    def _check_tail(self, fd: int) -> None:
        """The last line must be whole JSON, however long it is."""
        size = os.fstat(fd).st_size
        if size == 0:
            return
        hint = f"move it aside (mv {self.path} {self.path}.corrupt) and retry"
        try:
            if os.pread(fd, 1, size - 1) != b"\n":
                raise ActionRefused(f"audit log {self.path} ends in a torn line", hint)
            buf, pos = b"", size
            while pos > 0:  # back to the newline before the last line, chunk by chunk
                start = max(0, pos - _TAIL_CHUNK)
                buf = os.pread(fd, pos - start, start) + buf
                pos = start
                if b"\n" in buf.rstrip(b"\n"):
                    break
        except OSError as e:
            raise ActionRefused(f"audit log {self.path} is not readable: {e.strerror}") from e
        last = buf.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        if not last.strip():
            return
        try:
            json.loads(last)
        except ValueError as e:
            raise ActionRefused(f"audit log {self.path}: last line is not JSON", hint) from e

    def check(self) -> None:
        """Raise ``ActionRefused`` unless a line can be appended and the log is intact.

        A full disk passes here (opening needs no space): the action's ``started`` line,
        written before it runs, is what finally proves the log writable.
        """
        fd = self._open()
        try:
            self._check_tail(fd)
        finally:
            os.close(fd)

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Check, mask, write one line, flush and fsync; return what was written.

        Raises ``ActionRefused`` (a ``CockpitError``) when the log cannot be trusted and
        ``CockpitError`` when the write fails: nothing is ever half-recorded in silence.
        """
        record: dict[str, Any] = {
            "time": utc_iso(),
            "user": _user(),
            "host": socket.gethostname(),
            "session": self.session,
        }
        if self.profile:
            record["profile"] = self.profile
        record.update(entry)
        record = masking.mask_secrets(_capped(record))  # the one masker (cockpit.masking)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            fd = self._open()
            try:
                # Other cockpits of this user append to the same file: check and write as one.
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._check_tail(fd)
                created = os.fstat(fd).st_size == 0
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(f"short write ({written} of {len(line)} bytes)")
                    os.fsync(fd)
                except OSError as e:
                    raise CockpitError(
                        f"cannot write audit log {self.path}: {e.strerror or e}",
                        "check the disk (space, quota) and the file's permissions",
                    ) from e
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.path.parent)
        return record

    def record_alarm_transition(
        self,
        profile: str,
        alarm_key: str,
        name: str,
        from_state: str,
        to_state: str,
        time: datetime | None = None,
        reason: str = "",
        *,
        severity: str = "",
        resource: str = "",
    ) -> dict[str, Any]:
        """Record an alarm's state change so the incident timeline can be rebuilt."""
        return self.append(
            {
                "type": "alarm",
                "time": utc_iso(time),
                "profile": profile,
                "alarm": alarm_key,
                "name": name,
                "from": from_state,
                "to": to_state,
                "reason": cap_text(reason, REASON_CAP),
                "severity": severity,
                "resource": resource,
            }
        )

    # --- reading --------------------------------------------------------------------

    def read(
        self, since: datetime | None = None, profile: str | None = None, *, raw: bool = False
    ) -> list[dict]:
        """Entries in file order, optionally newer than ``since`` and of one profile.

        An action's ``started`` line is folded into its ``finished`` line (which repeats
        it), unless ``raw``; a ``started`` line left alone is an action whose end no one
        saw. Unparseable lines are skipped and counted in ``self.skipped``.
        """
        self.skipped = 0
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        except OSError as e:
            what = "is a symbolic link" if e.errno == errno.ELOOP else f"cannot be read: {e.strerror}"
            raise CockpitError(f"audit log {self.path} {what}") from e
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CockpitError(f"audit log {self.path} is not a regular file")
            with os.fdopen(os.dup(fd), "rb") as f:
                raw_bytes = f.read()
        except OSError as e:
            raise CockpitError(f"cannot read audit log {self.path}: {e.strerror}") from e
        finally:
            os.close(fd)
        out: list[dict] = []
        for line in raw_bytes.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                when = parse_time(entry["time"])
            except (ValueError, KeyError, TypeError):
                self.skipped += 1
                continue
            if profile is not None and entry.get("profile") != profile:
                continue
            if since is not None and when < since:
                continue
            out.append(entry)
        return out if raw else fold_action_phases(out)


def fold_action_phases(entries: list[dict]) -> list[dict]:
    """Drop each action's ``started`` line whose ``finished`` line (same ``id``) is present."""
    finished = {
        e["id"] for e in entries
        if e.get("type") == "action" and e.get("phase") == "finished" and e.get("id")
    }  # fmt: skip
    return [
        e for e in entries
        if not (e.get("type") == "action" and e.get("phase") == "started" and e.get("id") in finished)
    ]  # fmt: skip


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid())


def _fsync_dir(path: Path) -> None:
    # A new file's directory entry must be durable too, or a crash can lose the whole log.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the file itself is synced
    finally:
        os.close(fd)


class AlarmTracker:
    """Turns successive alarm lists of a source into recorded state transitions.

    Sources report the alarms in a problem state; one that leaves the list has cleared,
    and is recorded as a transition to OK.
    """

    def __init__(self, audit: AuditLog, profile: str, *, remember_hours: float = 24) -> None:
        self.audit = audit
        self.profile = profile
        self._states: dict[str, str] = {}
        self._at: dict[str, datetime] = {}  # when each alarm's last transition was dated
        # Start from what this session already wrote (a tracker built again must not record
        # every firing alarm anew). Another session's states are another cockpit's view, of
        # perhaps another estate (each lab is its own): a new cockpit records what it sees,
        # dated by the alarm's own time, and its timeline shows only its own transitions.
        since = datetime.now(UTC) - timedelta(hours=remember_hours)
        try:
            for e in audit.read(since=since, profile=profile):
                if e.get("type") == "alarm" and e.get("alarm") and e.get("session") == audit.session:
                    self._states[str(e["alarm"])] = str(e.get("to", ""))
                    self._at[str(e["alarm"])] = parse_time(e["time"])
        except Exception as e:  # an unreadable log must not stop the cockpit; actions will say it
            log.warning("audit log not read for alarm states: %s", e)
        self._states = {k: v for k, v in self._states.items() if v and v != "OK"}

    def observe(self, source_id: str, alarms: Any) -> list[dict[str, Any]]:
        prefix = f"{source_id}/"
        now = {a.key: a for a in alarms}
        before = {k: v for k, v in self._states.items() if k.startswith(prefix)}
        written: list[dict[str, Any]] = []
        for key, alarm in now.items():
            if before.get(key) != alarm.state:
                at = alarm.since
                if before.get(key) and (at is None or at <= self._at.get(key, at)):
                    # A source that dates an alarm by its start (a PagerDuty incident by its
                    # creation, a Sentry issue by its first event) changed its state since the
                    # last look: dated by the alarm, an acknowledgement would come before the
                    # page itself and the action that made it.
                    at = datetime.now(UTC)
                written.append(self.audit.record_alarm_transition(
                    self.profile, key, alarm.name, before.get(key, ""), alarm.state, at,
                    alarm.reason, severity=alarm.severity.label, resource=alarm.resource,
                ))
                self._states[key] = alarm.state
                if at is not None:
                    self._at[key] = at
        for key, state in before.items():
            if key not in now:
                written.append(self.audit.record_alarm_transition(
                    self.profile, key, key[len(prefix):], state, "OK", None,
                    "no longer in a reported state",
                ))
                del self._states[key]
                self._at.pop(key, None)
        return written
