"""The action registry and the ActionRunner: the one path by which anything changes the estate.

The registry (``REGISTRY``) feeds the palette, the row key bindings, help and explain; the
runner enforces the safety model below any UI, so a palette hit, a key press and a future
API call are refused or confirmed the same way:

audit usable -> read-only -> capability -> one action per target -> parameters ->
confirmation (typed for destructive / production) -> dry-run -> run -> audit line (fsynced)

Nothing here imports Textual: the confirmation is an injected coroutine (``Confirmer``).
"""

from __future__ import annotations

import asyncio
import enum
import re
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cockpit.audit import AuditLog, utc_iso
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
from cockpit.dbmodel import Backend
from cockpit.errors import ActionRefused, CockpitError
from cockpit.masking import mask_argv
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus
from cockpit.profile import Profile


class Risk(enum.Enum):
    READ = "read"
    CHANGE = "change"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True)
class Param:
    """A value the user supplies before confirming (e.g. a desired count)."""

    name: str
    label: str
    kind: type = int
    default: Callable[[Any], Any] | None = None  # from the target, e.g. lambda s: s.desired
    minimum: int | None = None
    maximum: int | None = None

    def validate(self, value: Any) -> Any:
        """Convert and range-check ``value``; raise ``ActionRefused`` saying what is wrong."""
        if self.kind is int:
            if isinstance(value, bool):
                raise ActionRefused(f"{self.label} must be a whole number, not {value!r}")
            try:
                number = int(str(value).strip()) if not isinstance(value, int) else value
            except ValueError:
                raise ActionRefused(
                    f"{self.label} must be a whole number, not {value!r}",
                    self.range_hint(),
                ) from None
            if (self.minimum is not None and number < self.minimum) or (
                self.maximum is not None and number > self.maximum
            ):
                raise ActionRefused(f"{self.label} {number} is out of range", self.range_hint())
            return number
        if not isinstance(value, self.kind):
            raise ActionRefused(f"{self.label} must be a {self.kind.__name__}")
        if self.kind is str and self.default is None and not value.strip():
            # Checked here so the prompt refuses it before the dialog closes, and so does the runner.
            raise ActionRefused(f"{self.label} is required", "type it, or Esc to cancel")
        return value

    def range_hint(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"use {self.minimum}..{self.maximum}"
        return ""


Argv = Callable[[Any, Any, dict[str, Any]], list[str]]
Call = Callable[[Any, Any, dict[str, Any]], Awaitable[str]]
Prepare = Callable[[Any, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ActionSpec:
    id: str  # "service.restart"
    title: str  # "service: restart" (palette titles are "category: verb")
    target_type: type  # ServiceStatus | QueueStatus | DatabaseSnapshot | Alarm
    capability: type  # a Protocol from cockpit/backends/base.py
    risk: Risk
    key: str | None  # binding on the focused row
    description: str  # for help and explain
    params: tuple[Param, ...] = ()
    argv: Argv = field(default=lambda b, t, p: [], repr=False, compare=False)
    call: Call | None = field(default=None, repr=False, compare=False)
    # Fills in values the user does not type but that command and run must share (an id).
    prepare: Prepare | None = field(default=None, repr=False, compare=False)

    def applies_to(self, target: object) -> bool:
        return isinstance(target, self.target_type)

    def command(self, backend: Any, target: Any, params: dict[str, Any]) -> list[str]:
        """The equivalent CLI argv, shown in the confirm modal, the audit and explain.

        Masked: it is only ever shown, and a password in it would be shown with it.
        """
        return mask_argv(self.argv(backend, target, params))

    async def run(self, backend: Any, target: Any, params: dict[str, Any]) -> str:
        if self.call is None:
            raise CockpitError(f"{self.title} has nothing to run")
        return await self.call(backend, target, params)

    def resolve_params(self, target: Any, given: dict[str, Any] | None) -> dict[str, Any]:
        """Validated parameters: given values, else defaults from the target; then prepare."""
        given = dict(given or {})
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                value = given.pop(p.name)
            elif p.default is not None:
                value = p.default(target)
            else:
                raise ActionRefused(f"{self.title} needs {p.label}")
            out[p.name] = p.validate(value)
        if given:
            raise ActionRefused(
                f"{self.title} takes no parameter {', '.join(sorted(given))}",
                f"parameters: {', '.join(p.name for p in self.params) or 'none'}",
            )
        if self.prepare is not None:
            out.update(self.prepare(target, out))
        return out


# --- the registry ------------------------------------------------------------------------


def snapshot_id_for(db_name: str, now: datetime | None = None) -> str:
    """``cockpit-<db>-<UTC yyyymmddHHMMSS>``, made valid as an RDS snapshot identifier."""
    now = now or datetime.now(UTC)
    # RDS ids: letters, digits, single hyphens, first a letter, no trailing hyphen.
    safe = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", db_name)).strip("-") or "db"
    return f"cockpit-{safe}-{now.astimezone(UTC):%Y%m%d%H%M%S}"


def _snapshot_prepare(target: DatabaseSnapshot, params: dict[str, Any]) -> dict[str, Any]:
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
    params=(Param("desired", "desired count", int, lambda s: s.desired, minimum=0, maximum=1000),),
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
    prepare=lambda t, p: _revision_change(t, None),
)

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


def _latest_revision(target: ServiceStatus) -> int:
    from cockpit.backends.ecs import latest_revision

    return latest_revision(target)


def _revision_change(target: ServiceStatus, to: str | None) -> dict[str, Any]:
    # from -> to revision and image, shown as parameters in the confirmation and audited.
    if target.backend == "kubernetes" and to is None:
        from cockpit.backends.kubernetes import revision_change as k8s_revision_change

        return dict(k8s_revision_change(target))
    from cockpit.backends.ecs import revision_change

    return dict(revision_change(target, to))


def _deploy_prepare(target: ServiceStatus, params: dict[str, Any]) -> dict[str, Any]:
    family = target.task_definition.rpartition(":")[0]
    return _revision_change(target, f"{family}:{params['revision']}" if family else None)


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
        Param("duration", "duration (e.g. 30m, 1h, 2d)", str, lambda a: "1h"),
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
    target_type=Backend,
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
    target_type=Backend,
    capability=SessionTerminable,
    risk=Risk.DESTRUCTIVE,
    key="K",
    description="End the session (pg_terminate_backend): its transaction rolls back and "
    "the sessions it blocks can proceed.",
    argv=lambda b, t, p: b.terminate_backend_command(t),
    call=lambda b, t, p: b.terminate_backend(t),
)

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
)

