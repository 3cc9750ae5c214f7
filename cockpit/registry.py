"""The built-in actions: what each is called, the capability it needs, its risk, its
parameters and their defaults, the CLI command it equals and the call that does it.

``REGISTRY`` feeds the palette, the row key bindings, help and explain; every action runs
through ``cockpit.actions.ActionRunner``, which enforces the safety model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from cockpit.actions import ActionSpec, Param, Risk, offered
from cockpit.backends import base as caps
from cockpit.backends.base import (
    CacheFlushable,
    Cordonable,
    PodDeletable,
    Purgeable,
    QueryCancellable,
    Restartable,
    RollbackCapable,
    Scalable,
    SessionTerminable,
    Silenceable,
    SilenceExpirable,
    Snapshottable,
)
from cockpit.dbmodel import Session
from cockpit.integrations.slack import SlackChannel, SlackPostable, slack_escape
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus
from cockpit.shell import SHELL_OPEN


def snapshot_id_for(db_name: str, now: datetime | None = None) -> str:
    """``cockpit-<db>-<UTC yyyymmddHHMMSS>``, made valid as an RDS snapshot identifier."""
    now = now or datetime.now(UTC)
    # RDS ids: letters, digits, single hyphens, first a letter, no trailing hyphen.
    safe = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", db_name)).strip("-") or "db"
    return f"cockpit-{safe}-{now.astimezone(UTC):%Y%m%d%H%M%S}"


def _snapshot_prepare(backend: Any, target: DatabaseSnapshot, params: dict[str, Any]) -> dict[str, Any]:
    return {"snapshot_id": snapshot_id_for(target.name)}


SERVICE_RESTART = ActionSpec(
    id="service.restart",
    title="service: restart",
    target_type=ServiceStatus,
    capability=Restartable,
    risk=Risk.CHANGE,
    key="r",
    description="Replace every task of the service with a fresh one (a rolling restart).",
    argv=lambda b, t, p: b.restart_command(t),
    call=lambda b, t, p: b.restart(t),
)

SERVICE_SCALE = ActionSpec(
    id="service.scale",
    title="service: scale",
    target_type=ServiceStatus,
    capability=Scalable,
    risk=Risk.CHANGE,
    key="s",
    description="Set the service's desired count of tasks / replicas.",
    params=(Param("desired", "desired count", int, lambda b, s: s.desired, minimum=0, maximum=1000),),
    argv=lambda b, t, p: b.scale_command(t, p["desired"]),
    call=lambda b, t, p: b.scale(t, p["desired"]),
)

SERVICE_ROLLBACK = ActionSpec(
    id="service.rollback",
    title="service: roll back",
    target_type=ServiceStatus,
    capability=RollbackCapable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Return the service to its previous revision (task definition / ReplicaSet / ControllerRevision).",
    argv=lambda b, t, p: b.rollback_command(t),
    call=lambda b, t, p: b.rollback(t),
    prepare=lambda b, t, p: _revision_change(b, t, None),
    unavailable=lambda b, t: _no_previous_revision(b, t),
)


HELM_ROLLBACK = ActionSpec(
    id="helm.rollback",
    title="helm: rollback",
    target_type=ServiceStatus,
    capability=caps.HelmRollbackable,
    risk=Risk.DESTRUCTIVE,  # as service: roll back
    key=None,
    description="Roll the helm release that installed the workload back to its previous revision "
    "(helm rollback RELEASE REVISION -n NAMESPACE, run with your own helm).",
    argv=lambda b, t, p: b.helm_rollback_command(t, p["release"], p["revision"]),
    call=lambda b, t, p: b.helm_rollback(t, p["release"], p["revision"]),
    # The release and "3 → 2" (chart, app version): shown, audited, and what the argv uses.
    prepare=lambda b, t, p: b.helm_rollback_change(t),
    unavailable=lambda b, t: b.helm_rollback_unavailable(t),
)


def _dlq_size(backend: Any, target: QueueStatus) -> str:
    depth = target.dlq_depth
    dlq = target.dlq_name or target.name
    if depth is None:
        return f"every message in {dlq} (how many is not read yet)"
    return f"{depth} message{'' if depth == 1 else 's'} in {dlq}"


def _empty_dlq(backend: Any, target: QueueStatus) -> str | None:
    if target.dlq_depth == 0:
        return f"{target.dlq_name or target.name} holds 0 messages: nothing to purge"
    return None

QUEUE_PURGE_DLQ = ActionSpec(
    id="queue.purge_dlq",
    title="queue: purge dead letters",
    target_type=QueueStatus,
    capability=Purgeable,
    risk=Risk.DESTRUCTIVE,
    key="P",
    description="Delete every message in the queue's dead-letter queue. They cannot be recovered.",
    argv=lambda b, t, p: b.purge_dlq_command(t),
    call=lambda b, t, p: b.purge_dlq(t),
    unavailable=_empty_dlq,
    destroys=_dlq_size,
)

DATABASE_SNAPSHOT = ActionSpec(
    id="database.snapshot",
    title="database: snapshot",
    target_type=DatabaseSnapshot,
    capability=Snapshottable,
    risk=Risk.CHANGE,
    key="S",
    description="Take a manual snapshot of the database instance (id cockpit-<db>-<UTC time>).",
    argv=lambda b, t, p: b.snapshot_command(t, p["snapshot_id"]),
    call=lambda b, t, p: b.snapshot(t, p["snapshot_id"]),
    prepare=_snapshot_prepare,
)


def _latest_revision(backend: Any, target: ServiceStatus) -> int:
    if isinstance(backend, caps.RevisionDeployable):
        return backend.latest_revision(target)
    return int(target.task_definition.rpartition(":")[2] or 1) if target.task_definition else 1


def _revision_change(backend: Any, target: ServiceStatus, to: str | None) -> dict[str, Any]:
    # from -> to revision and image, shown as parameters in the confirmation and audited.
    if isinstance(backend, caps.RevisionDescribed):
        return dict(backend.revision_change(target, to))
    return {}


def _no_previous_revision(backend: Any, target: ServiceStatus) -> str | None:
    # A "from" without a "to": the backend knows there is nothing to return to. Nothing at
    # all: it does not know yet (caches still filling), and the run itself will say.
    if isinstance(backend, caps.RevisionDescribed):
        change = backend.revision_change(target, None)
        if change.get("from") and not change.get("to"):
            return f"{target.name} has no previous revision to roll back to"
    return None


def _deploy_prepare(backend: Any, target: ServiceStatus, params: dict[str, Any]) -> dict[str, Any]:
    family = target.task_definition.rpartition(":")[0]
    return _revision_change(backend, target, f"{family}:{params['revision']}" if family else None)


SERVICE_DEPLOY_REVISION = ActionSpec(
    id="service.deploy_revision",
    title="service: deploy revision",
    target_type=ServiceStatus,
    capability=caps.RevisionDeployable,
    risk=Risk.CHANGE,
    key=None,
    description="Deploy a registered revision of the service's task definition family "
    "(prefilled with the latest registered).",
    params=(Param("revision", "revision", int, _latest_revision, minimum=1),),
    argv=lambda b, t, p: b.deploy_revision_command(t, p["revision"]),
    call=lambda b, t, p: b.deploy_revision(t, p["revision"]),
    prepare=_deploy_prepare,
)

QUEUE_PEEK_DLQ = ActionSpec(
    id="queue.peek_dlq",
    title="queue: peek dead letters",
    target_type=QueueStatus,
    capability=caps.DeadLetterPeekable,
    risk=Risk.READ,
    key=None,
    description="Show up to 10 messages of the dead-letter queue. A peek is a receive: it "
    "raises each message's receive count.",
    argv=lambda b, t, p: b.peek_dlq_command(t),
    call=lambda b, t, p: b.peek_dlq(t),
)

QUEUE_REDRIVE_DLQ = ActionSpec(
    id="queue.redrive_dlq",
    title="queue: redrive dead letters",
    target_type=QueueStatus,
    capability=caps.DeadLetterRedrivable,
    risk=Risk.CHANGE,
    key=None,
    description="Move every message of the dead-letter queue back to its queue "
    "(each copied before it is deleted).",
    argv=lambda b, t, p: b.redrive_dlq_command(t),
    call=lambda b, t, p: b.redrive_dlq(t),
)

ALERT_SILENCE = ActionSpec(
    id="alert.silence",
    title="alert: silence",
    target_type=Alarm,
    capability=Silenceable,
    risk=Risk.CHANGE,
    key=None,
    description="Silence the alert in Alertmanager (matchers: the labels its alerts share; "
    "author: your OS user).",
    params=(
        Param("duration", "duration (e.g. 30m, 1h, 2d)", str, lambda b, a: "1h"),
        Param("comment", "comment (why, and for whom)", str),
    ),
    argv=lambda b, t, p: b.silence_command(t, p["duration"], p["comment"]),
    call=lambda b, t, p: b.silence(t, p["duration"], p["comment"]),
)

ALERT_EXPIRE_SILENCE = ActionSpec(
    id="alert.expire_silence",
    title="alert: expire silence",
    target_type=Alarm,
    capability=SilenceExpirable,
    risk=Risk.CHANGE,
    key=None,
    description="End the Alertmanager silences that mute the alert now.",
    argv=lambda b, t, p: b.expire_silence_command(t),
    call=lambda b, t, p: b.expire_silence(t),
)

DATABASE_CANCEL_QUERY = ActionSpec(
    id="database.cancel_query",
    title="database: cancel query",
    target_type=Session,
    capability=QueryCancellable,
    risk=Risk.CHANGE,
    key="c",
    description="Cancel the query the session is running (pg_cancel_backend); the session "
    "and its transaction stay.",
    argv=lambda b, t, p: b.cancel_backend_command(t),
    call=lambda b, t, p: b.cancel_backend(t),
)

DATABASE_TERMINATE_SESSION = ActionSpec(
    id="database.terminate_session",
    title="database: terminate session",
    target_type=Session,
    capability=SessionTerminable,
    risk=Risk.DESTRUCTIVE,
    key="K",
    description="End the session (pg_terminate_backend): its transaction rolls back and "
    "the sessions it blocks can proceed.",
    argv=lambda b, t, p: b.terminate_backend_command(t),
    call=lambda b, t, p: b.terminate_backend(t),
)

def _keys_in_db(target: DatabaseSnapshot) -> tuple[str, str] | None:
    # The Redis source reads DBSIZE of its database into the row's detail ("keys in db0").
    return next(((label, value) for label, value in target.detail if label.startswith("keys in db")), None)


def _flush_size(backend: Any, target: DatabaseSnapshot) -> str:
    found = _keys_in_db(target)
    return f"{found[1]} {found[0]}" if found else ""


def _empty_db(backend: Any, target: DatabaseSnapshot) -> str | None:
    found = _keys_in_db(target)
    if found and found[1].strip() == "0":
        return f"{found[0].removeprefix('keys in ')} of {target.name} holds 0 keys: nothing to flush"
    return None


CACHE_FLUSH = ActionSpec(
    id="cache.flush",
    title="cache: flush",
    target_type=DatabaseSnapshot,
    capability=CacheFlushable,
    risk=Risk.DESTRUCTIVE,
    key="F",
    description="Delete every key of the configured Redis logical database (FLUSHDB; other "
    "databases of the server are untouched). Keys cannot be recovered.",
    argv=lambda b, t, p: b.flush_db_command(t),
    call=lambda b, t, p: b.flush_db(t),
    unavailable=_empty_db,
    destroys=_flush_size,
)

CACHE_FLUSH_ALL = ActionSpec(
    id="cache.flush_all",
    title="cache: flush all",
    target_type=DatabaseSnapshot,
    capability=caps.CacheFlushAllable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Delete every key of every logical database of the Redis server (FLUSHALL). "
    "Refused unless the profile's redis: entry sets allow_flushall: true.",
    argv=lambda b, t, p: b.flush_all_command(t),
    call=lambda b, t, p: b.flush_all(t),
    destroys=lambda b, t: next((f"every key of the server ({v})" for k, v in t.detail if k == "keyspace"), ""),
)

QUEUE_DELETE_KEY = ActionSpec(
    id="queue.delete_key",
    title="queue: delete key",
    target_type=QueueStatus,
    capability=caps.QueueKeyDeletable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Delete the queue's Redis key (DEL) with every message waiting in it.",
    argv=lambda b, t, p: b.delete_queue_key_command(t),
    call=lambda b, t, p: b.delete_queue_key(t),
    destroys=lambda b, t: "" if t.depth is None else f"{t.depth} message{'' if t.depth == 1 else 's'} in {t.name}",
)

def _trim_default(backend: Any, target: QueueStatus) -> int:
    # The stream's length, so the default trims nothing: its depth is a consumer group's
    # backlog, and trimming to that would drop entries other groups still have pending.
    if isinstance(backend, caps.StreamTrimmable):
        return backend.stream_length(target)
    return target.depth or 0


QUEUE_TRIM_STREAM = ActionSpec(
    id="queue.trim_stream",
    title="queue: trim stream",
    target_type=QueueStatus,
    capability=caps.StreamTrimmable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Trim a Redis stream to about N newest entries (XTRIM MAXLEN ~ N); older "
    "entries, read or not, are deleted.",
    params=(Param("maxlen", "entries to keep (about)", int, _trim_default, 0, 1_000_000_000),),
    argv=lambda b, t, p: b.trim_stream_command(t, p["maxlen"]),
    call=lambda b, t, p: b.trim_stream(t, p["maxlen"]),
)

# Kubernetes pods and nodes are reached through an alarm-shaped reference whose resource names
# them ("NS/pod/NAME" or "node/NAME"): the alarm that concerns them, or the one a pods or nodes
# screen makes for its focused row (pod_ref / node_ref); the backend refuses any other alarm.
POD_DELETE = ActionSpec(
    id="pod.delete",
    title="pod: delete",
    target_type=Alarm,
    capability=PodDeletable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Delete the pod (of the alarm, or focused on a workload's pods screen); its "
    "controller starts a replacement.",
    argv=lambda b, t, p: b.delete_pod_command(t),
    call=lambda b, t, p: b.delete_pod(t),
)

NODE_CORDON = ActionSpec(
    id="node.cordon",
    title="node: cordon",
    target_type=Alarm,
    capability=Cordonable,
    risk=Risk.CHANGE,
    key=None,
    description="Mark the node (of the alarm, or focused on the nodes screen) unschedulable "
    "(running pods stay).",
    argv=lambda b, t, p: b.cordon_command(t),
    call=lambda b, t, p: b.cordon(t),
)

NODE_UNCORDON = ActionSpec(
    id="node.uncordon",
    title="node: uncordon",
    target_type=Alarm,
    capability=Cordonable,
    risk=Risk.CHANGE,
    key=None,
    description="Mark the node (of the alarm, or focused on the nodes screen) schedulable again.",
    argv=lambda b, t, p: b.uncordon_command(t),
    call=lambda b, t, p: b.uncordon(t),
)

def _default_check(backend: Any, target: ServiceStatus) -> str:
    return backend.default_check(target) if isinstance(backend, caps.CheckRunnable) else ""


HOST_RUN_CHECK = ActionSpec(
    id="host.run_check",
    title="host: run check",
    target_type=ServiceStatus,
    capability=caps.CheckRunnable,
    risk=Risk.READ,
    key=None,
    description="Run one of the host's named checks (profile key checks:) and show its output "
    "as plain text; the last output of each check stays on the host row's detail screen.",
    params=(Param("check", "check name", str, _default_check),),
    argv=lambda b, t, p: b.run_check_command(t, p["check"]),
    call=lambda b, t, p: b.run_check(t, p["check"]),
)

HOST_REMOVE_ROTATED_LOGS = ActionSpec(
    id="host.remove_rotated_logs",
    title="host: delete rotated logs",
    target_type=ServiceStatus,
    capability=caps.RotatedLogsRemovable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Delete the rotated copies (app.log.1, app.log.2.gz) beside the host's followed "
    "log files (profile key logs:) to free disk space; the live files are kept.",
    argv=lambda b, t, p: b.remove_rotated_logs_command(t),
    call=lambda b, t, p: b.remove_rotated_logs(t),
)

SENTRY_RESOLVE = ActionSpec(
    id="sentry.resolve",
    title="sentry: resolve",
    target_type=Alarm,
    capability=caps.IssueResolvable,
    risk=Risk.CHANGE,
    key=None,
    description="Mark the Sentry issue resolved (it comes back as regressed if it happens again).",
    argv=lambda b, t, p: b.set_issue_status_command(t, "resolved"),
    call=lambda b, t, p: b.set_issue_status(t, "resolved"),
)

SENTRY_IGNORE = ActionSpec(
    id="sentry.ignore",
    title="sentry: ignore",
    target_type=Alarm,
    capability=caps.IssueResolvable,
    risk=Risk.CHANGE,
    key=None,
    description="Ignore (archive) the Sentry issue: it stops alerting until you undo it in Sentry.",
    argv=lambda b, t, p: b.set_issue_status_command(t, "ignored"),
    call=lambda b, t, p: b.set_issue_status(t, "ignored"),
)


def _page_in(status: str) -> Any:
    def unavailable(backend: Any, target: Alarm) -> str | None:
        return f"the incident is {status} already" if target.state == status else None
    return unavailable


PAGERDUTY_ACKNOWLEDGE = ActionSpec(
    id="pagerduty.acknowledge",
    title="pagerduty: acknowledge",
    target_type=Alarm,
    capability=caps.PageManageable,
    risk=Risk.CHANGE,
    key=None,
    description="Acknowledge the PagerDuty incident (it stops escalating; From: your user_email).",
    argv=lambda b, t, p: b.set_page_status_command(t, "acknowledged"),
    call=lambda b, t, p: b.set_page_status(t, "acknowledged"),
    unavailable=_page_in("acknowledged"),
)

PAGERDUTY_RESOLVE = ActionSpec(
    id="pagerduty.resolve",
    title="pagerduty: resolve",
    target_type=Alarm,
    capability=caps.PageManageable,
    risk=Risk.CHANGE,
    key=None,
    description="Resolve the PagerDuty incident (From: your user_email).",
    argv=lambda b, t, p: b.set_page_status_command(t, "resolved"),
    call=lambda b, t, p: b.set_page_status(t, "resolved"),
)

PAGERDUTY_ADD_NOTE = ActionSpec(
    id="pagerduty.add_note",
    title="pagerduty: add note",
    target_type=Alarm,
    capability=caps.PageManageable,
    risk=Risk.CHANGE,
    key=None,
    description="Add a note to the PagerDuty incident's timeline (From: your user_email).",
    params=(Param("note", "note", str),),
    argv=lambda b, t, p: b.add_page_note_command(t, p["note"]),
    call=lambda b, t, p: b.add_page_note(t, p["note"]),
)

# Slack (profile key notify:): the target is the channel the profile names, the backend its
# notifier. A person's posts wait min_interval after the last one (refused before the text
# is asked); the automatic post of incident: start/resolve neither waits nor counts.
INCIDENT_POST_UPDATE = ActionSpec(
    id="incident.post_update",
    title="incident: post update",
    target_type=SlackChannel,
    capability=SlackPostable,
    risk=Risk.CHANGE,
    key=None,
    description="Post a status update to the incident channel (profile key notify:); the "
    "text is shown and confirmed before it goes.",
    params=(Param("text", "update for the channel", str),),
    argv=lambda b, t, p: b.post_command(slack_escape(p["text"])),
    call=lambda b, t, p: b.post(slack_escape(p["text"])),
    unavailable=lambda b, t: b.wait_reason(),
    preview=lambda b, t, p: p["text"],
)

INCIDENT_POST_REPORT = ActionSpec(
    id="incident.post_report",
    title="incident: post report",
    target_type=SlackChannel,
    capability=SlackPostable,
    risk=Risk.CHANGE,
    key=None,
    description="Post the incident report (the timeline's report: severity, duration, impact, "
    "timeline, actions, follow-ups, in Slack's own formatting) to the incident channel, after showing it.",
    argv=lambda b, t, p: b.report_command(),
    call=lambda b, t, p: b.post(t.report),
    prepare=lambda b, t, p: {"events": t.events},
    unavailable=lambda b, t: b.wait_reason() or b.too_long(t.report),
    preview=lambda b, t, p: t.report,
)

INCIDENT_NOTIFY = ActionSpec(
    id="incident.notify",
    title="incident: notify",
    target_type=SlackChannel,
    capability=SlackPostable,
    risk=Risk.CHANGE,
    key=None,
    description="The post incident: start / resolve make when the profile says "
    "notify.post_on_start / post_on_resolve.",
    params=(Param("text", "text", str),),
    argv=lambda b, t, p: b.post_command(p["text"]),
    call=lambda b, t, p: b.post(p["text"], by_person=False),
    preview=lambda b, t, p: p["text"],
)

REGISTRY: tuple[ActionSpec, ...] = (
    SERVICE_RESTART,
    SERVICE_SCALE,
    SERVICE_ROLLBACK,
    HELM_ROLLBACK,
    QUEUE_PURGE_DLQ,
    DATABASE_SNAPSHOT,
    SERVICE_DEPLOY_REVISION,
    QUEUE_PEEK_DLQ,
    QUEUE_REDRIVE_DLQ,
    ALERT_SILENCE,
    ALERT_EXPIRE_SILENCE,
    DATABASE_CANCEL_QUERY,
    DATABASE_TERMINATE_SESSION,
    CACHE_FLUSH,
    CACHE_FLUSH_ALL,
    QUEUE_DELETE_KEY,
    QUEUE_TRIM_STREAM,
    POD_DELETE,
    NODE_CORDON,
    NODE_UNCORDON,
    HOST_RUN_CHECK,
    HOST_REMOVE_ROTATED_LOGS,
    SENTRY_RESOLVE,
    SENTRY_IGNORE,
    PAGERDUTY_ACKNOWLEDGE,
    PAGERDUTY_RESOLVE,
    PAGERDUTY_ADD_NOTE,
    INCIDENT_POST_UPDATE,
    INCIDENT_POST_REPORT,
    SHELL_OPEN,
)
# Run by the cockpit itself, never offered: found by id for the audit and the timeline.
AUTOMATIC: tuple[ActionSpec, ...] = (INCIDENT_NOTIFY,)


def get_action(action_id: str, extra: tuple[ActionSpec, ...] = ()) -> ActionSpec:
    """A built-in action, or one of ``extra`` (the profile's own: ``custom_actions``)."""
    for spec in (*REGISTRY, *AUTOMATIC, *extra):
        if spec.id == action_id:
            return spec
    raise KeyError(action_id)


def available_actions(target: object, backend: object, extra: tuple[ActionSpec, ...] = ()) -> list[ActionSpec]:
    """The actions offered on ``target`` (see ``cockpit.actions.offered``): the built-in ones
    and ``extra``, the profile's own (its ``actions:``); where the backend says which of its
    rows it can act on (``acts_on``), only on this row."""
    acts_on = getattr(backend, "acts_on", None)
    return [s for s in (*REGISTRY, *extra) if offered(s, target, backend)
            and (acts_on is None or acts_on(s.capability, target))]
