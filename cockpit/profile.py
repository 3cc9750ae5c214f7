"""Typed, validated profile records (what ``cockpit.config`` builds from profiles.yaml).

Every field has a default matching the documented contract, so a test or the lab can build
a ``Profile`` in code. Secrets are never stored here in clear: a ``SecretRef`` keeps the
reference (``env:NAME`` / ``file:PATH``) and resolves it only when a backend connects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cockpit.errors import ConfigError


@dataclass(frozen=True)
class SecretRef:
    """``env:NAME`` or ``file:PATH``, or a literal that holds no secret (a plain URL)."""

    ref: str

    def resolve(self) -> str:
        if self.ref.startswith("env:"):
            name = self.ref[4:]
            value = os.environ.get(name)
            if value is None:
                raise ConfigError(
                    f"environment variable {name} is not set", f"export {name}=... and retry"
                )
            return value
        if self.ref.startswith("file:"):
            from cockpit.secretfile import read_secret_file

            return read_secret_file(self.ref[5:])  # regular files only, 64 KB, with a timeout
        return self.ref

    def __str__(self) -> str:  # never the resolved value
        return self.ref


@dataclass(frozen=True)
class LoadBalancerMetrics:
    """The ALB in front of an ECS service: its error rate and p95 latency join CPU/memory."""

    service: str
    load_balancer: str  # the LoadBalancer dimension: app/<name>/<id>
    target_group: str = ""  # the TargetGroup dimension: targetgroup/<name>/<id>; "": whole ALB


@dataclass(frozen=True)
class EcsCluster:
    cluster: str
    services: tuple[str, ...] = ()  # empty: all
    log_groups: tuple[str, ...] = ()
    load_balancers: tuple[LoadBalancerMetrics, ...] = ()


@dataclass(frozen=True)
class AlarmFilter:
    prefix: str = ""
    states: tuple[str, ...] = ("ALARM", "INSUFFICIENT_DATA")


@dataclass(frozen=True)
class SqsQueue:
    queue: str
    dlq: str = ""  # empty: found through the RedrivePolicy


@dataclass(frozen=True)
class AwsConfig:
    """One AWS estate: an account (its profile) in a region. ``aws:`` is one, or a list."""

    name: str = ""  # the estate's name; required in a list, default: profile, then region
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    ecs: tuple[EcsCluster, ...] = ()
    alarms: AlarmFilter | None = None
    sqs: tuple[SqsQueue, ...] = ()
    rds: tuple[str, ...] = ()
    # CloudFormation stacks watched for being stuck: names, or "prefix*" for a name prefix
    stacks: tuple[str, ...] = ()
    stack_stuck_minutes: float = 30

    @property
    def estate(self) -> str:
        """The name its rows, confirmations and audit lines carry."""
        return self.name or self.profile or self.region or "aws"


@dataclass(frozen=True)
class KubernetesConfig:
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    kubeconfig: str | None = None  # default: $KUBECONFIG, then ~/.kube/config
    name: str | None = None  # the estate's name; default: the context's

    @property
    def estate(self) -> str:
        return self.name or self.context or "current-context"


@dataclass(frozen=True)
class UnitConfig:
    """A service found by a rule instead of systemd: the pid in ``pidfile`` (alive, and with
    ``cmdline`` too when both are given), or every process whose command line is ``cmdline``."""

    name: str
    pidfile: str | None = None
    cmdline: str | None = None


@dataclass(frozen=True)
class HostConfig:
    name: str
    ssh: str | None = None
    local: bool = False
    # A string is a systemd unit; a UnitConfig is found by its pid file or command line.
    units: tuple[str | UnitConfig, ...] = ()
    journal: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    sudo: bool = False
    # name -> argv (split with shlex at load time), run by ``host: run check``
    checks: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class HealthCheck:
    name: str
    url: str
    expect_status: int = 200
    timeout: float = 3.0


@dataclass(frozen=True)
class DatabaseConfig:
    name: str
    dsn: SecretRef


@dataclass(frozen=True)
class RedisConfig:
    name: str
    url: SecretRef
    # "queue:default" (a list) or "stream:events"; "auto" (``queues: auto``) also detects
    # Celery, RQ and BullMQ queues on the server.
    queues: tuple[str, ...] = ()
    allow_flushall: bool = False  # offer FLUSHALL (every db of the server), not only FLUSHDB

    @property
    def auto_queues(self) -> bool:
        return "auto" in self.queues

    @property
    def queue_keys(self) -> tuple[str, ...]:
        """The configured keys, without the ``auto`` marker."""
        return tuple(q for q in self.queues if q != "auto")


@dataclass(frozen=True)
class PrometheusConfig:
    name: str
    url: SecretRef
    # metric name -> PromQL; a name that is also a ``Thresholds`` field raises threshold alarms
    metrics: dict[str, str] = field(default_factory=dict, hash=False)
    token: SecretRef | None = None  # bearer token, env: or file: only
    username: str | None = None  # basic auth, with ``password``
    password: SecretRef | None = None
    ca_file: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class AlertmanagerConfig:
    name: str
    url: SecretRef
    token: SecretRef | None = None
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class SentryConfig:
    """Sentry (sentry.io or self-hosted): unresolved issues of ``projects`` as alarms."""

    name: str
    org: str
    token: SecretRef  # an auth token with event:read (event:write to resolve/ignore)
    url: str = "https://sentry.io"
    projects: tuple[str, ...] = ()  # project slugs; empty: every project of the org
    window: str = "24h"  # issues first seen or regressed within it (Sentry's statsPeriod)
    rate_threshold: int = 100  # events in the last hour that make an issue a spike


@dataclass(frozen=True)
class PagerDutyConfig:
    """PagerDuty: open incidents on ``services`` as alarms, who is on call, and paging."""

    token: SecretRef  # a REST API key (v2)
    services: tuple[str, ...] = ()  # service ids (PXXXXXX)
    user_email: str = ""  # the From: of acknowledge / resolve / notes
    url: str = "https://api.pagerduty.com"
    events_url: str = "https://events.pagerduty.com"
    trigger_on_incident: bool = False  # `incident: start` triggers an incident (Events API v2)
    routing_key: SecretRef | None = None  # the service integration's key, for triggering


@dataclass(frozen=True)
class Thresholds:
    cpu: float = 80
    memory: float = 85
    disk: float = 80
    error_rate: float = 0.5
    p95_ms: float = 2000
    queue_depth: int = 1000
    connections: float = 0.75
    # Seconds a threshold condition the cockpit computes (hosts, Prometheus, health) must
    # hold before its alarm fires, and be gone before it clears (cockpit/damping.py).
    hold: float = 60


class RunbookStep(str):
    """A checklist step: its text, and the id of the action that does it (``""``: none).

    A ``str`` so a step is its text wherever text is wanted (the audit's note, a test's
    ``==``); ``action`` makes the detail screen run the step through the ActionRunner."""

    action: str

    def __new__(cls, text: str, action: str = "") -> RunbookStep:
        step = super().__new__(cls, text)
        step.action = action
        return step

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunbookStep, (str(self), self.action))


@dataclass(frozen=True)
class Runbook:
    match: str
    title: str
    url: str = ""
    steps: tuple[RunbookStep, ...] = ()


@dataclass(frozen=True)
class ActionTarget:
    """Which rows a profile-defined action is offered on: a pane, and optionally a backend."""

    pane: str  # services | alarms | queues | database | hosts
    backend: str | None = None  # the rows' backend column (aws, sqs, redis, host, ...)


@dataclass(frozen=True)
class ActionParamConfig:
    name: str
    prompt: str = ""
    default: str | None = None  # a template like the argv's: "{target.name}.jsonl"
    allow_dash: bool = False  # a value may start with '-' (else refused: it reads as an option)


@dataclass(frozen=True)
class ActionConfig:
    """A team's own action (profile key actions:): an argv template run without a shell."""

    id: str
    title: str
    risk: str  # read | change | destructive
    argv: tuple[str, ...]
    applies_to: ActionTarget | None = None  # None: no row, the profile itself
    params: tuple[ActionParamConfig, ...] = ()
    on: str = "local"  # local | host (the row's host, through the hosts backend's transport)
    timeout: float = 60.0
    explain: str = ""
    key: str | None = None  # a row key, shown in the footer of the rows it applies to


