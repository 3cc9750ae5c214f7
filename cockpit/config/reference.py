"""The key reference table of the README, generated from the schema.
"""

from __future__ import annotations

import dataclasses

from cockpit.config.schema import _TOP_KEYS, PROFILE
from cockpit.config.types import _Checks, _Map, _Opt, _Rec, _Seq

# ---------------------------------------------------------------- reference


def _default_text(rec: _Rec, key: str) -> str:
    f = next(f for f in dataclasses.fields(rec.cls) if f.name == key)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return "required"
    if f.default_factory is not dataclasses.MISSING:
        typ = rec.keys[key][0]
        return "see below" if isinstance(typ, _Rec) else "`{}`" if isinstance(typ, _Map) else "`[]`"
    value = f.default
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        if isinstance(rec.keys[key][0], _Checks):
            return "`{}`"
        return f"`[{', '.join(value)}]`" if value else "`[]`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _rows(rec: _Rec, prefix: str) -> list[str]:
    rows = []
    for key, (typ, doc) in rec.keys.items():
        here = f"{prefix}.{key}"
        inner = typ.inner if isinstance(typ, _Opt) else typ
        rows.append(f"| `{here}` | {typ.doc} | {_default_text(rec, key)} | {doc} |")
        if isinstance(inner, _Rec):
            rows += _rows(inner, here)
        elif isinstance(inner, _Seq) and isinstance(inner.item, _Rec):
            rows += _rows(inner.item, f"{here}[]")
    return rows


def schema_reference() -> str:
    """A Markdown table of every profiles.yaml key, its type, default and meaning."""
    head = [
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        f"| `default` | string | the first profile | {_TOP_KEYS['default'][1]} |",
        "| `profiles` | mapping | required | profile name -> profile |",
    ]
    return "\n".join(head + _rows(PROFILE, "profiles.<name>")) + "\n"
