"""The schema: one record type per section of profiles.yaml, each key with its type and the
doc that the README's key reference shows; checked against the profile dataclasses at import.
"""

from __future__ import annotations

import dataclasses

from cockpit.config.types import (
    _Bool,
    _Checks,
    _Enum,
    _Map,
    _Num,
    _Opt,
    _Rec,
    _RecOrList,
    _RedisQueues,
    _Secret,
    _Seq,
    _Step,
    _Str,
    _StrOrRec,
)
from cockpit.config.validators import (
    _ALARM_STATES,
    _absolute_path,
    _check_action,
    _check_basic_auth,
    _check_host,
    _check_pagerduty,
    _check_profile,
    _check_share,
    _check_unit_rule,
    _dimension,
    _http_url,
    _no_space,
    _redis_key,
    _sentry_period,
    _shell_safe,
)
from cockpit.profile import (
    ActionConfig,
    ActionParamConfig,
    ActionTarget,
    AlarmFilter,
    AlertmanagerConfig,
    AwsConfig,
    DatabaseConfig,
    EcsCluster,
    HealthCheck,
    HostConfig,
    KubernetesConfig,
    LoadBalancerMetrics,
    NotifyConfig,
    PagerDutyConfig,
    Profile,
    PrometheusConfig,
    RedisConfig,
    Runbook,
    SentryConfig,
    ShareConfig,
    SqsQueue,
    Thresholds,
    UnitConfig,
)

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
_ESTATE = _Str(check=_no_space("an estate name", _shell_safe("an estate name")))
AWS = _RecOrList(
    AwsConfig,
    {
        "name": (
            _ESTATE,
            "the estate's name (estate column, `/estate:NAME`, confirmations, audit); required "
            "when aws: is a list of estates (one per account/region); default: profile, then region",
        ),
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
        "name": (_Opt(_Str(empty_ok=False, check=_no_space("an estate name", _shell_safe("an estate name")))),
                 "the estate's name; null: the context's name"),
    },
    name="kubernetes",
)
_UNIT = _Str(empty_ok=False, check=_no_space("a unit name", _shell_safe("a unit name")))
UNIT = _StrOrRec(
    UnitConfig,
    {
        "name": (_UNIT, "shown in the services pane"),
        "pidfile": (
            _Opt(_Str(empty_ok=False, check=_absolute_path("a pid file", _shell_safe("a pid file")))),
            "its pid file: running while the pid in it is alive (and has `cmdline`, if given too)",
        ),
        "cmdline": (
            _Opt(_Str(empty_ok=False)),
            "its exact full command line as `ps -o args` shows it: running while a process has it",
        ),
    },
    name="units",
    check=_check_unit_rule,
    string=_UNIT,
)
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
        "units": (
            _Seq(UNIT),
            "a string is a systemd unit (on a host without systemd its row shows `?` and asks "
            "for a rule); a mapping `{name, pidfile}` or `{name, cmdline}` is found by that "
            "rule, with or without systemd, never by a bare process name",
        ),
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
            _RedisQueues(_Str(check=_redis_key)),
            "a key of any name (list, stream, or zset of delayed jobs: its TYPE says), or "
            "list:KEY / stream:KEY to insist on the type; queue:KEY and stream:KEY read the key "
            "of that whole name where it exists; a missing key shows `? missing`; auto (alone "
            "or as an item) also finds Celery, RQ and BullMQ queues (SCAN, bounded)",
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
_TOKEN = _Secret(doc="env:NAME or file:PATH", refs_only="token")
SENTRY = _Rec(
    SentryConfig,
    {
        "name": (NAME, "shown in the alarms pane"),
        "url": (_Str(check=_http_url), "Sentry's URL (self-hosted: its base URL)"),
        "org": (NAME, "organization slug"),
        "projects": (STRS, "project slugs (default: every project of the org)"),
        "token": (_TOKEN, "auth token (event:read; event:write for resolve and ignore)"),
        "window": (
            _Str(check=_sentry_period),
            "unresolved issues first seen or regressed within it (e.g. 24h, 14d)",
        ),
        "rate_threshold": (
            _Num(doc="integer >= 1", integer=True, minimum=1),
            "events in the last hour that make any unresolved issue an alarm (a spike)",
        ),
    },
    name="sentry",
)
PAGERDUTY = _Rec(
    PagerDutyConfig,
    {
        "url": (_Str(check=_http_url), "REST API v2 URL"),
        "events_url": (_Str(check=_http_url), "Events API v2 URL (for trigger_on_incident)"),
        "token": (_TOKEN, "REST API key"),
        "services": (STRS, "service ids whose open incidents are alarms; their on-call is in the header"),
        "user_email": (_Str(), "your PagerDuty login: the From of acknowledge, resolve and notes"),
        "trigger_on_incident": (_Bool(), "`incident: start` triggers a PagerDuty incident"),
        "routing_key": (
            _Opt(_Secret(doc="env:NAME or file:PATH", refs_only="routing key")),
            "the service integration's Events API v2 key (with trigger_on_incident)",
        ),
    },
    name="pagerduty",
    check=_check_pagerduty,
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
        "steps": (_Seq(_Step()), "what to do, in order; a step ending `action: <id>` (or "
                  "`{text: ..., action: <id>}`) runs that action from the checklist: a built-in "
                  "one or one of the profile's own `actions:`"),
    },
    name="runbooks",
)
ACTION_TARGET = _Rec(
    ActionTarget,
    {
        "pane": (
            _Enum(values=("services", "hosts", "alarms", "queues", "database")),
            "the rows it is offered on (hosts: the services pane's rows of the hosts backend)",
        ),
        "backend": (
            _Opt(_Enum(values=("aws", "ecs", "sqs", "rds", "cloudwatch", "kubernetes", "host",
                               "redis", "postgres", "prometheus", "alertmanager", "health",
                               "sentry", "pagerduty"))),
            "only rows of this backend (aws: any AWS one); null: every backend of the pane",
        ),
    },
    name="actions.applies_to",
)
ACTION_PARAM = _Rec(
    ActionParamConfig,
    {
        "name": (_Str(empty_ok=False, check=_no_space("a parameter name", _shell_safe("a parameter name"))),
                 "used as `{params.NAME}` in argv"),
        "prompt": (_Str(), "what the prompt asks (and `cockpit run --param NAME=...`)"),
        "default": (_Opt(_Str()), "pre-filled value; may use `{target.FIELD}`"),
        "allow_dash": (_Bool(), "accept a value starting with `-` (refused otherwise: an option)"),
    },
    name="actions.params",
)
ACTION = _Rec(
    ActionConfig,
    {
        "id": (NAME, "dotted id, e.g. `dlq.drain` (not a built-in's); `cockpit run ID TARGET`"),
        "title": (NAME, "palette title, \"category: verb\" like the built-in ones"),
        "applies_to": (
            _Opt(ACTION_TARGET),
            "`{pane, backend}`: the rows it acts on; null: none (the palette runs it once)",
        ),
        "risk": (
            _Enum(values=("read", "change", "destructive")),
            "read runs at once; change asks y/n; destructive asks for the target's name typed",
        ),
        "params": (_Seq(ACTION_PARAM, unique="name"), "values asked before the confirmation"),
        "argv": (
            _Seq(_Str(empty_ok=False)),
            "the command, one element per word, never through a shell; placeholders fill "
            "elements: `{target.FIELD}` (a field of the row), `{params.NAME}`, `{source.url}` "
            "(the row's server URL, masked when shown), `{cockpit.scripts}` (scripts shipped "
            "with the cockpit); checked at load time",
        ),
        "on": (
            _Enum(values=("local", "host")),
            "local: on this machine (the profile's AWS endpoint and region in its environment); "
            "host: on the row's host through the hosts backend's ssh",
        ),
        "timeout": (SECONDS, "stopped (and failed) after this long"),
        "explain": (_Str(), "one line for the palette, help and explain"),
        "key": (_Opt(NAME), "a row key (footer of the rows it applies to)"),
    },
    name="actions",
    check=_check_action,
)
NOTIFY = _Rec(
    NotifyConfig,
    {
        "slack_webhook": (
            _Opt(_Secret(doc="env:NAME or file:PATH", refs_only="webhook URL")),
            "Slack incoming webhook URL (a secret: masked wherever shown); null only in a lab "
            "profile, which posts to the lab's own Slack",
        ),
        "channel_hint": (_Str(empty_ok=False), "the channel the webhook posts to (the webhook "
                         "decides; this names it in confirmations)"),
        "post_on_start": (_Bool(), "`incident: start` posts the incident's title and severity"),
        "post_on_resolve": (_Bool(), "`incident: resolve` posts the resolution and duration"),
        "min_interval": (SECONDS, "`incident: post update`/`post report` are refused until "
                         "this long after the last post"),
    },
    name="notify",
)

