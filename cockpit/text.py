"""Text from the estate is hostile until proven otherwise: the one boundary that makes it safe.

Log lines, alarm reasons, alert and key names, message bodies, query text, command output:
every string a backend puts in a record passes through here (records inherit ``EstateText``,
whose ``__post_init__`` cleans their string fields, so no backend can forget). What comes out
is plain text a terminal cannot act on: control characters become visible placeholders
(ESC is ``␛``, NUL ``␀``, DEL ``␡``), C1 controls, bidi overrides and isolates, zero-width
characters and lone surrogates become ``�``, and huge text is cut with a visible marker.
Colour and cursor sequences (CSI) in free text — a program's coloured output — are dropped;
in names they stay visible, so a cleaned name never equals another real name an action
could then hit. Rich markup is never parsed: callers build ``Text``/``Content`` from the
result, never ``Text.from_markup``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

# 7-bit CSI (ESC [ params final): SGR colours, cursor moves, clears.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")

REPLACEMENT = "\ufffd"
# C0 controls show as their Control Pictures (U+2400 + code: ␀ … ␛ … ␟), DEL as ␡.
_NAME_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20)}
_NAME_TABLE[0x7F] = "\u2421"
for _c in range(0x80, 0xA0):  # C1: 8-bit CSI, OSC, DCS, ST ...
    _NAME_TABLE[_c] = REPLACEMENT
for _c in (0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F),
           *range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF):
    _NAME_TABLE[_c] = REPLACEMENT  # bidi marks, overrides, isolates; zero-width characters
for _c in range(0xD800, 0xE000):  # lone surrogates (surrogateescape'd bytes) cannot be encoded
    _NAME_TABLE[_c] = REPLACEMENT
_NAME_TABLE[0x2028] = _NAME_TABLE[0x2029] = " "
# Free text on one line: whitespace controls are whitespace.
_LINE_TABLE = dict(_NAME_TABLE)
_LINE_TABLE.update({0x09: "    ", 0x0A: " ", 0x0B: " ", 0x0C: " ", 0x0D: " "})

MAX_LINE = 2000  # one line of free text (a log line, a reason)
MAX_NAME = 2000  # a name, a key, a label
MAX_TEXT = 16_000  # free text kept in a record (a query, an event): the screens cut further
MAX_BLOCK = 16_000  # a multi-line notice (an action's output)


def _cap(text: str, max_len: int, extra: int = 0) -> str:
    """``text`` cut to at most ``max_len`` characters, marker included, when it is longer."""
    if len(text) <= max_len and not extra:
        return text
    total = len(text) + extra
    keep = max(max_len - len(f" …[+{total} chars]"), 0)
    return text[:keep] + f" …[+{total - keep} chars]"


def _prepare(text: str | bytes, max_len: int) -> tuple[str, int]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > max_len * 4:
        # Bound the work on megabyte strings before cleaning.
        return text[: max_len * 4], len(text) - max_len * 4
    return text, 0


def sanitize(text: str | bytes, max_len: int = MAX_LINE) -> str:
    """Free text made safe for a terminal, on one line (colour sequences dropped)."""
    if isinstance(text, str) and len(text) <= max_len and text.isprintable():
        # Everything replaced below is unprintable to str.isprintable(): most text takes
        # this C-speed path.
        return text
    return _clean(text, max_len)


def _clean(text: str | bytes, max_len: int) -> str:
    text, extra = _prepare(text, max_len)
    if "\x1b" in text:
        text = _CSI.sub("", text)
    return _cap(text.translate(_LINE_TABLE), max_len, extra)


def sanitize_name(text: str | bytes, max_len: int = MAX_NAME) -> str:
    """A name (alert, key, queue, pod) made safe: every control shown, nothing dropped."""
    if isinstance(text, str) and len(text) <= max_len and text.isprintable():
        return text
    text, extra = _prepare(text, max_len)
    return _cap(text.translate(_NAME_TABLE), max_len, extra)


def sanitize_block(text: str | bytes, max_len: int = MAX_BLOCK, line_len: int = MAX_LINE) -> str:
    """Multi-line free text (a notice, a check's output): each line as ``sanitize``."""
    if isinstance(text, str) and len(text) <= max_len and text.isprintable():
        return text
    text, extra = _prepare(text, max_len)
    lines = text.replace("\r\n", "\n").split("\n")
    return _cap("\n".join(sanitize(line, line_len) for line in lines), max_len, extra)


def one_line(text: str, width: int) -> str:
    """Sanitised and cut to ``width`` cells with an ellipsis (for table cells)."""
    text = sanitize(text, max_len=max(width, 1) * 2)
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


# --- records --------------------------------------------------------------------------------

_NAME, _TEXT, _BLOCK = 0, 1, 2


_NUMBERS = (float, int)


def _numeric(value: tuple[Any, ...]) -> bool:
    # A series of numbers (a sparkline's values): nothing to clean, nothing worth walking.
    return type(value[0]) in _NUMBERS and type(value[-1]) in _NUMBERS


def _clean_value(value: Any, how: int) -> Any:
    if type(value) is str:
        if how == _NAME:
            return sanitize_name(value)
        if how == _TEXT:
            return sanitize(value, MAX_TEXT)
        return sanitize_block(value)
    if type(value) is tuple and value and not _numeric(value):
        # Nested text (events, rows, detail pairs).
        return tuple([_clean_value(v, how) for v in value])
    return value


def _tuple_is_safe(value: tuple[Any, ...]) -> bool:
    """Every string in ``value`` (two levels deep inline: events, rows) already safe?

    Checked before anything is copied: a refresh of 2,000 services with 20 events each
    rebuilds no tuple when nothing needs cleaning.
    """
    if _numeric(value):
        return True
    for x in value:
        tx = type(x)
        if tx is str:
            if not (len(x) <= MAX_NAME and x.isprintable()):
                return False
        elif tx is tuple and x:
            for y in x:
                ty = type(y)
                if ty is str:
                    if not (len(y) <= MAX_NAME and y.isprintable()):
                        return False
                elif ty is tuple and y and not _tuple_is_safe(y):
                    return False
    return True


class EstateText:
    """Mixin for frozen record dataclasses: their string fields hold only safe text.

    Every ``str`` field (and strings nested in ``tuple`` fields) is cleaned as a name unless
    the class lists it in ``_free_text`` (one line, colour dropped) or ``_blocks`` (keeps
    newlines). The plain-ASCII case costs an ``isprintable()`` per field.
    """

    __slots__ = ()
    _free_text: ClassVar[tuple[str, ...]] = ()
    _blocks: ClassVar[tuple[str, ...]] = ()
    _trusted: ClassVar[tuple[str, ...]] = ()  # the cockpit's own text (ids it made up)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each class compiles its own on first use, a subclass of a compiled class too.
        cls.__post_init__ = EstateText.__post_init__  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        # The first record of a class compiles that class's own __post_init__ (one check per
        # field, no loop, no lookups: the log path builds one record per line).
        cls = type(self)
        fn = _compile(cls)
        cls.__post_init__ = fn  # type: ignore[method-assign]
        fn(self)


def _compile(cls: type) -> Any:
    import dataclasses

    lines = ["def __post_init__(self):", "    d = self.__dict__"]
    for f in dataclasses.fields(cls):
        ann = f.type if isinstance(f.type, str) else repr(f.type)
        has_str, has_tuple = "str" in ann or "Any" in ann, "tuple" in ann or "Any" in ann
        if not (has_str or has_tuple) or f.name in cls._trusted:  # type: ignore[attr-defined]
            continue  # numbers, times, enums, nested records (clean in their own right)
        how = _BLOCK if f.name in cls._blocks else _TEXT if f.name in cls._free_text else _NAME  # type: ignore[attr-defined]
        name = repr(f.name)
        lines.append(f"    v = d[{name}]")
        if how == _BLOCK:
            lines.append(f"    if type(v) is str or type(v) is tuple: _set(self, {name}, _clean(v, {how}))")
            continue
        lines.append(f"    if type(v) is str:\n        if not (len(v) <= {MAX_NAME} and v.isprintable()): "
                     f"_set(self, {name}, _clean(v, {how}))")
        if has_tuple:
            lines.append(f"    elif type(v) is tuple and v and not _safe(v): _set(self, {name}, _clean(v, {how}))")
    if len(lines) == 2:
        lines.append("    pass")
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_clean": _clean_value, "_safe": _tuple_is_safe}
    exec("\n".join(lines), namespace)  # noqa: S102 - built from the class's own field names
    return namespace["__post_init__"]
