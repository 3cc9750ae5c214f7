"""Actions and the ActionRunner: the one path by which anything changes the estate.

What an action is (``ActionSpec``: risk, parameters, the CLI argv, the call) is defined here;
the built-in ones are in ``cockpit/registry.py``, which feeds the palette, the row key
bindings, help and explain. The runner enforces the safety model below any UI, so a palette hit, a key press and a future
API call are refused or confirmed the same way:

audit usable -> read-only -> capability -> one action per target -> parameters ->
confirmation (typed for destructive / production) -> dry-run -> ``started`` audit line
(fsynced; if it cannot be written, nothing runs) -> run -> ``finished`` audit line

Nothing here imports Textual: the confirmation is an injected coroutine (``Confirmer``).
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cockpit.audit import AuditLog, utc_iso
from cockpit.errors import ActionRefused, CockpitError
from cockpit.masking import mask_argv, shell_join
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus
from cockpit.profile import Profile
from cockpit.text import EstateText


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
    # From the backend and the target, e.g. lambda b, s: s.desired
    default: Callable[[Any, Any], Any] | None = None
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
        if isinstance(value, str) and self.default is None and not value.strip():
            # Checked here so the prompt refuses it before the dialog closes, and so does the runner.
            raise ActionRefused(f"{self.label} is required", "type it, or Esc to cancel")
        return value

    def range_hint(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"use {self.minimum}..{self.maximum}"
        return ""


Argv = Callable[[Any, Any, dict[str, Any]], list[str]]
Call = Callable[[Any, Any, dict[str, Any]], Awaitable[str]]
Prepare = Callable[[Any, Any, dict[str, Any]], dict[str, Any]]


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
    # Why it cannot succeed on this target now (no previous revision, an empty DLQ), else
    # None: such an action is neither offered nor run, rather than confirmed and then failed.
    unavailable: Callable[[Any, Any], str | None] | None = field(default=None, repr=False, compare=False)
    # What a destructive action destroys ("7 messages"), said in its confirmation.
    destroys: Callable[[Any, Any], str] | None = field(default=None, repr=False, compare=False)
    # The text that will go out (a Slack post), shown whole in its confirmation.
    preview: Callable[[Any, Any, dict[str, Any]], str] | None = field(default=None, repr=False, compare=False)
    # It takes the user's terminal (a shell): its own pickers ask its parameters, and it says
    # nothing over the screen it gives back when it ends well.
    interactive: bool = False

    def applies_to(self, target: object) -> bool:
        return isinstance(target, self.target_type)

    def unavailable_reason(self, backend: Any, target: Any) -> str | None:
        if self.unavailable is None:
            return None
        try:
            return self.unavailable(backend, target)
        except Exception:  # a backend that cannot tell: offered, and the run says what fails
            return None

    def what_it_destroys(self, backend: Any, target: Any) -> str:
        try:
            return self.destroys(backend, target) if self.destroys is not None else ""
        except Exception:
            return ""

    def preview_text(self, backend: Any, target: Any, params: dict[str, Any]) -> str:
        return self.preview(backend, target, params) if self.preview is not None else ""

    def command(self, backend: Any, target: Any, params: dict[str, Any]) -> list[str]:
        """The equivalent CLI argv, shown in the confirm modal, the audit and explain.

        Masked: it is only ever shown, and a password in it would be shown with it.
        """
        return mask_argv(self.argv(backend, target, params))

    async def run(self, backend: Any, target: Any, params: dict[str, Any]) -> str:
        if self.call is None:
            raise CockpitError(f"{self.title} has nothing to run")
        return await self.call(backend, target, params)

    def resolve_params(self, backend: Any, target: Any, given: dict[str, Any] | None) -> dict[str, Any]:
        """Validated parameters: given values, else defaults from the backend and the target;
        then prepare."""
        given = dict(given or {})
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                value = given.pop(p.name)
            elif p.default is not None:
                value = p.default(backend, target)
            else:
                raise ActionRefused(f"{self.title} needs {p.label}")
            out[p.name] = p.validate(value)
        if given:
            raise ActionRefused(
                f"{self.title} takes no parameter {', '.join(sorted(given))}",
                f"parameters: {', '.join(p.name for p in self.params) or 'none'}",
            )
        if self.prepare is not None:
            out.update(self.prepare(backend, target, out))
        return out


def offered(spec: ActionSpec, target: object, backend: object) -> bool:
    """Is ``spec`` offered on ``target``: right record type, a backend that can do it, and
    nothing that makes it fail for sure (the runner refuses the same cases)?"""
    return (spec.applies_to(target) and isinstance(backend, spec.capability)
            and spec.unavailable_reason(backend, target) is None)


# The built-in actions live in cockpit/registry.py (the runner needs only their ids);
# callers that import them from here still get them.
_PURGE_DLQ = "queue.purge_dlq"
_OBJECT_OF_ALARM = frozenset({"pod.delete", "node.cordon", "node.uncordon"})


def target_name(target: object, spec: ActionSpec | None = None) -> str:
    """What the user types for a typed confirmation: the name of the thing acted on.

    For a dead-letter purge that is the dead-letter queue itself, the thing destroyed.
    """
    if spec is not None and spec.id == _PURGE_DLQ and isinstance(target, QueueStatus):
        return target.dlq_name or target.name
    if spec is not None and spec.id in _OBJECT_OF_ALARM and isinstance(target, Alarm):
        # The pod or node itself ("NS/pod/NAME" -> NAME), not the alarm's long name.
        return target.resource.rsplit("/", 1)[-1] or target.name
    if isinstance(target, ServiceStatus | QueueStatus | DatabaseSnapshot | Alarm):
        return target.name
    name = getattr(target, "name", None)
    return str(name) if name is not None else str(target)


def estate_of(backend: object, target: object) -> dict[str, str]:
    """Where the row's source acts: ``{estate, account, aws_profile, region}`` (AWS) or
    ``{estate, context}`` (Kubernetes); {} for a row without an estate."""
    ctx = getattr(backend, "ctx", None)
    describe = getattr(ctx, "describe_estate", None)
    if callable(describe):
        out = describe()
        if isinstance(out, dict):
            return {str(k): str(v) for k, v in out.items()}
    estate = getattr(target, "estate", "")
    return {"estate": estate} if isinstance(estate, str) and estate else {}


def estate_text(where: dict[str, str]) -> str:
    """``prod-us · account 123456789012 · us-east-1 · AWS profile prod-us-admin``."""
    if not where.get("estate"):
        return ""
    parts = [where["estate"]]
    for key, label in (("account", "account "), ("region", ""), ("aws_profile", "AWS profile "),
                       ("context", "context ")):
        if where.get(key):
            parts.append(label + where[key])
    return " · ".join(parts)


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
    destroys: str = ""  # what a destructive action destroys, e.g. "7 messages in jobs-dlq"
    preview: str = ""  # the text that will go out, exactly (a Slack post)
    estate: str = ""  # with several estates: which one, its account and region (estate_text)


# A Confirmer answers False (cancel), True (confirmed) or, for a typed confirmation, the text
# the user typed: the runner compares that text itself rather than trusting the UI's check.
Confirmer = Callable[[ConfirmRequest], Awaitable[bool | str]]

Status = Literal["ok", "failed", "refused", "dry-run", "cancelled"]


@dataclass(frozen=True)
class ActionOutcome(EstateText):
    # A backend's answer (a peeked body, a check's output, an error) is estate text.
    _blocks = ("message",)

    status: Status
    message: str
    command: str
    duration_s: float
    audited: bool = True  # False only when the audit line could not be written after a run

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ActionRunner:
    """The only way an action runs. Every attempt ends in one fsynced ``finished`` audit line;
    one that runs has its ``started`` line on disk before the backend is called."""

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
        confirmed_by: str = "",
    ) -> ActionOutcome:
        """Run ``spec`` on ``target`` through every check below.

        ``confirmed_by``: a standing confirmation that replaces the dialog for a ``change``
        (never a destructive one), named in the audit line: the profile's
        ``notify.post_on_start`` for the post an incident start makes.
        """
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
            # When the action began (set again when it runs): a drill asks.
            "started": utc_iso(),
            # Pairs the run's started and finished lines.
            "id": secrets.token_hex(8),
        }
        if confirmed_by and spec.risk is Risk.CHANGE:
            entry["confirmed_by"] = confirmed_by

        # 1. No audit, no action: a refusal here cannot itself be audited, so say so loudly.
        try:
            await asyncio.to_thread(self.audit.check)
        except CockpitError as e:
            return ActionOutcome("refused", f"action refused: {e}", "", 0.0, audited=False)

        async def finish(status: Status, message: str, error: str = "") -> ActionOutcome:
            duration = time.monotonic() - started
            entry.update(phase="finished", outcome=status, error=error, duration_s=round(duration, 3))
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
            # A profile's own action on no row (the profile itself) has no source.
            backend = self.resolve_backend(source_id) if source_id else None
        except (KeyError, CockpitError) as e:
            return await finish("refused", f"no source {source_id!r} for {name}", str(e))
        if not isinstance(backend, spec.capability):
            return await finish(
                "refused",
                f"{spec.title} is not supported by source {source_id}",
                f"not {spec.capability.__name__}",
            )
        # With several estates, the same name may exist in each: say which one, and its account.
        where = estate_of(backend, target) if self.profile.several_estates else {}
        if where:
            entry.update({k: v for k, v in where.items() if k in ("estate", "account", "region", "context")})
        reason = spec.unavailable_reason(backend, target)
        if reason is not None:
            return await finish("refused", f"{spec.title} refused: {reason}", "unavailable")

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
            resolved = spec.resolve_params(backend, target, params)
            entry["params"] = resolved
            # A team's own argv is shown exactly as it runs (no shell ever expands a "$X" in it).
            join = shlex.join if getattr(spec, "config", None) is not None else shell_join
            command = join(spec.command(backend, target, resolved))
        except CockpitError as e:
            return await finish("refused", f"{spec.title} refused: {e}", str(e))
        entry["command"] = command

        # 6. Confirmation. Reading needs none; typed text is compared here, not only in the UI.
        if spec.risk is not Risk.READ and not entry.get("confirmed_by"):
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
                destroys=spec.what_it_destroys(backend, target),
                preview=spec.preview_text(backend, target, resolved),
                estate=estate_text(estate_of(backend, target)) if self.profile.several_estates else "",
            )
            answer = await self.confirm(req)
            if typed:
                confirmed = isinstance(answer, str) and answer.strip() == name
            else:
                confirmed = answer is True or (isinstance(answer, str) and answer.strip() == name)
            if not confirmed:
                if answer is False or answer is None or answer == "" or not typed:
                    return await finish(
                        "cancelled", f"{spec.title} on {name} cancelled", "cancelled by user"
                    )
                return await finish(
                    "refused",
                    f"{spec.title} refused: the name typed does not match {name}",
                    "typed confirmation mismatch",
                )

        # 7. Dry-run: shown and audited, nothing runs.
        if self.dry_run:
            return await finish("dry-run", f"dry run: would run {command}")

        # 8. Write-ahead: the started line is on disk before the backend is called, so a
        # kill -9 or a dropped SSH session mid-run still leaves a record of what was running.
        # If it cannot be written (full disk, quota, a file swapped out), nothing runs.
        entry.update(phase="started", started=utc_iso())
        try:
            await asyncio.to_thread(self.audit.append, entry)
        except CockpitError as e:
            return ActionOutcome(
                "refused",
                f"{spec.title} on {name} did not run: its audit line could not be written: {e}",
                command,
                0.0,
                audited=False,
            )

        # 9. Run. Every failure is audited; nothing escapes unrecorded.
        self._running += 1
        try:
            try:
                message = await spec.run(backend, target, resolved)
            except CockpitError as e:
                entry.update(getattr(e, "audit", None) or {})
                return await finish("failed", f"{spec.title} on {name} failed: {e}", str(e))
            except asyncio.CancelledError:
                await finish("failed", f"{spec.title} on {name} interrupted", "interrupted")
                raise
            except Exception as e:  # a backend bug must still leave an audit line
                error = f"{type(e).__name__}: {e}"
                return await finish("failed", f"{spec.title} on {name} failed: {error}", error)
            entry.update(getattr(message, "audit", None) or {})  # e.g. a shell's exit status
            return await finish("ok", message)
        finally:
            self._running -= 1


def __getattr__(name: str) -> Any:
    """The registry's names (``get_action``, ``REGISTRY``, ``SERVICE_RESTART``...) for callers
    that import them from here, as they did before the registry had its own module."""
    if name.startswith("__"):
        raise AttributeError(name)
    from cockpit import registry

    try:
        return getattr(registry, name)
    except AttributeError:
        raise AttributeError(f"module 'cockpit.actions' has no attribute {name!r}") from None
