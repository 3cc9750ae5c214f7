"""Reading log lines, whatever follows them: the level a line says, a stream's short label,
and the CloudWatch filter pattern of what a user types after ``/``."""

from __future__ import annotations

import re

from cockpit.model import LogLevel

_LEVEL_WORDS = {
    "ERROR": LogLevel.ERROR,
    "ERR": LogLevel.ERROR,
    "FATAL": LogLevel.ERROR,
    "CRITICAL": LogLevel.ERROR,
    "CRIT": LogLevel.ERROR,
    "WARN": LogLevel.WARN,
    "WARNING": LogLevel.WARN,
    "INFO": LogLevel.INFO,
    "DEBUG": LogLevel.DEBUG,
    "TRACE": LogLevel.DEBUG,
}
# Upper-case tokens ("ERROR ...", "[WARN]") first; then key/value styles in any case
# ("level=error", '"level": "warning"'). A lower-case "error" inside prose is not a level.
_UPPER = re.compile(r"\b(ERROR|ERR|FATAL|CRITICAL|CRIT|WARNING|WARN|INFO|DEBUG|TRACE)\b")
_KEYED = re.compile(r"""\b(?:level|lvl|severity)"?\s*[=:]\s*"?([A-Za-z]+)""", re.IGNORECASE)


# Substrings without which the patterns cannot match: a few `in` tests are ~5x cheaper than a
# regex scan, and most lines have neither (a 50,000 lines/s flood spent 10 % of a core here).
_UPPER_HINTS = ("ERR", "FATAL", "CRIT", "WARN", "INFO", "DEBUG", "TRACE")
_KEYED_HINTS = ("level", "lvl", "severity")


def parse_level(text: str) -> LogLevel:
    if any(h in text for h in _UPPER_HINTS):
        m = _UPPER.search(text)
        if m:
            return _LEVEL_WORDS[m.group(1)]
    lowered = text.lower()
    if any(h in lowered for h in _KEYED_HINTS):
        m = _KEYED.search(text)
        if m:
            return _LEVEL_WORDS.get(m.group(1).upper(), LogLevel.INFO)
    return LogLevel.INFO


def source_label(group: str, stream: str) -> str:
    """``/ecs/api`` + ``ecs/api/1a2b3c4d...`` -> ``api/1a2b3c``.

    ECS streams are ``prefix/container/task-id``: the container and the start of the task
    id tell the on-call which task spoke, in the 16 columns the log pane gives a source.
    """
    tail = group.rstrip("/").rsplit("/", 1)[-1] or group
    parts = [p for p in stream.split("/") if p]
    if len(parts) >= 3:
        return f"{parts[-2][:9]}/{parts[-1][:6]}"
    if len(parts) >= 2:
        short = f"{parts[0]}-{parts[-1][:4]}"
    else:
        short = stream[:16]
    return f"{tail}/{short}"


# What starts a CloudWatch filter pattern rather than plain words: a JSON or space-delimited
# selector, the OR of terms (``?ERROR ?WARN``), or a quoted term.
_PATTERN_START = ("{", "[", "?", '"')


def cloudwatch_pattern(text: str | None) -> str | None:
    """The user's ``/`` filter as a CloudWatch Logs filter pattern; None: filter locally.

    Plain words become one quoted term (``db timeout`` -> ``"db timeout"``), which matches
    the words as written, next to each other, like the pane's substring filter (but, as in
    CloudWatch, case-sensitively). Text that already reads as a pattern is passed as is.
    Plain text with a double quote in it has no faithful quoted form: it stays local.
    """
    if text is None or not text.strip():
        return None
    t = text.strip()
    if t.startswith(_PATTERN_START):
        return t
    if '"' in t:
        return None
    return f'"{t}"'
