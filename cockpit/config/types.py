"""The value types of the schema: strings, numbers, enums, secrets, mappings, sequences and
records; each checks a node and builds the value the profile dataclass holds.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cockpit.config.nodes import _is, _join, _kind, _line, _pairs, _Walk
from cockpit.config.validators import (
    _CHECK_META,
    _CHECK_NAME,
    _ENV_NAME,
    _PASSWORD_MSG,
    _has_password,
)
from cockpit.profile import (
    SecretRef,
)

# ---------------------------------------------------------------- value types


class _Type:
    """One kind of value: converts a node (or fails with the key path) and documents itself."""

    doc = "value"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> Any:
        raise NotImplementedError

    def expected(self, node: Node, w: _Walk, where: str, line: int, what: str) -> NoReturn:
        hint = ""
        if what == "a string" and isinstance(node, ScalarNode):
            hint = "quote the value to make it a string"
        w.fail(line, where, f"expected {what}, got {_kind(node)}", hint)


@dataclass(frozen=True)
class _Str(_Type):
    doc: str = "string"
    empty_ok: bool = True
    check: Callable[[str], str | None] | None = None  # returns a problem, or None

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> str:
        if not _is(node, "str"):
            self.expected(node, w, where, line, "a string")
        value: str = node.value
        if not value and not self.empty_ok:
            w.fail(line, where, "must not be empty")
        if self.check is not None and (problem := self.check(value)):
            w.fail(line, where, problem)
        return value


@dataclass(frozen=True)
class _Bool(_Type):
    doc: str = "boolean"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> bool:
        if not _is(node, "bool"):
            self.expected(node, w, where, line, "a boolean (true or false)")
        return bool(w.scalar(node, line, where))


@dataclass(frozen=True)
class _Num(_Type):
    doc: str = "number"
    integer: bool = False
    positive: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> float | int:
        if _is(node, "int"):
            value: float | int = w.scalar(node, line, where)
        elif _is(node, "float") and not self.integer:
            value = w.scalar(node, line, where)
            if not math.isfinite(value):
                w.fail(line, where, f"expected a finite number, got {node.value}")
        else:
            self.expected(node, w, where, line, "an integer" if self.integer else "a number")
        if self.positive and value <= 0:
            w.fail(line, where, f"must be greater than 0, got {node.value}")
        if self.minimum is not None and value < self.minimum:
            w.fail(line, where, f"must be at least {self.minimum:g}, got {node.value}")
        if self.maximum is not None and value > self.maximum:
            w.fail(line, where, f"must be at most {self.maximum:g}, got {node.value}")
        if self.integer:
            return int(value)
        try:
            return float(value)
        except OverflowError:
            w.fail(line, where, "number too large")


@dataclass(frozen=True)
class _Enum(_Type):
    values: tuple[str, ...] = ()

    @property
    def doc(self) -> str:  # type: ignore[override]
        return " / ".join(self.values)

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> str:
        value = _Str().convert(node, w, where, line)
        if value not in self.values:
            w.fail(line, where, f"expected one of {', '.join(self.values)}, got {value!r}")
        return value


@dataclass(frozen=True)
class _Secret(_Type):
    doc: str = "env:NAME, file:PATH, or a URL/DSN without a password"
    refs_only: str = ""  # e.g. "token": a secret in itself, so never a literal

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> SecretRef:
        value = _Str(empty_ok=False).convert(node, w, where, line)
        if value.startswith("env:"):
            if not _ENV_NAME.match(value[4:]):
                w.fail(line, where, f"env: needs a variable name, got {value[4:]!r}")
        elif value.startswith("file:"):
            if not value[5:]:
                w.fail(line, where, "file: needs a path")
        elif self.refs_only:
            w.fail(
                line,
                where,
                f"a literal {self.refs_only} is not allowed: use env:NAME or file:PATH",
                "keep it in an environment variable (env:NAME) or a file only you can read",
            )
        elif _has_password(value):
            w.fail(
                line,
                where,
                _PASSWORD_MSG,
                "keep it in an environment variable (env:NAME) or a file only you can read",
            )
        return SecretRef(value)


@dataclass(frozen=True)
class _Map(_Type):
    """A mapping of names to string values (e.g. metric name -> PromQL)."""

    value: _Type = dataclasses.field(default_factory=_Str)
    doc: str = "mapping of name -> string"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping")
        out: dict[str, Any] = {}
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if not _ENV_NAME.match(key):  # also a column / series name: keep it simple
                w.fail(kline, here, f"expected a name of letters, digits and _, got {key!r}")
            w.count(vnode, kline, here)
            out[key] = self.value.convert(vnode, w, here, kline)
        return out


@dataclass(frozen=True)
class _Checks(_Type):
    """check name -> command line, split with ``shlex.split`` into a validated argv."""

    doc: str = "mapping of name -> command"

    def convert(
        self, node: Node, w: _Walk, where: str, line: int
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping of check name -> command")
        out: list[tuple[str, tuple[str, ...]]] = []
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if not _CHECK_NAME.match(key):
                w.fail(kline, here, f"expected a name of letters, digits and _ . -, got {key!r}")
            w.count(vnode, kline, here)
            command = _Str(empty_ok=False).convert(vnode, w, here, kline)
            try:
                argv = tuple(shlex.split(command))
            except ValueError as e:
                w.fail(kline, here, f"cannot split the command into words: {e}")
            if not argv:
                w.fail(kline, here, "must not be empty")
            for i, word in enumerate(argv):
                bad = sorted(set(word) & _CHECK_META)
                if bad:
                    shown = " ".join(repr(c) for c in bad)
                    w.fail(
                        kline,
                        here,
                        f"a check command must not contain shell metacharacters, found {shown} "
                        "(it reaches a remote shell)",
                        "give one plain command; for pipes or globs, install a script on the host "
                        "and name that",
                    )
                if i == 0 and word.startswith("-"):
                    w.fail(kline, here, "a check command must not start with '-'")
            out.append((key, argv))
        return tuple(out)


@dataclass(frozen=True)
class _Opt(_Type):
    """The inner type, or null (for fields whose default is None)."""

    inner: _Type = dataclasses.field(default_factory=_Str)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{self.inner.doc} or null"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> Any:
        if _is(node, "null"):
            return None
        return self.inner.convert(node, w, where, line)


@dataclass(frozen=True)
class _Seq(_Type):
    item: _Type = dataclasses.field(default_factory=_Str)
    unique: str | None = None  # records: this field must differ between items

    @property
    def doc(self) -> str:  # type: ignore[override]
        if isinstance(self.item, _Rec):
            return f"list of {self.item.plural}"
        return (
            f"list of {self.item.doc}s"
            if " " not in self.item.doc
            else f"list of ({self.item.doc})"
        )

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> tuple[Any, ...]:
        if not isinstance(node, SequenceNode):
            self.expected(node, w, where, line, "a list")
        out = []
        seen: dict[Any, int] = {}
        for i, item in enumerate(node.value):
            w.count(item, line, where)
            here = f"{where}[{i}]"
            value = self.item.convert(item, w, here, _line(item))
            if self.unique is not None:
                key = getattr(value, self.unique)
                if key in seen:
                    if isinstance(self.item, _Rec) and self.unique not in self.item.keys:
                        # derived (e.g. a context's estate name): no key of that name to point at
                        w.fail(
                            _line(item),
                            here,
                            f"{self.unique} {key!r} is used twice (first at line {seen[key]})",
                            "give each its own name:",
                        )
                    w.fail(
                        _line(item),
                        f"{here}.{self.unique}",
                        f"{key!r} is used twice (first at line {seen[key]})",
                        "names must be unique within a list",
                    )
                seen[key] = _line(item)
            out.append(value)
        return tuple(out)


@dataclass(frozen=True)
class _Rec(_Type):
    """A mapping that becomes a dataclass; keys -> (type, doc)."""

    cls: type = object
    keys: Mapping[str, tuple[_Type, str]] = dataclasses.field(default_factory=dict)
    name: str = ""  # the section it documents, e.g. "hosts"
    check: Callable[[dict[str, Any], _Walk, str, int], None] | None = None
    implicit: tuple[str, ...] = ()  # dataclass fields filled by the caller, not the file

    @property
    def doc(self) -> str:  # type: ignore[override]
        return "mapping"

    @property
    def plural(self) -> str:
        return "mappings"

    def required(self) -> list[str]:
        return [
            f.name
            for f in dataclasses.fields(self.cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in self.implicit
        ]

    def convert(self, node: Node, w: _Walk, where: str, line: int, **implicit: Any) -> Any:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping")
        values: dict[str, Any] = {}
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if key not in self.keys:
                close = difflib.get_close_matches(key, list(self.keys), n=1)
                w.fail(
                    kline,
                    here,
                    f"unknown key {key!r} (expected one of: {', '.join(self.keys)})",
                    f"did you mean {close[0]!r}?" if close else "",
                )
            w.count(vnode, kline, here)
            values[key] = self.keys[key][0].convert(vnode, w, here, kline)
        for key in self.required():
            if key not in values:
                w.fail(_line(node), where, f"missing required key {key!r}")
        if self.check is not None:
            self.check(values, w, where, _line(node))
        return self.cls(**values, **implicit)


@dataclass(frozen=True)
class _RecOrList(_Rec):
    """The record's mapping (one), or a list of them (several), each with its own unique
    ``list_key`` (e.g. the AWS estates of a profile, each named)."""

    list_key: str = "name"

    @property
    def doc(self) -> str:  # type: ignore[override]
        return "mapping, or list of mappings"

    def convert(self, node: Node, w: _Walk, where: str, line: int, **implicit: Any) -> Any:
        if not isinstance(node, SequenceNode):
            return super().convert(node, w, where, line, **implicit)
        if not node.value:
            w.fail(line, where, "an empty list", f"give at least one mapping, or leave {where.rsplit('.', 1)[-1]} out")
        one = _Rec(self.cls, self.keys, self.name, self.check, self.implicit)
        out = []
        seen: dict[Any, int] = {}
        for i, item in enumerate(node.value):
            w.count(item, line, where)
            here = f"{where}[{i}]"
            value = one.convert(item, w, here, _line(item), **implicit)
            key = getattr(value, self.list_key)
            if not key:
                w.fail(_line(item), here, f"missing required key {self.list_key!r}",
                       f"each item of a list needs its own {self.list_key}")
            if key in seen:
                w.fail(_line(item), f"{here}.{self.list_key}",
                       f"{key!r} is used twice (first at line {seen[key]})",
                       "names must be unique within a list")
            seen[key] = _line(item)
            out.append(value)
        return tuple(out)


@dataclass(frozen=True)
class _RedisQueues(_Seq):
    """A list of queue keys, or the word ``auto`` alone (kept as the one-item list)."""

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"auto or {super().doc}"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> tuple[Any, ...]:
        if _is(node, "str") and node.value == "auto":
            return ("auto",)
        return super().convert(node, w, where, line)


@dataclass(frozen=True)
class _StrOrRec(_Rec):
    """A plain string (kept as the string: the short form) or the record's mapping."""

    string: _Type = dataclasses.field(default_factory=_Str)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{self.string.doc} or mapping"

    @property
    def plural(self) -> str:
        return f"{self.string.doc}s or mappings"

    def convert(self, node: Node, w: _Walk, where: str, line: int, **implicit: Any) -> Any:
        if isinstance(node, MappingNode):
            return super().convert(node, w, where, line, **implicit)
        if not _is(node, "str"):
            self.expected(node, w, where, line, f"a {self.string.doc} or a mapping")
        return self.string.convert(node, w, where, line)


