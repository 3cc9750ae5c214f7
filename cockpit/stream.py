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
import math
import time
import types
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cockpit import model
from cockpit.errors import CockpitError
from cockpit.hub import LogBatch, SourceUpdate
from cockpit.masking import mask_secrets
from cockpit.text import sanitize

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


# A snapshot carries only its pane's record type (model.PANE_RECORDS): another one is
# rejected (a ServiceStatus in the queues pane crashed it), and so is any record in a
# snapshot of the logs pane, whose lines come as ``logs`` frames.


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        try:
            _HINTS[cls] = typing.get_type_hints(cls)
        except Exception:  # an annotation that cannot be resolved is not checked
            _HINTS[cls] = {}
    return _HINTS[cls]


def _conforms(value: Any, tp: Any) -> bool:
    """Does a decoded value fit a field's annotation? A record that passes cannot surprise
    a pane (an ``int`` where a ``Severity`` belongs crashed one)."""
    if tp is Any or tp is object:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return any(_conforms(value, a) for a in args)
    if tp is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if tp in (tuple, list):  # a raw frame's JSON array, before decoding
        return isinstance(value, tuple | list)
    if origin in (tuple, list):
        if not isinstance(value, tuple):
            return False
        if not args:
            return True
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return all(_conforms(v, args[0]) for v in value)
        return len(args) == len(value) and all(_conforms(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            return False
        return not args or all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63
    if tp is bool:
        return isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a typing construct not used by records: not checked


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
    """Build records from stream JSON; a value that does not fit raises ``StreamError``."""
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    if not isinstance(value, dict):
        if isinstance(value, float) and not math.isfinite(value):
            raise StreamError(f"{value!r} is not a number a stream may carry")
        return value
    if "_t" in value:
        cls = _TYPES.get(value["_t"]) if isinstance(value["_t"], str) else None
        if cls is None:
            raise StreamError(f"unknown record type {value['_t']!r} in the stream")
        hints = _hints(cls)
        fields = {}
        for f in dataclasses.fields(cls):
            if f.name not in value:
                continue
            v = decode(value[f.name])
            if f.name in hints and not _conforms(v, hints[f.name]):
                raise StreamError(f"{cls.__name__}.{f.name} cannot be {_show(value[f.name])}")
            # A stream comes from another process: its text is made safe again here, as a
            # backend makes the estate's (a log line's text is, by the log pane).
            fields[f.name] = v if cls is model.LogRecord and f.name == "text" else _safe(v)
        try:
            return cls(**fields)
        except TypeError as e:  # a required field is missing
            raise StreamError(f"{cls.__name__}: {e}") from None
    if "_e" in value:
        cls_e = _ENUMS.get(value["_e"]) if isinstance(value["_e"], str) else None
        if cls_e is None:
            raise StreamError(f"unknown enum {value['_e']!r} in the stream")
        try:
            return cls_e(value.get("v"))
        except (ValueError, TypeError):
            raise StreamError(f"{cls_e.__name__} has no value {_show(value.get('v'))}") from None
    if "_d" in value:
        try:
            when = datetime.fromisoformat(value["_d"])
        except (ValueError, TypeError):
            raise StreamError(f"{_show(value['_d'])} is not a time") from None
        # Panes compare times with aware ones: a naive time is taken as UTC, not a crash.
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return {k: decode(v) for k, v in value.items()}


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, tuple):
        return tuple(_safe(v) for v in value)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key(record: model.PaneRecord) -> str:
    return record.key


# --- encoder (driver side) ------------------------------------------------------------------


class StreamEncoder:
    """Turns hub output into events; keeps per-source state to send diffs."""

    def __init__(self, profile: str, *, clock=time.time, production: bool = False, lab: bool = False,
                 estates: bool = False) -> None:
        self.profile = profile
        self.production = production  # watchers show the driver's danger banner too
        self.lab = lab
        self.estates = estates  # several estates: watchers show each row's estate too
        self.clock = clock
        self._last: dict[str, dict[str, Any]] = {}  # source -> key -> encoded record
        self._meta: dict[str, dict[str, Any]] = {}  # source -> last meta fields
        self._detail: dict[str, Any] | None = None  # the detail open now, for late watchers
        self._sent_at: dict[str, float] = {}  # source -> the fetched_at watchers last got

    def hello(self) -> dict[str, Any]:
        return {"v": VERSION, "t": self.clock(), "kind": "hello", "profile": self.profile,
                "production": self.production, "lab": self.lab, "estates": self.estates}

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
        sent = self._sent_at.get(update.source_id)
        # ...except when the watcher's copy is an interval old: a quiet source is said to be
        # alive, records left out. Every other refresh was not enough: under load a refresh
        # that ends late, plus the watcher's hold, crossed the three intervals of "stale" and
        # the headers and rows flickered between stale and live (twice the terminal bytes).
        alive = (update.fetched_at is not None and sent is not None
                 and update.fetched_at - sent >= update.interval)
        if not upsert and not remove and self._meta.get(update.source_id) == meta and not alive:
            return None
        self._last[update.source_id] = current
        self._meta[update.source_id] = meta
        if update.fetched_at is not None:
            self._sent_at[update.source_id] = update.fetched_at
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

    def detail(self, source: str | None, key: str | None, title: str = "") -> dict[str, Any]:
        """The driver opened the detail of a row (``key`` None: it closed it)."""
        # "row", not "key": the share's masker blanks any field named like a secret's.
        event = {"v": VERSION, "t": self.clock(), "kind": "detail", "source": source, "row": key,
                 "title": title}
        self._detail = event if key is not None else None
        return event

    def full_state(self) -> list[dict[str, Any]]:
        """Everything a late watcher needs: a full snapshot of every source."""
        out = [self.hello()]
        for source, records in self._last.items():
            meta = self._meta[source]
            # When the driver last fetched it, not now: a source stale at the driver is stale
            # for a late watcher too.
            fetched_at = self._sent_at.get(source, self.clock())
            out.append({"v": VERSION, "t": self.clock(), "kind": "snapshot", "source": source,
                        "fetched_at": fetched_at, **meta, "upsert": list(records.values()),
                        "remove": [], "full": True})
        if self._detail is not None:  # after the records it is found among
            out.append({**self._detail, "t": self.clock()})
        return out


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


# --- decoder (watcher / replay side) --------------------------------------------------------


def _need(event: dict[str, Any], key: str, tp: Any, default: Any = None) -> Any:
    value = event.get(key, default)
    if not _conforms(value, tp):
        raise StreamError(f"{event.get('kind')} field {key!r} cannot be {_show(value)}")
    return value


_NUMBER = float | None
_TEXT = str | None


class StreamDecoder:
    """Applies events in order and yields what the panes consume.

    ``apply`` raises ``StreamError`` on a frame it cannot use; ``feed`` (what watchers and
    replays call) rejects such a frame instead, counts it in ``rejected`` and keeps going:
    one bad frame from a driver or a recording never ends the feed nor reaches a pane.
    """

    def __init__(self) -> None:
        self.profile = ""
        self._records: dict[str, dict[str, model.PaneRecord]] = {}
        self.rejected = 0
        self.last_rejection = ""

    def feed(self, event: Any) -> SourceUpdate | LogBatch | dict[str, Any] | None:
        """``apply``, or None for a rejected frame (counted, with the reason kept)."""
        try:
            return self.apply(event)
        except StreamError as e:
            why = str(e)
        except Exception as e:  # a frame the checks missed still must not end the feed
            why = f"{type(e).__name__}: {e}"
        self.rejected += 1
        self.last_rejection = why
        return None

    def apply(self, event: Any) -> SourceUpdate | LogBatch | dict[str, Any] | None:
        if not isinstance(event, dict):
            raise StreamError(f"a frame must be a JSON object, not {_show(event)}")
        v = event.get("v")
        if v != VERSION:
            raise StreamError(
                f"stream format version {v!r} is not supported (this cockpit reads version {VERSION})",
                "replay it with the cockpit version that recorded it",
            )
        kind = _need(event, "kind", str, "")
        if "t" in event:
            _need(event, "t", float)
        if kind == "hello":
            self.profile = _need(event, "profile", str, "")
            _need(event, "production", bool, False)
            _need(event, "lab", bool, False)
            _need(event, "estates", bool, False)  # absent before it existed: one estate's look
            return event
        if kind == "snapshot":
            return self._snapshot(event)
        if kind == "logs":
            records = tuple(decode(r) for r in _need(event, "records", list | tuple, ()))
            if not all(isinstance(r, model.LogRecord) for r in records):
                raise StreamError("logs frame carries a record that is not a LogRecord")
            return LogBatch(_need(event, "source", str), _need(event, "title", str, ""),
                            records=records, error=_need(event, "error", _TEXT),
                            hint=_need(event, "hint", _TEXT) or "",
                            next_retry=_need(event, "next_retry", _NUMBER))
        if kind == "action":
            _need(event, "entry", dict)
        elif kind == "focus":
            pane = _need(event, "pane", str)
            if pane not in {p.value for p in model.PaneKind}:
                raise StreamError(f"focus on an unknown pane {_show(pane)}")
            _need(event, "row", _TEXT)
        elif kind == "detail":
            _need(event, "source", _TEXT)
            _need(event, "row", _TEXT)
            _need(event, "title", _TEXT)
        return event  # action, focus, dropped: for the caller to show

    def _snapshot(self, event: dict[str, Any]) -> SourceUpdate:
        source = _need(event, "source", str)
        pane = _need(event, "pane", str)
        if pane not in {p.value for p in model.PaneKind}:
            raise StreamError(f"snapshot for an unknown pane {_show(pane)}")
        # Built on a copy: a frame rejected half-way leaves the source's records as they were.
        records = {} if event.get("full") else dict(self._records.get(source, {}))
        for k in _need(event, "remove", list | tuple, ()):
            if not isinstance(k, str):
                raise StreamError(f"snapshot removes a key that is not text: {_show(k)}")
            records.pop(k, None)
        want = model.PANE_RECORDS.get(model.PaneKind(pane))
        for raw in _need(event, "upsert", list | tuple, ()):
            rec = decode(raw)
            if not dataclasses.is_dataclass(rec) or isinstance(rec, type):
                raise StreamError(f"snapshot upserts {_show(raw)}, not a record")
            if want is None or not isinstance(rec, want):
                raise StreamError(f"a {type(rec).__name__} cannot be shown in the {pane} pane")
            records[_key(rec)] = rec
        # Checked on the merged records: a source's earlier ones must fit this pane too.
        for kept in records.values():
            if want is None or not isinstance(kept, want):
                raise StreamError(f"a {type(kept).__name__} cannot be shown in the {pane} pane")
        update = SourceUpdate(
            source_id=source, pane=model.PaneKind(pane), title=_need(event, "title", str),
            records=tuple(records.values()) if event.get("fetched") else None,
            fetched_at=_need(event, "fetched_at", _NUMBER),
            interval=float(_need(event, "interval", _NUMBER) or 5),
            error=_need(event, "error", _TEXT), hint=_need(event, "hint", _TEXT) or "",
            error_since=_need(event, "error_since", _NUMBER), next_retry=_need(event, "next_retry", _NUMBER),
        )
        self._records[source] = records
        return update


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
