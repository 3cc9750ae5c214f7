"""The fast paths for log lines give exactly what the full cleaning and level parsing give."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.backends.loglines import _KEYED, _LEVEL_WORDS, _UPPER, parse_level
from cockpit.model import LogLevel
from cockpit.text import _clean, sanitize

# Printable text, the characters sanitize removes, and the words levels are read from.
_PIECES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\x1b[31m", "\x1b]0;title\x07", "\x1b]52;c;ZXZpbA==\x07", "\t", "\x00",
                     "\x9b2J", "\u202e", "\u200b", "\ufeff", "\x7f", "é", "日本", "🚀"]),
    st.sampled_from(["ERROR", "ERR:", "WARN", "warning", "[INFO]", "level=error", '"level": "warn"',
                     "lvl=debug", "severity: fatal", "TRACE", "CRITICAL", "error", "Level = Info"]),
)
LINES = st.lists(_PIECES, max_size=12).map(" ".join)


def reference_level(text: str) -> LogLevel:
    m = _UPPER.search(text)
    if m:
        return _LEVEL_WORDS[m.group(1)]
    m = _KEYED.search(text)
    if m:
        return _LEVEL_WORDS.get(m.group(1).upper(), LogLevel.INFO)
    return LogLevel.INFO


@settings(max_examples=400, deadline=None)
@given(LINES)
def test_level_with_hints_equals_the_full_parse(text):
    assert parse_level(text) == reference_level(text)


@settings(max_examples=400, deadline=None)
@given(LINES, st.sampled_from([5, 40, 2000]))
def test_the_fast_path_cleans_exactly_as_the_full_one(text, max_len):
    assert sanitize(text, max_len) == _clean(text, max_len)
