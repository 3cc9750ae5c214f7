"""Sorting a KeyedTable by a column, the way k9s and htop do: Shift+the column's letter (the
letter underlined in its header) or a click on the header; again to reverse.

Pure functions of cell text: a cell that starts with a number sorts as that number (``1,204``,
``62``, ``2/3``, ``0.8%``), an age (``45s``, ``5h``, ``2d``) as its seconds, a status by its
glyph's severity (worst first ascending), anything else as text, case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text

from cockpit.model import Severity

UP, DOWN = "▲", "▼"

# Worst first: ✖ critical, ? unknown, ▲ warning, ℹ info, ● ok.
_SEVERITY_RANK = {s.symbol: rank for rank, s in enumerate(
    (Severity.CRITICAL, Severity.UNKNOWN, Severity.WARNING, Severity.INFO, Severity.OK))}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdwy])$")
_AGE_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def sort_key(text: str) -> tuple:
    """How a cell's text sorts: numbers before text, each among its own kind."""
    t = text.strip()
    if not t:
        return (3, 0.0, "")
    if t[0] in _SEVERITY_RANK:
        return (0, float(_SEVERITY_RANK[t[0]]), t[1:].strip().lower())
    age = _AGE.match(t)
    if age:
        return (1, float(age.group(1)) * _AGE_S[age.group(2)], t)
    number = _NUMBER.match(t)
    if number:
        return (1, float(number.group().replace(",", "")), t.lower())
    return (2, 0.0, t.lower())


def sorted_rows(rows: Sequence, column: int, descending: bool) -> list:
    """``rows`` ((key, cells) pairs) by their ``column``'s text; stable, so equal cells keep
    the pane's own order (a pane's order is by name: ties stay by name)."""
    return sorted(rows, key=lambda row: sort_key(row[1][column].plain if column < len(row[1]) else ""),
                  reverse=descending)


def assign_letters(labels: Sequence[str], reserved: Iterable[str]) -> dict[str, str]:
    """One capital per column, the first letter of its label that no other column and no key
    bound around the table takes (services: S status, E service, R run/des, D deployment...)."""
    taken = {k for k in reserved if len(k) == 1}
    out: dict[str, str] = {}
    for label in labels:
        for ch in label:
            if ch.isalpha() and ch.isascii() and ch.upper() not in taken:
                taken.add(ch.upper())
                out[ch.upper()] = label
                break
    return out


def header_label(label: str, letter: str | None, width: int, arrow: str = "") -> Text:
    """The column's header: its sort letter underlined and, when sorted by it, ▲ or ▼ (kept
    within the column's width, so the arrow is never cut off)."""
    shown = label
    if arrow:
        shown = (label if len(label) + 1 <= width else label[: max(0, width - 1)]) + arrow
    text = Text(shown)
    if letter is not None:
        at = shown.upper().find(letter)
        if 0 <= at < len(shown) - len(arrow):
            text.stylize("underline", at, at + 1)
    return text


def keys_around(node: Any) -> set[str]:
    """Keys bound on ``node``, its ancestors and the app: no sort letter shadows one."""
    from textual.binding import Binding

    keys: set[str] = set()
    for each in [*node.ancestors_with_self]:
        for cls in type(each).__mro__:
            for b in cls.__dict__.get("BINDINGS", ()):
                key = b.key if isinstance(b, Binding) else b[0]
                keys.update(k.strip() for k in key.split(","))
    return keys
