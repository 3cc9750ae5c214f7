"""The cockpit's event stream: what the panes show, as versioned JSON lines.

One format serves recording, replay and live sharing (docs/stream.md). A source's snapshot
is sent as a diff against its previous one (records upserted by key, keys removed), so a
quiet estate costs almost nothing; a watcher that joins late first gets ``full_state()``.
Headless: no Textual here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cockpit import model
from cockpit.errors import CockpitError
from cockpit.hub import LogBatch, SourceUpdate
from cockpit.masking import mask_secrets

VERSION = 1

# Record types a stream may carry. Decoding builds only these: a stream is data, never code.
_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (model.ServiceStatus, model.Deployment, model.Alarm, model.LogRecord,
                model.QueueStatus, model.DatabaseSnapshot)
}
_ENUMS: dict[str, type[enum.Enum]] = {
    "Severity": model.Severity, "LogLevel": model.LogLevel, "PaneKind": model.PaneKind,
}


def register_record_type(cls: type) -> type:
    """Let a backend's own record type (e.g. a pod) travel in the stream."""
    _TYPES[cls.__name__] = cls
    return cls


class StreamError(CockpitError):
    pass


# --- values -------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"_t": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return {"_e": type(value).__name__, "v": value.value}
    if isinstance(value, datetime):
        return {"_d": value.isoformat()}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "_t" in value:
        cls = _TYPES.get(value["_t"])
        if cls is None:
            raise StreamError(f"unknown record type {value['_t']!r} in the stream")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: decode(v) for k, v in value.items() if k in names})
    if "_e" in value:
        cls_e = _ENUMS.get(value["_e"])
        if cls_e is None:
            raise StreamError(f"unknown enum {value['_e']!r} in the stream")
        return cls_e(value["v"])
    if "_d" in value:
        return datetime.fromisoformat(value["_d"])
    return {k: decode(v) for k, v in value.items()}


def _key(record: Any) -> str:
    return str(getattr(record, "key", None) or id(record))


# --- encoder (driver side) ------------------------------------------------------------------


class StreamEncoder:
    """Turns hub output into events; keeps per-source state to send diffs."""

    def __init__(self, profile: str, *, clock=time.time) -> None:
        self.profile = profile
        self.clock = clock
        self._last: dict[str, dict[str, Any]] = {}  # source -> key -> encoded record
        self._meta: dict[str, dict[str, Any]] = {}  # source -> last meta fields

    def hello(self) -> dict[str, Any]:
        return {"v": VERSION, "t": self.clock(), "kind": "hello", "profile": self.profile}

    def snapshot(self, update: SourceUpdate) -> dict[str, Any] | None:
        """A diff event for ``update``; None when nothing a watcher sees has changed."""
        meta = {
            "pane": update.pane.value, "title": update.title, "interval": update.interval,
            "fetched": update.records is not None, "error": update.error, "hint": update.hint,
            "error_since": update.error_since, "next_retry": update.next_retry,
        }
        # fetched_at moves on every refresh; a watcher needs it only when data changed or the
        # state did, so an unchanged refresh is not an event at all.
        previous = self._last.get(update.source_id, {})
        current = {_key(r): encode(r) for r in update.records or ()}
        upsert = [v for k, v in current.items() if previous.get(k) != v]
        remove = [k for k in previous if k not in current]
        if not upsert and not remove and self._meta.get(update.source_id) == meta:
            return None
        self._last[update.source_id] = current
        self._meta[update.source_id] = meta
        return {"v": VERSION, "t": self.clock(), "kind": "snapshot", "source": update.source_id,
                "fetched_at": update.fetched_at, **meta, "upsert": upsert, "remove": remove}

    def logs(self, batch: LogBatch) -> dict[str, Any]:
        return {"v": VERSION, "t": self.clock(), "kind": "logs", "source": batch.source_id,
                "title": batch.title, "records": [encode(r) for r in batch.records],
                "error": batch.error, "hint": batch.hint, "next_retry": batch.next_retry}

    def action(self, audit_entry: dict[str, Any]) -> dict[str, Any]:
        return {"v": VERSION, "t": self.clock(), "kind": "action", "entry": mask_secrets(audit_entry)}

    def focus(self, pane: str, row: str | None) -> dict[str, Any]:
        return {"v": VERSION, "t": self.clock(), "kind": "focus", "pane": pane, "row": row}

    def full_state(self) -> list[dict[str, Any]]:
        """Everything a late watcher needs: a full snapshot of every source."""
        out = [self.hello()]
        for source, records in self._last.items():
            meta = self._meta[source]
            out.append({"v": VERSION, "t": self.clock(), "kind": "snapshot", "source": source,
                        "fetched_at": self.clock(), **meta, "upsert": list(records.values()),
                        "remove": [], "full": True})
        return out


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


# --- decoder (watcher / replay side) --------------------------------------------------------


class StreamDecoder:
    """Applies events in order and yields what the panes consume."""

    def __init__(self) -> None:
        self.profile = ""
        self._records: dict[str, dict[str, Any]] = {}

    def apply(self, event: dict[str, Any]) -> SourceUpdate | LogBatch | dict[str, Any] | None:
        v = event.get("v")
        if v != VERSION:
            raise StreamError(
                f"stream format version {v!r} is not supported (this cockpit reads version {VERSION})",
                "replay it with the cockpit version that recorded it",
            )
        kind = event.get("kind")
        if kind == "hello":
            self.profile = str(event.get("profile", ""))
            return event
        if kind == "snapshot":
            source = str(event["source"])
            records = {} if event.get("full") else dict(self._records.get(source, {}))
            for k in event.get("remove", ()):
                records.pop(k, None)
            for raw in event.get("upsert", ()):
                rec = decode(raw)
                records[_key(rec)] = rec
            self._records[source] = records
            return SourceUpdate(
                source_id=source, pane=model.PaneKind(event["pane"]), title=str(event["title"]),
                records=tuple(records.values()) if event.get("fetched") else None,
                fetched_at=event.get("fetched_at"), interval=float(event.get("interval") or 5),
                error=event.get("error"), hint=event.get("hint") or "",
                error_since=event.get("error_since"), next_retry=event.get("next_retry"),
            )
        if kind == "logs":
            return LogBatch(str(event["source"]), str(event.get("title", "")),
                            records=tuple(decode(r) for r in event.get("records", ())),
                            error=event.get("error"), hint=event.get("hint") or "",
                            next_retry=event.get("next_retry"))
        return event  # action, focus, dropped: for the caller to show


def loads_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise StreamError(f"line {n} of the stream is not JSON: {e.msg}") from None
    return out
