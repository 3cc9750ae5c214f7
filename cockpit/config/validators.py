"""Checks of single values that the types call: shell-safe words, URLs, Redis keys,
passwords in DSNs, hosts and basic auth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cockpit.config.nodes import _Walk

_ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
# These values end up inside commands run by a remote shell (ssh joins argv with spaces).
_SHELL_META = set(";|&$`<>'\"\n\r\0\\")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CHECK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# A check's words are quoted one by one for the remote shell, so globs, ~ and substitutions
# would not do what they seem to: refused like cockpit.backends.ssh refuses them at run time.
_CHECK_META = _SHELL_META | set("*?[]{}()~#!")
_PASSWORD_MSG = "a literal password in a DSN is not allowed: use env:NAME or file:PATH"

# ---------------------------------------------------------------- checks


def _shell_safe(what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        bad = sorted(set(value) & _SHELL_META)
        if bad:
            shown = " ".join(repr(c) for c in bad)
            return f"{what} must not contain shell metacharacters, found {shown} (it reaches a remote shell)"
        if value.startswith("-"):
            return f"{what} must not start with '-' (it would be read as an option)"
        return None

    return check


def _no_space(what: str, inner: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        problem = inner(value)
        if problem is None and any(c.isspace() for c in value):
            return f"{what} must not contain spaces"
        return problem

    return check


def _http_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return f"expected an http:// or https:// URL, got {value!r}"
    return None


def _dimension(prefix: str, what: str) -> Callable[[str], str | None]:
    shape = re.compile(rf"{prefix}/[A-Za-z0-9-]+/[0-9a-f]+\Z")

    def check(value: str) -> str | None:
        if value and not shape.match(value):
            return (
                f"expected the {what} dimension {prefix}/<name>/<id> (the end of its ARN), "
                f"got {value!r}"
            )
        return None

    return check


def _redis_key(value: str) -> str | None:
    # Any key name is a queue (its TYPE is read at run time); the prefixes only insist on a
    # type, so they need a key after them.
    if value == "auto":
        return None
    kind, sep, key = value.partition(":")
    if not value or (sep and kind in ("list", "stream", "queue") and not key):
        return f"expected a key, list:KEY, stream:KEY or auto, got {value!r}"
    if any(not c.isprintable() for c in value):
        return f"a queue key must be printable text, got {value!r}"
    return None


def _has_password(value: str) -> bool:
    """True when a URL or libpq keyword DSN carries a password in clear."""
    if re.search(r"(^|\s)password\s*=\s*\S", value):
        return True
    try:
        parts = urlsplit(value)
        if parts.password:
            return True
        return any(k.lower() == "password" and v for k, v in parse_qsl(parts.query))
    except ValueError:  # e.g. a malformed port or IPv6 literal: not a URL we can judge
        return "@" in value and ":" in value.split("@", 1)[0].split("//", 1)[-1]


def _check_basic_auth(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    if (values.get("username") is None) != (values.get("password") is None):
        w.fail(line, where, "basic auth needs both username and password")
    if values.get("token") is not None and values.get("username") is not None:
        w.fail(line, where, "give either token or username/password, not both")


def _check_host(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    ssh, local = values.get("ssh"), values.get("local", False)
    if ssh is not None and local:
        w.fail(line, where, "give either ssh or local: true, not both")
    if ssh is None and not local:
        w.fail(line, where, "missing required key 'ssh' (or local: true for this machine)")


def _absolute_path(what: str, inner: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        problem = inner(value)
        if problem is None and not value.startswith("/"):
            return f"{what} must be an absolute path (it is read on the host, from no set directory)"
        if problem is None and any(ord(c) < 32 for c in value):
            return f"{what} must not contain control characters"
        return problem

    return check


def _check_unit_rule(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    if values.get("pidfile") is None and values.get("cmdline") is None:
        w.fail(
            line,
            where,
            "a unit given as a mapping needs pidfile or cmdline (how to find its process)",
            "for a systemd unit, give its name as a plain string",
        )
