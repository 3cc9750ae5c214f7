"""Text from the estate is hostile until proven otherwise.

Log lines, alarm reasons, query text, pod names: shown as plain text. This module strips
terminal control sequences (CSI, OSC — title changes, clipboard writes, hyperlinks — DCS,
and lone C0/C1 controls), removes bidi overrides and zero-width characters that can disguise
text, and truncates huge lines with a visible marker. Rich markup is never parsed: callers
build ``rich.text.Text`` objects from the result, never ``Text.from_markup``.
"""

from __future__ import annotations

import re

# ESC [ ... final byte | ESC ] ... (BEL | ESC \) | ESC P/X/^/_ ... ESC \ | ESC + one char
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]            # CSI
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)? # OSC (title, clipboard 52, hyperlink 8)
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?      # DCS, SOS, PM, APC
    | \x9b[0-?]*[ -/]*[@-~]            # 8-bit CSI
    | \x9d[^\x07\x9c]*(?:\x07|\x9c)?     # 8-bit OSC
    | \x1b.?                             # any other escape
    """,
    re.VERBOSE,
)
# C0 (but tab), DEL, C1, bidi embeddings/overrides/isolates, zero-width joiners and marks.
_CONTROLS = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f\x80-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)

MAX_LINE = 2000


def sanitize(text: str | bytes, max_len: int = MAX_LINE) -> str:
    """Return ``text`` safe to put on a terminal: one line, no control sequences."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) <= max_len and text.isprintable():
        # Everything removed below (controls, escapes, tabs, bidi and zero-width marks) is
        # unprintable to str.isprintable(): most lines take this C-speed path.
        return text
    return _clean(text, max_len)


def _clean(text: str, max_len: int) -> str:
    if len(text) > max_len * 4:
        # Bound the regex work on megabyte lines before cleaning.
        extra = len(text) - max_len * 4
        text = text[: max_len * 4]
    else:
        extra = 0
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub(" ", text).replace("\t", "    ")
    if len(text) > max_len:
        extra += len(text) - max_len
        text = text[:max_len]
    if extra:
        text += f" …[+{extra} chars]"
    return text


def one_line(text: str, width: int) -> str:
    """Sanitised and cut to ``width`` cells with an ellipsis (for table cells)."""
    text = sanitize(text, max_len=max(width, 1) * 2)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
