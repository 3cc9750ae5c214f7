"""profiles.yaml -> typed, validated ``Config`` (errors name the file, the line and the key).

The YAML is composed into nodes (never constructed wholesale) so every key and value keeps its
line, then walked with a small declarative schema: one table per record type mapping each key
to ``(type, doc)``. Whether a key is required and what its default is come from the dataclass
in ``cockpit.profile`` itself, so the schema and the records cannot drift apart; an
import-time check makes sure every schema key is a dataclass field and vice versa.

Every problem is a ``ConfigError`` whose message reads ``PATH:LINE: key.path: what is wrong``.

The package's rooms: ``nodes`` (the walk and its errors), ``types`` (value types),
``validators`` (checks of single values), ``schema`` (the record tables), ``loader`` (finding
and loading the file), ``reference`` (the README's key table).
"""

from __future__ import annotations

from cockpit.config import schema  # noqa: F401 (the import-time schema check runs)
from cockpit.config.loader import BUNDLED, find_config_path, load_config, load_text
from cockpit.config.reference import schema_reference
from cockpit.config.schema import (  # noqa: F401 (re-exported: tests walk the record tables)
    _RECORDS,
    ALARMS,
    AWS,
    DATABASE,
    ECS,
    HEALTH,
    HOST,
    KUBERNETES,
    PROFILE,
    REDIS,
    RUNBOOK,
    SQS,
    THRESHOLDS,
)

__all__ = ["BUNDLED", "find_config_path", "load_config", "load_text", "schema_reference"]