# "Restart the service: action: service.restart": a step that names the action doing it.
_STEP_ACTION = re.compile(r"^(?P<text>.*?)[\s:]*\baction:\s*(?P<action>[A-Za-z_][\w.]*)\s*$")


@dataclass(frozen=True)
class _Step(_Type):
    """A runbook step: a string (ending ``action: <id>`` to name an action), or a mapping
    ``{text: ..., action: <id>}``. The action id is a built-in action's or one of the
    profile's own ``actions:`` (checked when the profile is read: ``_check_profile``)."""

    doc: str = "string, or mapping text/action"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> Any:
        from cockpit.profile import RunbookStep

        if _is(node, "str"):
            text, action = node.value, ""
            if m := _STEP_ACTION.match(text):
                text, action = m["text"], m["action"]
        elif isinstance(node, MappingNode):
            values: dict[str, str] = {}
            for key, kline, vnode in _pairs(node, w, where):
                here = _join(where, key)
                if key not in ("text", "action"):
                    w.fail(kline, here, f"unknown key {key!r} (expected one of: text, action)")
                values[key] = _Str(empty_ok=False).convert(vnode, w, here, kline)
            if "text" not in values:
                w.fail(line, where, "missing required key 'text'")
            text, action = values["text"], values.get("action", "")
        else:
            self.expected(node, w, where, line, "a string or a mapping")
        if not text.strip():
            w.fail(line, where, "must not be empty")
        if action:
            from cockpit.registry import REGISTRY

            if all(spec.id != action for spec in REGISTRY):
                w.step_actions.append((line, where, action))  # the profile's own? (_check_profile)
        return RunbookStep(text, action)
