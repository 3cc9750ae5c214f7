"""profiles.yaml -> typed, validated ``Config`` (errors name the file, the line and the key).

The YAML is composed into nodes (never constructed wholesale) so every key and value keeps its
line, then walked with a small declarative schema: one table per record type mapping each key
to ``(type, doc)``. Whether a key is required and what its default is come from the dataclass
in ``cockpit.profile`` itself, so the schema and the records cannot drift apart; an
import-time check makes sure every schema key is a dataclass field and vice versa.

Every problem is a ``ConfigError`` whose message reads ``PATH:LINE: key.path: what is wrong``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cockpit.errors import ConfigError
from cockpit.profile import (
    AlarmFilter,
    AlertmanagerConfig,
    AwsConfig,
    Config,
    DatabaseConfig,
    EcsCluster,
    HealthCheck,
    HostConfig,
    KubernetesConfig,
    LoadBalancerMetrics,
    Profile,
    PrometheusConfig,
    RedisConfig,
    Runbook,
    SecretRef,
    SqsQueue,
    Thresholds,
)

__all__ = ["BUNDLED", "find_config_path", "load_config", "load_text", "schema_reference"]

BUNDLED = Path(__file__).with_name("profiles.yaml")

# A real profiles.yaml has a few hundred nodes; aliases can make a small file expand into
# billions of them when walked, so the walk stops long before that costs noticeable time.
MAX_NODES = 100_000

_TAG = "tag:yaml.org,2002:"
_KIND = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null",
    "timestamp": "a date",
    "binary": "binary data",
}
_ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
# These values end up inside commands run by a remote shell (ssh joins argv with spaces).
_SHELL_META = set(";|&$`<>'\"\n\r\0\\")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CHECK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# A check's words are quoted one by one for the remote shell, so globs, ~ and substitutions
# would not do what they seem to: refused like cockpit.backends.ssh refuses them at run time.
_CHECK_META = _SHELL_META | set("*?[]{}()~#!")
_PASSWORD_MSG = "a literal password in a DSN is not allowed: use env:NAME or file:PATH"


# ---------------------------------------------------------------- walking context and errors


class _Walk:
    """State of one load: the file's name for messages and the node budget."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.nodes = 0
        self.scalars = SafeConstructor()

    def fail(self, line: int, where: str, msg: str, hint: str = "") -> NoReturn:
        prefix = f"{self.path}:{line}: "
        # from None: the user needs the message and the hint, never a chained parser error.
        raise ConfigError(prefix + (f"{where}: {msg}" if where else msg), hint) from None

    def scalar(self, node: ScalarNode, line: int, where: str) -> Any:
        """The value of a bool/int/float scalar; explicit tags (!!int "x") can make it invalid."""
        try:
            return self.scalars.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, yaml.YAMLError):
            self.fail(line, where, f"{node.value!r} is not a valid {node.tag.removeprefix(_TAG)}")

    def count(self, node: Node, line: int, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(
                line,
                where,
                f"too many values (over {MAX_NODES:,} after expanding aliases)",
                "aliases that refer to aliases multiply: write the values out",
            )


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag.removeprefix(_TAG)
    return _KIND.get(tag, f"a value tagged {node.tag}")


def _is(node: Node, tag: str) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + tag


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _pairs(
    node: MappingNode, w: _Walk, where: str, _merging: tuple[Node, ...] = ()
) -> list[tuple[str, int, Node]]:
    """(key, key line, value node) in document order; merge keys (<<) applied; no duplicates."""
    explicit: dict[str, int] = {}
    own: list[tuple[str, int, Node]] = []
    merged: list[tuple[str, int, Node]] = []
    for knode, vnode in node.value:
        if knode.tag == _TAG + "merge":
            sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
            for src in sources:
                w.count(src, _line(knode), where)
                if not isinstance(src, MappingNode):
                    w.fail(_line(knode), where, f"<< expects a mapping to merge, got {_kind(src)}")
                if src is node or src in _merging:  # an anchor merged into itself
                    w.fail(_line(knode), where, "<< merges a mapping into itself")
                merged.extend(_pairs(src, w, where, (*_merging, node)))
            continue
        w.count(knode, _line(knode), where)
        if not _is(knode, "str"):
            w.fail(_line(knode), where, f"keys must be strings, got {_kind(knode)}")
        key = knode.value
        if key in explicit:
            w.fail(
                _line(knode),
                _join(where, key),
                f"duplicate key {key!r} (first at line {explicit[key]})",
                "remove one of them",
            )
        explicit[key] = _line(knode)
        own.append((key, _line(knode), vnode))
    # Explicit keys override merged ones; among merged mappings the first one wins (YAML spec).
    seen = set(explicit)
    for key, line, vnode in merged:
        if key not in seen:
            seen.add(key)
            own.append((key, line, vnode))
    return own


# ---------------------------------------------------------------- value types


class _Type:
    """One kind of value: converts a node (or fails with the key path) and documents itself."""

    doc = "value"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> Any:
        raise NotImplementedError

    def expected(self, node: Node, w: _Walk, where: str, line: int, what: str) -> NoReturn:
        hint = ""
        if what == "a string" and isinstance(node, ScalarNode):
            hint = "quote the value to make it a string"
        w.fail(line, where, f"expected {what}, got {_kind(node)}", hint)


@dataclass(frozen=True)
class _Str(_Type):
    doc: str = "string"
    empty_ok: bool = True
    check: Callable[[str], str | None] | None = None  # returns a problem, or None

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> str:
        if not _is(node, "str"):
            self.expected(node, w, where, line, "a string")
        value: str = node.value
        if not value and not self.empty_ok:
            w.fail(line, where, "must not be empty")
        if self.check is not None and (problem := self.check(value)):
            w.fail(line, where, problem)
        return value


@dataclass(frozen=True)
class _Bool(_Type):
    doc: str = "boolean"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> bool:
        if not _is(node, "bool"):
            self.expected(node, w, where, line, "a boolean (true or false)")
        return bool(w.scalar(node, line, where))


@dataclass(frozen=True)
class _Num(_Type):
    doc: str = "number"
    integer: bool = False
    positive: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> float | int:
        if _is(node, "int"):
            value: float | int = w.scalar(node, line, where)
        elif _is(node, "float") and not self.integer:
            value = w.scalar(node, line, where)
            if not math.isfinite(value):
                w.fail(line, where, f"expected a finite number, got {node.value}")
        else:
            self.expected(node, w, where, line, "an integer" if self.integer else "a number")
        if self.positive and value <= 0:
            w.fail(line, where, f"must be greater than 0, got {node.value}")
        if self.minimum is not None and value < self.minimum:
            w.fail(line, where, f"must be at least {self.minimum:g}, got {node.value}")
        if self.maximum is not None and value > self.maximum:
            w.fail(line, where, f"must be at most {self.maximum:g}, got {node.value}")
        if self.integer:
            return int(value)
        try:
            return float(value)
        except OverflowError:
            w.fail(line, where, "number too large")


@dataclass(frozen=True)
class _Enum(_Type):
    values: tuple[str, ...] = ()

    @property
    def doc(self) -> str:  # type: ignore[override]
        return " / ".join(self.values)

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> str:
        value = _Str().convert(node, w, where, line)
        if value not in self.values:
            w.fail(line, where, f"expected one of {', '.join(self.values)}, got {value!r}")
        return value


@dataclass(frozen=True)
class _Secret(_Type):
    doc: str = "env:NAME, file:PATH, or a URL/DSN without a password"
    refs_only: str = ""  # e.g. "token": a secret in itself, so never a literal

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> SecretRef:
        value = _Str(empty_ok=False).convert(node, w, where, line)
        if value.startswith("env:"):
            if not _ENV_NAME.match(value[4:]):
                w.fail(line, where, f"env: needs a variable name, got {value[4:]!r}")
        elif value.startswith("file:"):
            if not value[5:]:
                w.fail(line, where, "file: needs a path")
        elif self.refs_only:
            w.fail(
                line,
                where,
                f"a literal {self.refs_only} is not allowed: use env:NAME or file:PATH",
                "keep it in an environment variable (env:NAME) or a file only you can read",
            )
        elif _has_password(value):
            w.fail(
                line,
                where,
                _PASSWORD_MSG,
                "keep it in an environment variable (env:NAME) or a file only you can read",
            )
        return SecretRef(value)


@dataclass(frozen=True)
class _Map(_Type):
    """A mapping of names to string values (e.g. metric name -> PromQL)."""

    value: _Type = dataclasses.field(default_factory=_Str)
    doc: str = "mapping of name -> string"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping")
        out: dict[str, Any] = {}
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if not _ENV_NAME.match(key):  # also a column / series name: keep it simple
                w.fail(kline, here, f"expected a name of letters, digits and _, got {key!r}")
            w.count(vnode, kline, here)
            out[key] = self.value.convert(vnode, w, here, kline)
        return out


@dataclass(frozen=True)
class _Checks(_Type):
    """check name -> command line, split with ``shlex.split`` into a validated argv."""

    doc: str = "mapping of name -> command"

    def convert(
        self, node: Node, w: _Walk, where: str, line: int
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping of check name -> command")
        out: list[tuple[str, tuple[str, ...]]] = []
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if not _CHECK_NAME.match(key):
                w.fail(kline, here, f"expected a name of letters, digits and _ . -, got {key!r}")
            w.count(vnode, kline, here)
            command = _Str(empty_ok=False).convert(vnode, w, here, kline)
            try:
                argv = tuple(shlex.split(command))
            except ValueError as e:
                w.fail(kline, here, f"cannot split the command into words: {e}")
            if not argv:
                w.fail(kline, here, "must not be empty")
            for i, word in enumerate(argv):
                bad = sorted(set(word) & _CHECK_META)
                if bad:
                    shown = " ".join(repr(c) for c in bad)
                    w.fail(
                        kline,
                        here,
                        f"a check command must not contain shell metacharacters, found {shown} "
                        "(it reaches a remote shell)",
                        "give one plain command; for pipes or globs, install a script on the host "
                        "and name that",
                    )
                if i == 0 and word.startswith("-"):
                    w.fail(kline, here, "a check command must not start with '-'")
            out.append((key, argv))
        return tuple(out)


@dataclass(frozen=True)
class _Opt(_Type):
    """The inner type, or null (for fields whose default is None)."""

    inner: _Type = dataclasses.field(default_factory=_Str)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{self.inner.doc} or null"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> Any:
        if _is(node, "null"):
            return None
        return self.inner.convert(node, w, where, line)


@dataclass(frozen=True)
class _Seq(_Type):
    item: _Type = dataclasses.field(default_factory=_Str)
    unique: str | None = None  # records: this field must differ between items

    @property
    def doc(self) -> str:  # type: ignore[override]
        if isinstance(self.item, _Rec):
            return "list of mappings"
        return (
            f"list of {self.item.doc}s"
            if " " not in self.item.doc
            else f"list of ({self.item.doc})"
        )

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> tuple[Any, ...]:
        if not isinstance(node, SequenceNode):
            self.expected(node, w, where, line, "a list")
        out = []
        seen: dict[Any, int] = {}
        for i, item in enumerate(node.value):
            w.count(item, line, where)
            here = f"{where}[{i}]"
            value = self.item.convert(item, w, here, _line(item))
            if self.unique is not None:
                key = getattr(value, self.unique)
                if key in seen:
                    w.fail(
                        _line(item),
                        f"{here}.{self.unique}",
                        f"{key!r} is used twice (first at line {seen[key]})",
                        "names must be unique within a list",
                    )
                seen[key] = _line(item)
            out.append(value)
        return tuple(out)


@dataclass(frozen=True)
class _Rec(_Type):
    """A mapping that becomes a dataclass; keys -> (type, doc)."""

    cls: type = object
    keys: Mapping[str, tuple[_Type, str]] = dataclasses.field(default_factory=dict)
    name: str = ""  # the section it documents, e.g. "hosts"
    check: Callable[[dict[str, Any], _Walk, str, int], None] | None = None
    implicit: tuple[str, ...] = ()  # dataclass fields filled by the caller, not the file

    @property
    def doc(self) -> str:  # type: ignore[override]
        return "mapping"

    def required(self) -> list[str]:
        return [
            f.name
            for f in dataclasses.fields(self.cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in self.implicit
        ]

    def convert(self, node: Node, w: _Walk, where: str, line: int, **implicit: Any) -> Any:
        if not isinstance(node, MappingNode):
            self.expected(node, w, where, line, "a mapping")
        values: dict[str, Any] = {}
        for key, kline, vnode in _pairs(node, w, where):
            here = _join(where, key)
            if key not in self.keys:
                close = difflib.get_close_matches(key, list(self.keys), n=1)
                w.fail(
                    kline,
                    here,
                    f"unknown key {key!r} (expected one of: {', '.join(self.keys)})",
                    f"did you mean {close[0]!r}?" if close else "",
                )
            w.count(vnode, kline, here)
            values[key] = self.keys[key][0].convert(vnode, w, here, kline)
        for key in self.required():
            if key not in values:
                w.fail(_line(node), where, f"missing required key {key!r}")
        if self.check is not None:
            self.check(values, w, where, _line(node))
        return self.cls(**values, **implicit)


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
    if value == "auto":
        return None
    kind, _, key = value.partition(":")
    if kind not in ("queue", "stream") or not key:
        return f"expected queue:KEY (a list), stream:KEY or auto, got {value!r}"
    return None


@dataclass(frozen=True)
class _RedisQueues(_Seq):
    """A list of queue keys, or the word ``auto`` alone (kept as the one-item list)."""

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"auto or {super().doc}"

    def convert(self, node: Node, w: _Walk, where: str, line: int) -> tuple[Any, ...]:
        if _is(node, "str") and node.value == "auto":
            return ("auto",)
        return super().convert(node, w, where, line)


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


# ---------------------------------------------------------------- the schema

NAME = _Str(doc="string", empty_ok=False)
STRS = _Seq(NAME)
SECONDS = _Num(doc="seconds > 0", positive=True)

LOAD_BALANCER = _Rec(
    LoadBalancerMetrics,
    {
        "service": (NAME, "the ECS service behind the load balancer"),
        "load_balancer": (
            _Str(empty_ok=False, check=_dimension("app", "LoadBalancer")),
            "its Application Load Balancer, `app/<name>/<id>`",
        ),
        "target_group": (
            _Str(check=_dimension("targetgroup", "TargetGroup")),
            "the service's target group, `targetgroup/<name>/<id>` (default: the whole ALB)",
        ),
    },
    name="load_balancers",
)
ECS = _Rec(
    EcsCluster,
    {
        "cluster": (NAME, "ECS cluster name or ARN"),
        "services": (STRS, "only these services (default: all in the cluster; in a cluster of more than 300, each refresh reads the services that are not settled and the settled ones in turn, each at least every 30 s)"),
        "log_groups": (STRS, "CloudWatch Logs groups to follow"),
        "load_balancers": (
            _Seq(LOAD_BALANCER, unique="service"),
            "ALB per service: 5xx error rate and p95 latency beside CPU and memory",
        ),
    },
    name="ecs",
)
ALARMS = _Rec(
    AlarmFilter,
    {
        "prefix": (_Str(), "only alarms whose name starts with this"),
        "states": (_Seq(_Enum(values=_ALARM_STATES)), "alarm states to show"),
    },
    name="alarms",
)
SQS = _Rec(
    SqsQueue,
    {
        "queue": (NAME, "queue name or URL"),
        "dlq": (_Str(), "its dead-letter queue (default: found through the RedrivePolicy)"),
    },
    name="sqs",
)
AWS = _Rec(
    AwsConfig,
    {
        "profile": (_Opt(NAME), "named AWS profile (SSO works); null: the default chain"),
        "region": (_Opt(NAME), "AWS region; null: the profile's region"),
        "endpoint_url": (_Opt(_Str(check=_http_url)), "e.g. a LocalStack or moto endpoint"),
        "ecs": (_Seq(ECS, unique="cluster"), "ECS clusters to watch"),
        "alarms": (_Opt(ALARMS), "CloudWatch alarms filter; null: no alarms pane source"),
        "sqs": (_Seq(SQS, unique="queue"), "SQS queues (and their dead-letter queues)"),
        "rds": (STRS, "RDS instance identifiers"),
        "stacks": (
            STRS,
            "CloudFormation stacks to alarm on when stuck: names, or `prefix*` for a prefix",
        ),
        "stack_stuck_minutes": (
            _Num(doc="minutes > 0", positive=True),
            "a stack in `*_IN_PROGRESS` longer than this raises an alarm",
        ),
    },
    name="aws",
)
KUBERNETES = _Rec(
    KubernetesConfig,
    {
        "context": (_Opt(NAME), "kubeconfig context; null: the current context"),
        "namespaces": (STRS, "namespaces to watch (default: the context's namespace)"),
        "kubeconfig": (_Opt(NAME), "kubeconfig file; null: $KUBECONFIG, then ~/.kube/config"),
    },
    name="kubernetes",
)
_UNIT = _Str(empty_ok=False, check=_no_space("a unit name", _shell_safe("a unit name")))
HOST = _Rec(
    HostConfig,
    {
        "name": (NAME, "shown in the panes and the audit"),
        "ssh": (
            _Opt(
                _Str(empty_ok=False, check=_no_space("an ssh target", _shell_safe("an ssh target")))
            ),
            "anything `ssh` accepts (a ~/.ssh/config alias, user@host); exclusive with local",
        ),
        "local": (_Bool(), "true: this machine, no ssh"),
        "units": (_Seq(_UNIT), "systemd units"),
        "journal": (_Seq(_UNIT), "journald units to follow"),
        "logs": (
            _Seq(_Str(empty_ok=False, check=_shell_safe("a log path"))),
            "files to follow (tail -F)",
        ),
        "sudo": (_Bool(), "run systemctl/journalctl/tail through sudo"),
        "checks": (
            _Checks(),
            "name -> command for `host: run check` (e.g. `disk: \"df -h /\"`): read-only, "
            "run as written (no sudo), words split like a shell, no pipes, globs or $",
        ),
    },
    name="hosts",
    check=_check_host,
)
HEALTH = _Rec(
    HealthCheck,
    {
        "name": (NAME, "shown in the alarms pane"),
        "url": (_Str(check=_http_url), "URL to GET"),
        "expect_status": (
            _Num(doc="integer", integer=True, minimum=100, maximum=599),
            "HTTP status that means healthy",
        ),
        "timeout": (SECONDS, "request timeout"),
    },
    name="health",
)
DATABASE = _Rec(
    DatabaseConfig,
    {
        "name": (NAME, "shown in the database pane"),
        "dsn": (_Secret(), "PostgreSQL DSN; passwords via env:, file: or ~/.pgpass"),
    },
    name="databases",
)
REDIS = _Rec(
    RedisConfig,
    {
        "name": (NAME, "shown in the queues pane"),
        "url": (_Secret(), "redis:// URL; passwords via env: or file:"),
        "queues": (
            _RedisQueues(_Str(empty_ok=False, check=_redis_key)),
            "queue:KEY (a list) or stream:KEY; auto (alone or as an item) also finds Celery, "
            "RQ and BullMQ queues (SCAN, bounded)",
        ),
        "allow_flushall": (
            _Bool(),
            "offer `cache: flush all` (FLUSHALL: every db of the server, not only FLUSHDB)",
        ),
    },
    name="redis",
)
_HTTP_AUTH = {
    "token": (
        _Opt(_Secret(doc="env:NAME or file:PATH", refs_only="token")),
        "bearer token reference",
    ),
    "username": (_Opt(NAME), "basic auth user (with password)"),
    "password": (
        _Opt(_Secret(doc="env:NAME or file:PATH", refs_only="password")),
        "basic auth password reference",
    ),
    "ca_file": (_Opt(NAME), "CA bundle that signs the server's certificate"),
    "verify": (_Bool(), "verify TLS certificates (false only for a lab)"),
}
PROMETHEUS = _Rec(
    PrometheusConfig,
    {
        "name": (NAME, "shown in the alarms pane"),
        "url": (_Secret(), "Prometheus base URL, or env:NAME"),
        "metrics": (
            _Map(_Str(empty_ok=False)),
            "name -> PromQL, evaluated each refresh; error_rate, cpu, memory, disk "
            "(0-1 ratios) and p95_ms are checked against thresholds",
        ),
        **_HTTP_AUTH,
    },
    name="prometheus",
    check=_check_basic_auth,
)
ALERTMANAGER = _Rec(
    AlertmanagerConfig,
    {
        "name": (NAME, "shown in the alarms pane"),
        "url": (_Secret(), "Alertmanager base URL, or env:NAME"),
        **_HTTP_AUTH,
    },
    name="alertmanager",
    check=_check_basic_auth,
)
_LIMIT = _Num(doc="number >= 0", minimum=0)
THRESHOLDS = _Rec(
    Thresholds,
    {
        "cpu": (_LIMIT, "CPU % that turns a service red"),
        "memory": (_LIMIT, "memory % that turns a service red"),
        "disk": (_LIMIT, "disk % that turns a host red"),
        "error_rate": (_LIMIT, "error rate % that turns a service red"),
        "p95_ms": (_LIMIT, "p95 latency in milliseconds"),
        "queue_depth": (_Num(doc="integer >= 0", integer=True, minimum=0), "messages waiting"),
        "connections": (
            _Num(doc="number 0-1", minimum=0, maximum=1),
            "fraction of max_connections in use",
        ),
        "hold": (
            _Num(doc="seconds >= 0", minimum=0),
            "how long a host, Prometheus or health-check condition must hold before its "
            "alarm fires, and be gone before it clears (like Prometheus `for:`); "
            "0: fire and clear on each refresh. `cockpit check` reports what it measures",
        ),
    },
    name="thresholds",
)
RUNBOOK = _Rec(
    Runbook,
    {
        "match": (NAME, "glob on an alarm or service name"),
        "title": (NAME, "shown in the runbook view"),
        "url": (_Str(), "link to the full runbook"),
        "steps": (_Seq(_Str()), "what to do, in order"),
    },
    name="runbooks",
)
PROFILE = _Rec(
    Profile,
    {
        "description": (_Str(), "one line shown in the profile picker"),
        "lab": (_Bool(), "the embedded lab estate (started by the cockpit)"),
        "production": (_Bool(), "typed confirmations for every change, danger banner"),
        "read_only": (_Bool(), "refuse every action that changes something"),
        "refresh": (SECONDS, "how often each source is refreshed"),
        "timeout": (SECONDS, "how long one refresh may take"),
        "audit_log": (_Opt(NAME), "audit file; null: $XDG_STATE_HOME/cockpit/audit.jsonl"),
        "theme": (_Opt(NAME), "Textual theme name"),
        "aws": (_Opt(AWS), "AWS sources"),
        "kubernetes": (_Seq(KUBERNETES), "Kubernetes contexts"),
        "hosts": (_Seq(HOST, unique="name"), "plain hosts over SSH (or this machine)"),
        "health": (_Seq(HEALTH, unique="name"), "HTTP health checks"),
        "databases": (_Seq(DATABASE, unique="name"), "PostgreSQL databases"),
        "redis": (_Seq(REDIS, unique="name"), "Redis servers"),
        "prometheus": (_Seq(PROMETHEUS, unique="name"), "Prometheus servers: down targets, PromQL"),
        "alertmanager": (_Seq(ALERTMANAGER, unique="name"), "Alertmanagers: firing alerts"),
        "thresholds": (THRESHOLDS, "when numbers turn red"),
        "runbooks": (_Seq(RUNBOOK), "runbook entries shown next to alarms and services"),
        "record": (_Bool(), "record the event stream to $XDG_STATE_HOME/cockpit/recordings/ (as --record)"),
    },
    name="profiles.<name>",
    implicit=("name",),
)
_RECORDS = (
    ECS,
    ALARMS,
    SQS,
    AWS,
    KUBERNETES,
    HOST,
    HEALTH,
    DATABASE,
    REDIS,
    PROMETHEUS,
    ALERTMANAGER,
    THRESHOLDS,
    RUNBOOK,
    PROFILE,
)
_TOP_KEYS = {
    "default": (NAME, "profile used without --profile (default: the first one)"),
    "profiles": (None, "profile name -> profile"),
}


def _check_schema() -> None:
    for rec in _RECORDS:
        fields = {f.name for f in dataclasses.fields(rec.cls)} - set(rec.implicit)
        if fields != set(rec.keys):
            raise AssertionError(
                f"schema for {rec.cls.__name__} out of step: {fields ^ set(rec.keys)}"
            )


_check_schema()


# ---------------------------------------------------------------- loading


def load_text(text: str, path: Path) -> Config:
    """Parse and validate profiles.yaml text; ``path`` is only used in messages and ``Config``."""
    w = _Walk(path)
    try:
        return _load(text, w)
    except RecursionError:  # a chain of thousands of << merges; the schema itself is shallow
        w.fail(1, "", "invalid YAML: nested too deeply")


def _load(text: str, w: _Walk) -> Config:
    path = w.path
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        hint = ""
        if e.context and e.context_mark is not None and e.problem:
            hint = f"{e.context} that starts at line {e.context_mark.line + 1}"
        problem = e.problem or e.context
        if e.context and e.problem and e.problem.startswith("but "):  # half a sentence alone
            problem, hint = f"{e.context}, {e.problem}", ""
        w.fail(line, "", f"invalid YAML: {problem}", hint)
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1 if isinstance(e.position, int) else 1
        w.fail(line, "", f"invalid YAML: {e.reason} (character {e.character!r})")
    except yaml.YAMLError as e:
        w.fail(1, "", f"invalid YAML: {e}")
    except RecursionError:
        w.fail(1, "", "invalid YAML: nested too deeply")
    if root is None:
        w.fail(1, "", "the file is empty: expected a mapping with 'profiles'")
    if not isinstance(root, MappingNode):
        w.fail(_line(root), "", f"expected a mapping with 'profiles' at the top, got {_kind(root)}")

    default: tuple[str, int] | None = None
    profiles: dict[str, Profile] = {}
    profiles_line = 0
    for key, kline, vnode in _pairs(root, w, ""):
        if key == "default":
            default = (NAME.convert(vnode, w, key, kline), kline)
        elif key == "profiles":
            profiles_line = kline
            if not isinstance(vnode, MappingNode):
                PROFILE.expected(vnode, w, key, kline, "a mapping of profile name -> profile")
            for name, pline, pnode in _pairs(vnode, w, key):
                here = _join(key, name)
                if not name:
                    w.fail(pline, key, "a profile name must not be empty")
                w.count(pnode, pline, here)
                profiles[name] = PROFILE.convert(pnode, w, here, pline, name=name)
        else:
            close = difflib.get_close_matches(key, list(_TOP_KEYS), n=1)
            w.fail(
                kline,
                key,
                f"unknown key {key!r} (expected one of: {', '.join(_TOP_KEYS)})",
                f"did you mean {close[0]!r}?" if close else "",
            )
    if not profiles_line:
        w.fail(_line(root), "", "missing required key 'profiles'")
    if not profiles:
        w.fail(profiles_line, "profiles", "no profiles defined", "add at least one profile")
    if default is None:
        return Config(path=path, default=next(iter(profiles)), profiles=profiles)
    if default[0] not in profiles:
        known = ", ".join(profiles)
        w.fail(default[1], "default", f"unknown profile {default[0]!r} (known: {known})")
    return Config(path=path, default=default[0], profiles=profiles)


def load_config(path: Path) -> Config:
    """Read and validate ``path``; every problem is a ConfigError naming file, line and key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}", "check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text", "save the file as UTF-8") from None
    return load_text(text, path)


def find_config_path(
    cli_path: str | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Path:
    """The profiles.yaml to use: --config, $COCKPIT_CONFIG, ./profiles.yaml,
    $XDG_CONFIG_HOME/cockpit/profiles.yaml (default ~/.config), then the bundled lab file.

    A path the user named explicitly (--config or $COCKPIT_CONFIG) must exist: falling
    through to another file would silently show a different estate.
    """
    for given, origin in (
        (cli_path, "--config"),
        (environ.get("COCKPIT_CONFIG"), "$COCKPIT_CONFIG"),
    ):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                raise ConfigError(
                    f"{p}: no such file (from {origin})",
                    "check the path, or leave it out to use the defaults",
                )
            return p
    here = (cwd if cwd is not None else Path.cwd()) / "profiles.yaml"
    if here.is_file():
        return here
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg:
        base = Path(xdg)
    else:
        home = environ.get("HOME")
        base = (Path(home) if home else Path.home()) / ".config"
    user = base / "cockpit" / "profiles.yaml"
    if user.is_file():
        return user
    return BUNDLED


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
