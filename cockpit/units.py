"""Figures as the cockpit writes them, the same on every pane, screen and detail section.

One function per kind of figure, so a size or an age reads alike wherever it shows: byte
sizes (``1.5KB``: compact, they sit in narrow table cells), ages (``<1m``, ``5m``, ``3h``,
``2d``: coarse, so a cell changes rarely) and sparklines (``▁▃▄▆▇█``). Pure functions of
plain values: backends, widgets and screens all import them from here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import datetime

BLOCKS = "▁▂▃▄▅▆▇█"


def format_bytes(n: float | None, missing: str = "–") -> str:
    """1536 -> ``1.5KB``: binary multiples (1024), one decimal; ``missing`` when unknown."""
    if n is None:
        return missing
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024:
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.1f}TB"


def age(since: datetime | float | None, now: datetime | float | None = None) -> str:
    """How long ago ``since`` was (a datetime or epoch seconds): ``<1m``, ``5m``, ``3h``, ``2d``
    (whole units, rounded down), ``–`` when unknown. ``now`` defaults to the clock."""
    if since is None:
        return "–"
    then = since.timestamp() if isinstance(since, datetime) else since
    if now is None:
        now = time.time()
    secs = max(0.0, (now.timestamp() if isinstance(now, datetime) else now) - then)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{int(secs // size)}{unit}"
    return "<1m"


def sparkline(
    values: Sequence[float],
    width: int = 30,
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """The values as at most ``width`` block characters, oldest left.

    Values are averaged into ``width`` buckets (NaN and infinities, gaps in a series, are
    left out); ``lo``/``hi`` fix the scale (0..100 for a percentage, so 40 % looks like 40 %
    whatever the neighbours), a value above ``hi`` widens it; without them the data's own
    range is used, and a flat series draws in the middle. Fewer values than ``width`` give a
    shorter line, none an empty one.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite or width <= 0:
        return ""
    n = min(width, len(finite))
    buckets = []
    for i in range(n):
        part = finite[i * len(finite) // n : (i + 1) * len(finite) // n]
        buckets.append(sum(part) / len(part))
    low = min(buckets) if lo is None else lo
    high = max(buckets) if hi is None else max(hi, max(buckets))
    if high <= low:
        return BLOCKS[len(BLOCKS) // 2] * n
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[max(0, min(top, round((v - low) / (high - low) * top)))] for v in buckets)