SHARE = _Rec(
    ShareConfig,
    {
        "url": (
            _Opt(_Secret()),
            "redis://HOST:PORT/N?stream=NAME (or rediss://) that `--share redis` and "
            "`cockpit poll` publish to; the password via env: or file:",
        ),
        "maxlen": (
            _Num(doc="integer >= 100", integer=True, minimum=100),
            "entries the stream keeps (XADD MAXLEN ~)",
        ),
        "max_age": (_Opt(SECONDS), "seconds of history kept (XTRIM MINID ~); null: by length only"),
        "snapshot_every": (SECONDS, "seconds between full state entries (where watchers start)"),
        "lease_ttl": (SECONDS, "the driver lease of `cockpit attach --drive` lapses this long after its holder"),
    },
    name="share",
    check=_check_share,
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
        "aws": (_Opt(AWS), "AWS sources: one estate, or a list of named estates (accounts, regions)"),
        "kubernetes": (_Seq(KUBERNETES, unique="estate"), "Kubernetes contexts, one estate each"),
        "hosts": (_Seq(HOST, unique="name"), "plain hosts over SSH (or this machine)"),
        "health": (_Seq(HEALTH, unique="name"), "HTTP health checks"),
        "databases": (_Seq(DATABASE, unique="name"), "PostgreSQL databases"),
        "redis": (_Seq(REDIS, unique="name"), "Redis servers"),
        "prometheus": (_Seq(PROMETHEUS, unique="name"), "Prometheus servers: down targets, PromQL"),
        "alertmanager": (_Seq(ALERTMANAGER, unique="name"), "Alertmanagers: firing alerts"),
        "sentry": (_Seq(SENTRY, unique="name"), "Sentry: new, regressed and spiking issues"),
        "pagerduty": (_Opt(PAGERDUTY), "PagerDuty: open incidents, on-call, paging"),
        "thresholds": (THRESHOLDS, "when numbers turn red"),
        "runbooks": (_Seq(RUNBOOK), "runbook entries shown next to alarms and services"),
        "record": (_Bool(), "record the event stream to $XDG_STATE_HOME/cockpit/recordings/ (as --record)"),
        "actions": (_Seq(ACTION, unique="id"), "the team's own actions (see Your own actions)"),
        "notify": (_Opt(NOTIFY), "incident updates to Slack (see Slack); null: none"),
        "share": (SHARE, "sharing on Redis Streams: retention, snapshots (see War room on Redis)"),
    },
    name="profiles.<name>",
    implicit=("name", "aws_more"),
    check=_check_profile,
)
_RECORDS = (
    ECS,
    ALARMS,
    SQS,
    AWS,
    KUBERNETES,
    HOST,
    UNIT,
    HEALTH,
    DATABASE,
    REDIS,
    PROMETHEUS,
    ALERTMANAGER,
    SENTRY,
    PAGERDUTY,
    THRESHOLDS,
    RUNBOOK,
    ACTION_TARGET,
    ACTION_PARAM,
    ACTION,
    NOTIFY,
    SHARE,
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
