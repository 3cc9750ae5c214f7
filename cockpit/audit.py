"""The append-only audit log: one JSON line per action attempt and per alarm transition.

Each line is written with one ``write`` on an ``O_APPEND`` descriptor and fsynced before
the caller goes on, so what the user is told has happened is already on disk. Secrets are
masked before anything is written. A log that cannot be written, or whose last line is
not JSON (a torn write, a hand edit), blocks actions: losing the record silently is worse
than refusing.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cockpit import masking
from cockpit.errors import ActionRefused, CockpitError
from cockpit.profile import Profile

log = logging.getLogger(__name__)

MASK = "***"

# Key names whose values are secrets, matched on word parts: "aws_secret_access_key",
# "Authorization", "api-key", "db_password".
_SECRET_WORDS = {
    "password",
    "passwd",
    "pwd",
    "token",
    "secret",
    "key",
    "apikey",
    "authorization",
    "credential",
    "credentials",
    "signature",
    "cookie",
}
_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@/\s]+(?=@)")
_QUERY_SECRET = re.compile(
    r"(?P<pre>[?&;](?:[A-Za-z0-9_.-]*?)(?:password|passwd|pwd|token|secret|key|signature|"
    r"credential|sig|auth)[A-Za-z0-9_.-]*=)[^&#\s]+",
    re.IGNORECASE,
)
# libpq key=value DSNs and CLI flags: "password=x", "--password x", "--token=x".
_KV_SECRET = re.compile(
    r"(?P<pre>(?:^|(?<=\s))(?:--?)?(?:password|passwd|pwd|token|secret|api[_-]?key)"
    r"(?:=|\s+))(?!\*\*\*)(?P<q>['\"]?)[^\s'\"]+(?P=q)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"(?P<pre>\bauthorization:\s*(?:bearer|basic|token)?\s*)[^\s'\"]+", re.I)


def _is_secret_key(name: str) -> bool:
    words = {w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())}
    words.discard("")
    return bool(words & _SECRET_WORDS) or name.lower().replace("-", "_") in {"x_amz_signature"}


def mask_string(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("pre") + MASK, text)
    text = _QUERY_SECRET.sub(lambda m: m.group("pre") + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m.group("pre") + MASK, text)
    text = _KV_SECRET.sub(lambda m: m.group("pre") + MASK, text)
    return text


def mask_secrets(obj: Any) -> Any:
    """A copy of ``obj`` with secret values replaced by ``***`` (dicts, lists, strings)."""
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and _is_secret_key(k) and v not in ("", None)
                else mask_secrets(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [mask_secrets(v) for v in obj]
    if isinstance(obj, str):
        return mask_string(obj)
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
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self.skipped = 0  # lines ``read`` could not parse, for the caller to report

    # --- checks ---------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``ActionRefused`` unless a line can be appended and the log is intact."""
        fix = f"fix or move aside {self.path} (or set audit_log: in the profile)"
        if self.path.is_dir():
            raise ActionRefused(f"audit log {self.path} is a directory", fix)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opening for append is the real test (os.access lies for root).
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise ActionRefused(
                f"audit log {self.path} is not writable: {e.strerror or e}", fix
            ) from e
        os.close(fd)
        self._check_tail()

    def _check_tail(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                if size == 0:
                    return
                f.seek(max(0, size - 65536))
                tail = f.read()
        except OSError as e:
            raise ActionRefused(f"audit log {self.path} is not readable: {e.strerror}") from e
        hint = f"move it aside (mv {self.path} {self.path}.corrupt) and retry"
        if not tail.endswith(b"\n"):
            raise ActionRefused(f"audit log {self.path} ends in a torn line", hint)
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            json.loads(last)
        except ValueError as e:
            raise ActionRefused(f"audit log {self.path}: last line is not JSON", hint) from e

    # --- writing --------------------------------------------------------------------

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Mask, write one line, flush and fsync; return what was written."""
        record: dict[str, Any] = {
            "time": utc_iso(),
            "user": _user(),
            "host": socket.gethostname(),
        }
        record.update(entry)
        record = masking.mask_secrets(record)  # the one masker (cockpit.masking)
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                created = not self.path.exists()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(f"short write ({written} of {len(line)} bytes)")
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if created:
                    _fsync_dir(self.path.parent)
            except OSError as e:
                raise CockpitError(
                    f"cannot write audit log {self.path}: {e.strerror or e}",
                    "check the disk and the file's permissions",
                ) from e
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
                "reason": reason,
                "severity": severity,
                "resource": resource,
            }
        )

    # --- reading --------------------------------------------------------------------

    def read(self, since: datetime | None = None, profile: str | None = None) -> list[dict]:
        """Entries in file order, optionally newer than ``since`` and of one profile.

        Unparseable lines are skipped and counted in ``self.skipped``.
        """
        self.skipped = 0
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise CockpitError(f"cannot read audit log {self.path}: {e.strerror}") from e
        out: list[dict] = []
        for line in raw.splitlines():
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
        return out


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
        # Start from what the log already says, so a restart does not record every alarm
        # that was firing before it as firing anew (and one that cleared meanwhile is seen).
        since = datetime.now(UTC) - timedelta(hours=remember_hours)
        try:
            for e in audit.read(since=since, profile=profile):
                if e.get("type") == "alarm" and e.get("alarm"):
                    self._states[str(e["alarm"])] = str(e.get("to", ""))
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
                written.append(self.audit.record_alarm_transition(
                    self.profile, key, alarm.name, before.get(key, ""), alarm.state, alarm.since,
                    alarm.reason, severity=alarm.severity.label, resource=alarm.resource,
                ))
                self._states[key] = alarm.state
        for key, state in before.items():
            if key not in now:
                written.append(self.audit.record_alarm_transition(
                    self.profile, key, key[len(prefix):], state, "OK", None,
                    "no longer in a reported state",
                ))
                del self._states[key]
        return written