QUEUE_TRIM_STREAM = ActionSpec(
    id="queue.trim_stream",
    title="queue: trim stream",
    target_type=QueueStatus,
    capability=caps.StreamTrimmable,
    risk=Risk.DESTRUCTIVE,
    key=None,
    description="Trim a Redis stream to about N newest entries (XTRIM MAXLEN ~ N); older "
    "entries, read or not, are deleted.",
    params=(Param("maxlen", "entries to keep (about)", int, lambda q: q.depth, 0, 1_000_000_000),),
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

def _default_check(target: ServiceStatus) -> str:
    from cockpit.backends.hosts import default_check

    return default_check(target)


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

REGISTRY: tuple[ActionSpec, ...] = (
    SERVICE_RESTART,
    SERVICE_SCALE,
    SERVICE_ROLLBACK,
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
)


def get_action(action_id: str) -> ActionSpec:
    for spec in REGISTRY:
        if spec.id == action_id:
            return spec
    raise KeyError(action_id)


def available_actions(target: object, backend: object) -> list[ActionSpec]:
    """The actions offered on ``target``: right record type and a backend that can do it."""
    return [s for s in REGISTRY if s.applies_to(target) and isinstance(backend, s.capability)]


_OBJECT_OF_ALARM = frozenset({POD_DELETE.id, NODE_CORDON.id, NODE_UNCORDON.id})


def target_name(target: object, spec: ActionSpec | None = None) -> str:
    """What the user types for a typed confirmation: the name of the thing acted on.

    For a dead-letter purge that is the dead-letter queue itself, the thing destroyed.
    """
    if spec is not None and spec.id == QUEUE_PURGE_DLQ.id and isinstance(target, QueueStatus):
        return target.dlq_name or target.name
    if spec is not None and spec.id in _OBJECT_OF_ALARM and isinstance(target, Alarm):
        # The pod or node itself ("NS/pod/NAME" -> NAME), not the alarm's long name.
        return target.resource.rsplit("/", 1)[-1] or target.name
    if isinstance(target, ServiceStatus | QueueStatus | DatabaseSnapshot | Alarm):
        return target.name
    name = getattr(target, "name", None)
    return str(name) if name is not None else str(target)


def target_key(target: object) -> str:
    key = getattr(target, "key", None)
    return str(key) if key is not None else target_name(target)


# --- confirmation and outcomes ------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmRequest:
    profile: str
    production: bool
    action: ActionSpec
    target: str
    params: dict[str, Any]
    command: str  # shlex.join of the argv
    typed: bool  # the user must type ``expected``
    expected: str
    dry_run: bool = False


# A Confirmer answers False (cancel), True (confirmed) or, for a typed confirmation, the text
# the user typed: the runner compares that text itself rather than trusting the UI's check.
Confirmer = Callable[[ConfirmRequest], Awaitable[bool | str]]

Status = Literal["ok", "failed", "refused", "dry-run", "cancelled"]


@dataclass(frozen=True)
class ActionOutcome:
    status: Status
    message: str
    command: str
    duration_s: float
    audited: bool = True  # False only when the audit line could not be written after a run

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ActionRunner:
    """The only way an action runs. Every attempt ends in exactly one fsynced audit line."""

    def __init__(
        self,
        *,
        profile: Profile,
        audit: AuditLog,
        resolve_backend: Callable[[str], object],
        confirm: Confirmer,
        read_only: bool = False,
        dry_run: bool = False,
    ) -> None:
        self.profile = profile
        self.audit = audit
        self.resolve_backend = resolve_backend
        self.confirm = confirm
        self.read_only = read_only or profile.read_only
        self.dry_run = dry_run
        self._busy: set[str] = set()
        self._running = 0  # actions past confirmation whose audit line is not yet written

    def needs_typed_confirmation(self, spec: ActionSpec) -> bool:
        return spec.risk is Risk.DESTRUCTIVE or (
            spec.risk is Risk.CHANGE and self.profile.production
        )

    def is_busy(self, target: object) -> bool:
        return target_key(target) in self._busy

    def running(self) -> bool:
        """Is any confirmed action still running or not yet audited?"""
        return self._running > 0

    async def request(
        self,
        spec: ActionSpec,
        target: object,
        params: dict[str, Any] | None = None,
        *,
        origin: str = "palette",
    ) -> ActionOutcome:
        started = time.monotonic()
        name = target_name(target, spec)
        entry: dict[str, Any] = {
            "type": "action",
            "profile": self.profile.name,
            "action": spec.id,
            "target": name,
            "resource": target_key(target),
            "params": dict(params or {}),
            "command": "",
            "origin": origin,
            # The line is written when the action ends; a drill asks when it began.
            "started": utc_iso(),
        }

        # 1. No audit, no action: a refusal here cannot itself be audited, so say so loudly.
        try:
            await asyncio.to_thread(self.audit.check)
        except CockpitError as e:
            return ActionOutcome("refused", f"action refused: {e}", "", 0.0, audited=False)

        async def finish(status: Status, message: str, error: str = "") -> ActionOutcome:
            duration = time.monotonic() - started
            entry.update(outcome=status, error=error, duration_s=round(duration, 3))
            try:
                await asyncio.to_thread(self.audit.append, entry)
            except CockpitError as e:
                return ActionOutcome(
                    status,
                    f"{message} — AUDIT NOT WRITTEN: {e}",
                    entry["command"],
                    duration,
                    audited=False,
                )
            return ActionOutcome(status, message, entry["command"], duration)

        # 2. Read-only refuses every change, whichever path asked.
        if spec.risk is not Risk.READ and self.read_only:
            return await finish(
                "refused", f"{spec.title} refused: {self.profile.name} is read-only", "read-only"
            )

        # 3. Capability: the row's source must implement the action.
        if not spec.applies_to(target):
            return await finish(
                "refused",
                f"{spec.title} does not apply to a {type(target).__name__}",
                "wrong target type",
            )
        source_id = getattr(target, "source", "")
        try:
            backend = self.resolve_backend(source_id)
        except (KeyError, CockpitError) as e:
            return await finish("refused", f"no source {source_id!r} for {name}", str(e))
        if not isinstance(backend, spec.capability):
            return await finish(
                "refused",
                f"{spec.title} is not supported by source {source_id}",
                f"not {spec.capability.__name__}",
            )

        # 4. One action at a time per target, held from confirmation to the audit line.
        key = target_key(target)
        if key in self._busy:
            return await finish(
                "refused", f"{spec.title} refused: an action on {name} is still running", "busy"
            )
        self._busy.add(key)
        try:
            return await self._confirm_and_run(spec, target, params, backend, name, entry, finish)
        finally:
            self._busy.discard(key)

    async def _confirm_and_run(
        self,
        spec: ActionSpec,
        target: object,
        params: dict[str, Any] | None,
        backend: object,
        name: str,
        entry: dict[str, Any],
        finish: Callable[..., Awaitable[ActionOutcome]],
    ) -> ActionOutcome:
        # 5. Parameters, and the exact command they produce.
        try:
            resolved = spec.resolve_params(target, params)
            entry["params"] = resolved
            command = shlex.join(spec.command(backend, target, resolved))
        except CockpitError as e:
            return await finish("refused", f"{spec.title} refused: {e}", str(e))
        entry["command"] = command

        # 6. Confirmation. Reading needs none; typed text is compared here, not only in the UI.
        if spec.risk is not Risk.READ:
            typed = self.needs_typed_confirmation(spec)
            req = ConfirmRequest(
                profile=self.profile.name,
                production=self.profile.production,
                action=spec,
                target=name,
                params=resolved,
                command=command,
                typed=typed,
                expected=name,
                dry_run=self.dry_run,
            )
            answer = await self.confirm(req)
            if typed:
                confirmed = isinstance(answer, str) and answer.strip() == name
            else:
                confirmed = answer is True or (isinstance(answer, str) and answer.strip() == name)
            if not confirmed:
                if answer is False or answer is None or answer == "" or not typed:
                    return await finish(
                        "refused", f"{spec.title} on {name} cancelled", "cancelled by user"
                    )
                return await finish(
                    "refused",
                    f"{spec.title} refused: the name typed does not match {name}",
                    "typed confirmation mismatch",
                )

        # 7. Dry-run: shown and audited, nothing runs.
        if self.dry_run:
            return await finish("dry-run", f"dry run: would run {command}")

        # 8. Run. Every failure is audited; nothing escapes unrecorded.
        self._running += 1
        try:
            try:
                message = await spec.run(backend, target, resolved)
            except CockpitError as e:
                return await finish("failed", f"{spec.title} on {name} failed: {e}", str(e))
            except asyncio.CancelledError:
                await finish("failed", f"{spec.title} on {name} interrupted", "interrupted")
                raise
            except Exception as e:  # a backend bug must still leave an audit line
                error = f"{type(e).__name__}: {e}"
                return await finish("failed", f"{spec.title} on {name} failed: {error}", error)
            return await finish("ok", message)
        finally:
            self._running -= 1