@dataclass(frozen=True)
class NotifyConfig:
    """Where incident updates go (profile key notify:): a Slack incoming webhook."""

    slack_webhook: SecretRef | None = None  # env:/file: only; None: the lab's own (lab profiles)
    channel_hint: str = "#incidents"  # the webhook picks the channel; this only names it
    post_on_start: bool = False
    post_on_resolve: bool = False
    min_interval: float = 10.0  # seconds between two posts a person sends


@dataclass(frozen=True)
class ShareConfig:
    """Sharing on Redis Streams (``--share redis://…``): retention and snapshot cadence."""

    url: SecretRef | None = None  # redis://HOST:PORT/N?stream=NAME used by `--share redis` alone
    maxlen: int = 10000  # XADD MAXLEN ~ N: entries kept
    max_age: float | None = 3600.0  # XTRIM MINID ~ now - max_age; None: by length only
    snapshot_every: float = 30.0  # a full state entry, so watchers start without the history
    lease_ttl: float = 15.0  # the driver lease (`attach --drive`) expires this long after its holder


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    lab: bool = False
    production: bool = False
    read_only: bool = False
    refresh: float = 5.0
    timeout: float = 10.0
    audit_log: str | None = None  # default $XDG_STATE_HOME/cockpit/audit.jsonl
    theme: str | None = None
    aws: AwsConfig | None = None
    kubernetes: tuple[KubernetesConfig, ...] = ()
    hosts: tuple[HostConfig, ...] = ()
    health: tuple[HealthCheck, ...] = ()
    databases: tuple[DatabaseConfig, ...] = ()
    redis: tuple[RedisConfig, ...] = ()
    prometheus: tuple[PrometheusConfig, ...] = ()
    alertmanager: tuple[AlertmanagerConfig, ...] = ()
    sentry: tuple[SentryConfig, ...] = ()
    pagerduty: PagerDutyConfig | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    runbooks: tuple[Runbook, ...] = ()
    record: bool = False  # record the event stream (as --record) to the state dir
    share: ShareConfig = field(default_factory=ShareConfig)
    actions: tuple[ActionConfig, ...] = ()
    notify: NotifyConfig | None = None
    # ``aws:`` as a list: the estates after the first (which is ``aws``, so code that knows
    # one estate keeps working); ``aws_estates`` is all of them.
    aws_more: tuple[AwsConfig, ...] = ()

    @property
    def aws_estates(self) -> tuple[AwsConfig, ...]:
        return ((self.aws,) if self.aws is not None else ()) + self.aws_more

    @property
    def several_estates(self) -> bool:
        """More than one AWS estate or Kubernetes context: rows then show their estate."""
        return len(self.aws_estates) > 1 or len(self.kubernetes) > 1


@dataclass(frozen=True)
class Config:
    path: Path  # the file the profiles came from
    default: str
    profiles: dict[str, Profile]

    def get(self, name: str | None) -> Profile:
        name = name or self.default
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise ConfigError(
                f"{self.path}: unknown profile {name!r}", f"known profiles: {known}"
            ) from None
