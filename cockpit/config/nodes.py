"""Walking composed YAML nodes: every key and value keeps its line, and errors read
``PATH:LINE: key.path: what is wrong``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cockpit.errors import ConfigError

# A real profiles.yaml has a few hundred nodes; aliases can make a small file expand into
# billions of them when walked, so the walk stops long before that costs noticeable time.
MAX_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_KIND = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "timestamp": "a date",
    "binary": "binary data",
}
# ---------------------------------------------------------------- walking context and errors


class _Walk:
    """State of one load: the file's name for messages and the node budget."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodes = 0
        self.scalars = SafeConstructor()
        # Runbook steps naming an action that is not built in: (line, key path, id), checked
        # against the profile's own actions once the whole profile is read (they may follow).
        self.step_actions: list[tuple[int, str, str]] = []

    def fail(self, line: int, where: str, msg: str, hint: str = "") -> NoReturn:
        prefix = f"{self.path}:{line}: "
        # from None: the user needs the message and the hint, never a chained parser error.
        raise ConfigError(prefix + (f"{where}: {msg}" if where else msg), hint) from None

    def scalar(self, node: Node, line: int, where: str) -> Any:
        """The value of a bool/int/float scalar; explicit tags (!!int "x") can make it invalid."""
        try:
            return self.scalars.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            self.fail(line, where, f"{node.value!r} is not a valid {node.tag.removeprefix(_TAG)}")

    def count(self, node: Node, line: int, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(
                line,
                where,
                f"too many values (over {MAX_NODES:,} after expanding aliases)",
                "aliases that refer to aliases multiply: write the values out",
            )


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag.removeprefix(_TAG)
    return _KIND.get(tag, f"a value tagged {node.tag}")


def _is(node: Node, tag: str) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + tag


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _pairs(
    node: MappingNode, w: _Walk, where: str, _merging: tuple[Node, ...] = ()
) -> list[tuple[str, int, Node]]:
    """(key, key line, value node) in document order; merge keys (<<) applied; no duplicates."""
    explicit: dict[str, int] = {}
    own: list[tuple[str, int, Node]] = []
    merged: list[tuple[str, int, Node]] = []
    for knode, vnode in node.value:
        if knode.tag == _TAG + "merge":
            sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
            for src in sources:
                w.count(src, _line(knode), where)
                if not isinstance(src, MappingNode):
                    w.fail(_line(knode), where, f"<< expects a mapping to merge, got {_kind(src)}")
                if src is node or src in _merging:  # an anchor merged into itself
                    w.fail(_line(knode), where, "<< merges a mapping into itself")
                merged.extend(_pairs(src, w, where, (*_merging, node)))
            continue
        w.count(knode, _line(knode), where)
        # YAML 1.1 reads a bare `on` as true: as a key it is the actions' `on:`, a name.
        if not _is(knode, "str") and not (_is(knode, "bool") and knode.value == "on"):
            w.fail(_line(knode), where, f"keys must be strings, got {_kind(knode)}")
        key = knode.value
        if key in explicit:
            w.fail(
                _line(knode),
                _join(where, key),
                f"duplicate key {key!r} (first at line {explicit[key]})",
                "remove one of them",
            )
        explicit[key] = _line(knode)
        own.append((key, _line(knode), vnode))
    # Explicit keys override merged ones; among merged mappings the first one wins (YAML spec).
    seen = set(explicit)
    for key, line, vnode in merged:
        if key not in seen:
            seen.add(key)
            own.append((key, line, vnode))
    return own
