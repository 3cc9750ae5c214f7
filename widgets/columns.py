"""Columns that fit their content: each has a minimum, a preferred width (its widest cell so
far) and a priority; identifying columns get their width first, the lowest priority drops
out first as a pane narrows, and long names are cut in the middle, keeping their suffix.
Pure functions: the table (widgets/keyed_table.py) applies what they decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Col:
    """A column that fits its content: at least ``min`` cells, up to its widest cell (or
    ``max``), widened in ``priority`` order (0: identifying, widened first, never dropped;
    the highest drops out first as the pane narrows). ``grow`` takes what is left;
    ``middle`` shortens in the middle, keeping a name's distinguishing suffix; ``whole``
    is never cut: it has its widest cell (up to ``max``) or drops out."""

    label: str
    min: int
    priority: int = 1
    max: int | None = None
    grow: bool = False
    middle: bool = False
    whole: bool = False


def as_col(spec: Col | tuple[str, int], last: bool = False) -> Col:
    """A ``(label, width)`` pair is a fixed column (the last one grows), as before ``Col``."""
    if isinstance(spec, Col):
        return spec
    label, width = spec
    return Col(label, width, priority=0, max=None if last else width, grow=last)


def fit_columns(cols: Sequence[Col], prefs: Sequence[int], width: int, pad: int = 1) -> list[int | None]:
    """Each column's width in ``width`` cells (None: dropped), pure.

    Columns drop out, lowest priority first, until identifying columns (priority 0) fit at
    their preferred width and the others at their minimum; essential ones (priority 1)
    stay as long as every minimum fits (the identifying columns are cut then). What is left widens columns towards their preferred width (their widest
    cell) in priority order, identifying columns first; a ``grow`` column takes the rest.
    """
    n = len(cols)
    shown = list(range(n))

    def wanted(i: int) -> int:
        want = max(prefs[i], cols[i].min)
        cap = cols[i].max
        return want if cap is None else min(want, cap)

    mins = [wanted(i) if cols[i].whole else cols[i].min for i in range(n)]

    def need(ix: list[int], full: bool) -> int:
        return sum((wanted(i) if full and cols[i].priority == 0 and not cols[i].grow else mins[i]) + 2 * pad
                   for i in ix)

    for i in sorted(range(n), key=lambda i: (-cols[i].priority, -i)):
        if cols[i].priority == 0 or need(shown, cols[i].priority > 1) <= width:
            break
        shown.remove(i)
    widths = {i: mins[i] for i in shown}
    room = width - sum(mins[i] + 2 * pad for i in shown)
    for i in sorted(shown, key=lambda i: (cols[i].priority, i)):
        extra = max(0, min(wanted(i) - widths[i], room))
        widths[i] += extra
        room -= extra
    grow = [i for i in shown if cols[i].grow]
    if grow and room > 0:
        widths[grow[-1]] += room
    return [widths.get(i) for i in range(n)]


def middle_cut(text: str, width: int) -> str:
    """``scanner-wor…-9b0d9``: a long name cut in the middle, keeping its last ``-part``
    (a pod's hash, a deployment's role) that tells it from its neighbours."""
    if len(text) <= width:
        return text
    dash = text.rfind("-")
    tail = text[dash:] if dash > 0 and len(text) - dash <= 8 else text[-5:]
    head = width - 1 - len(tail)
    if head < 3:
        return text[: max(width - 1, 0)] + "…" if width > 0 else ""
    return text[:head] + "…" + tail
