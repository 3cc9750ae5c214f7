"""Checks of single values that the types call: shell-safe words, URLs, Redis keys,
passwords in DSNs, hosts and basic auth.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cockpit.config.nodes import _join, _Walk

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


def _sentry_period(value: str) -> str | None:
    if not re.fullmatch(r"[1-9][0-9]*[mhdw]", value):
        return f"expected a period like 24h or 14d (a number and m, h, d or w), got {value!r}"
    return None


def _check_pagerduty(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    if values.get("trigger_on_incident") and values.get("routing_key") is None:
        w.fail(line, where, "trigger_on_incident needs routing_key",
               "the Events API v2 integration key of the service to page (env:NAME or file:PATH)")
    email = values.get("user_email", "")
    if email and "@" not in email:
        w.fail(line, where + ".user_email", f"expected an email address, got {email!r}")


def _check_notify(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    notify = values.get("notify")
    if notify is not None and notify.slack_webhook is None and not values.get("lab"):
        w.fail(line, _join(where, "notify"), "missing required key 'slack_webhook'",
               "slack_webhook: env:SLACK_WEBHOOK (only a lab profile may leave it out)")


def _check_host(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    ssh, local = values.get("ssh"), values.get("local", False)
    if ssh is not None and local:
        w.fail(line, where, "give either ssh or local: true, not both")
    if ssh is None and not local:
        w.fail(line, where, "missing required key 'ssh' (or local: true for this machine)")


def _split_aws_estates(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    """``aws:`` given as a list: the first estate stays ``aws``, the others go to ``aws_more``."""
    aws = values.get("aws")
    if isinstance(aws, tuple):
        values["aws"], values["aws_more"] = aws[0], aws[1:]


def _check_share(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    url = values.get("url")
    if url is not None and not str(url).startswith(("env:", "file:", "redis://", "rediss://")):
        w.fail(line, f"{where}.url", f"expected a redis:// or rediss:// URL, got {str(url)!r}")
    every, age = values.get("snapshot_every", 30.0), values.get("max_age", 3600.0)
    if age is not None and every >= age:
        w.fail(line, where, f"snapshot_every ({every:g} s) must be shorter than max_age ({age:g} s)",
               "else the time trim removes the last full state and late watchers start empty")


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


_ACTION_ID = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+\Z")
# Keys every pane (or the cockpit) already binds: a row key must not shadow them.
_PANE_KEYS = frozenset("dehmqwz")
_KEY = re.compile(r"[a-z0-9]\Z|(ctrl\+)?[a-z0-9]\Z|f[0-9]{1,2}\Z")


def _check_action(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    """An action's id, title, row key and templates: every placeholder must be known."""
    from cockpit.custom_actions import PANES, template_problems
    from cockpit.registry import REGISTRY

    action_id = values["id"]
    if not _ACTION_ID.match(action_id):
        w.fail(line, f"{where}.id", f"expected a dotted id like dlq.drain, got {action_id!r}")
    if any(spec.id == action_id for spec in REGISTRY):
        w.fail(line, f"{where}.id", f"{action_id!r} is a built-in action", "choose another id")
    if ": " not in values["title"]:
        w.fail(line, f"{where}.title", "expected \"category: verb\", like the built-in actions")
    key = values.get("key")
    if key is not None and not _KEY.match(key):
        w.fail(line, f"{where}.key", f"expected one key (a letter, digit, ctrl+x or f1-f12), got {key!r}")
    target = values.get("applies_to")
    record_type = PANES[target.pane] if target is not None else None
    if key is not None and record_type is not None:
        taken = {s.key: s.title for s in REGISTRY if s.key and s.target_type in (record_type, object)}
        taken.update(dict.fromkeys(_PANE_KEYS, "a cockpit key"))
        if key in taken:
            w.fail(line, f"{where}.key", f"{key!r} is taken on these rows ({taken[key]})",
                   "choose another key")
    if key is not None and target is None:
        w.fail(line, f"{where}.key", "a row key needs applies_to (the rows it acts on)")
    if values.get("on", "local") == "host" and not (
        target is not None and (target.pane == "hosts" or (target.pane == "services" and target.backend == "host"))
    ):
        w.fail(line, f"{where}.on", "on: host runs on the row's host: it needs applies_to "
               "{pane: hosts} (or {pane: services, backend: host})")
    params = values.get("params", ())
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        w.fail(line, f"{where}.params", "parameter names must be unique")
    argv = values["argv"]
    if not argv:
        w.fail(line, f"{where}.argv", "must not be empty")
    if argv[0].startswith("-"):
        w.fail(line, f"{where}.argv", "the command must not start with '-'")
    for i, word in enumerate(argv):
        for problem in template_problems(word, record_type, set(names)):
            w.fail(line, f"{where}.argv[{i}]", problem)
    for p in params:
        if p.default is not None:
            for problem in template_problems(p.default, record_type, set()):
                w.fail(line, f"{where}.params.{p.name}.default", problem)


def _check_profile(values: dict[str, Any], w: _Walk, where: str, line: int) -> None:
    """Runbook steps name a built-in action or one of this profile's own (``actions:``);
    ``notify:`` names its webhook outside the lab."""
    _split_aws_estates(values, w, where, line)
    _check_notify(values, w, where, line)

    pending, w.step_actions = w.step_actions, []
    own = [a.id for a in values.get("actions", ())]
    for step_line, step_where, action in pending:
        if action not in own:
            # The whole action registry, imported only for a step to check: not before every first frame.
            from cockpit.registry import REGISTRY

            close = difflib.get_close_matches(action, [*own, *(s.id for s in REGISTRY)], n=1)
            w.fail(step_line, step_where, f"unknown action {action!r}",
                   f"did you mean {close[0]!r}?" if close else
                   "a built-in action id such as service.restart, or an id from this profile's actions:")
