"""Running one drill: ``DrillSession`` (start through the ActionRunner, detection, the goal,
the audited summary), the ``drill.start`` action it runs, and the one-line summary the
timeline and the CLI show.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from cockpit.actions import ActionOutcome, ActionRunner, ActionSpec, ConfirmRequest, Risk
from cockpit.audit import AuditLog, parse_time, utc_iso
from cockpit.errors import CockpitError
from cockpit.lab.drills.base import Drill
from cockpit.profile import Profile

# --- starting a drill is a change, run by the ActionRunner --------------------------------

DRILL_SOURCE = "lab"  # the runner's source id for the lab a drill breaks


@dataclass(frozen=True)
class DrillTarget:
    """What ``drill.start`` acts on: one drill on the lab. ``key`` is the lab's, so the runner
    holds one drill start at a time."""

    name: str
    source: str = DRILL_SOURCE
    key: str = f"{DRILL_SOURCE}:drill"


@runtime_checkable
class DrillLab(Protocol):
    """The capability a drill needs: a lab it can break (``Lab`` and ``AttachedLab``)."""

    def send(self, command: str) -> None: ...


# Not in the action registry (no row has it): the palette's "drill: start NAME" and
# `cockpit drill run` reach it through DrillSession.start. Its ``call`` is the session's.
DRILL_START = ActionSpec(
    id="drill.start",
    title="drill: start",
    target_type=DrillTarget,
    capability=DrillLab,
    risk=Risk.CHANGE,
    key=None,
    description="inject a practice incident into the lab",
    argv=lambda lab, target, params: ["cockpit", "drill", "run", target.name],
)


async def _confirmed(request: ConfirmRequest) -> bool | str:
    """`cockpit drill run NAME` is itself the confirmation: the user typed the drill's name."""
    return request.expected


def headless_runner(
    profile: Profile, audit: AuditLog, lab: Any, *, read_only: bool = False, dry_run: bool = False
) -> ActionRunner:
    """The runner for a drill started outside the cockpit: same policy, the CLI confirms."""
    return ActionRunner(
        profile=profile,
        audit=audit,
        resolve_backend=lambda source_id: lab,
        confirm=_confirmed,
        read_only=read_only,
        dry_run=dry_run,
    )


# --- a session ------------------------------------------------------------------------------


def _seconds(a: float | None, b: float | None) -> float | None:
    return round(b - a, 1) if a is not None and b is not None else None


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class DrillSession:
    """One run of one drill on one lab; times are wall-clock (they go into the audit)."""

    def __init__(
        self,
        drill: Drill,
        lab: Any,
        audit: AuditLog,
        profile: Profile,
        *,
        actions_running: Callable[[], bool] | None = None,
        settle_s: float = 2.0,
        runner: ActionRunner | None = None,
        sources: Callable[[str], Any] | None = None,
    ) -> None:
        self.drill = drill
        # Starting a drill breaks the lab: read-only refuses it, dry-run only shows it, and
        # both are audited, because it goes through the runner like any change.
        self.runner = runner or headless_runner(profile, audit, lab)
        # The cockpit's sources by id, for a drill that changes one (disk-full lowers a host
        # threshold); the cockpit's runner resolves them already.
        self.sources = sources or self.runner.resolve_backend
        self.lab = lab
        self.audit = audit
        self.profile = profile
        # The action that resolves a drill is audited only after its command returns, so the
        # goal can be met before its audit line exists. In the cockpit the runner says when
        # its actions are done; a drill watched from another process waits ``settle_s``.
        self.actions_running = actions_running
        self.settle_s = settle_s
        self.started_at: float | None = None
        self.detected_at: float | None = None
        self.resolved_at: float | None = None
        self.ended: str = ""  # "" running | "resolved" | "aborted"
        self._state: dict[str, Any] = {}
        self._summary: dict[str, Any] | None = None
        self._inject_error: CockpitError | None = None

    @property
    def finished(self) -> bool:
        return bool(self.ended)

    async def start(self, *, origin: str = "palette") -> ActionOutcome:
        """Inject the incident through the runner; the outcome says if it was refused (read-only),
        cancelled, only shown (dry-run) or done. An injection that fails raises its own
        ``DrillUnavailable``/``CockpitError`` (with its hint), after the runner audited it."""
        self._inject_error = None
        spec = replace(DRILL_START, call=self._inject)
        outcome = await self.runner.request(spec, DrillTarget(self.drill.name), origin=origin)
        if outcome.status == "failed" and self._inject_error is not None:
            raise self._inject_error
        if outcome.ok:
            await asyncio.to_thread(
                self.audit.append,
                {
                    "type": "drill",
                    "phase": "started",
                    "time": utc_iso(datetime.fromtimestamp(self.started_at or time.time(), UTC)),
                    "profile": self.profile.name,
                    "drill": self.drill.name,
                    "title": self.drill.title,
                    "goal": self.drill.goal_text,
                },
            )
        return outcome

    async def _inject(self, lab: Any, target: DrillTarget, params: dict[str, Any]) -> str:
        try:
            self._state = await self.drill.inject(lab, self.sources)
        except CockpitError as e:
            self._inject_error = e
            raise
        self.started_at = time.time()
        return f"drill {self.drill.name} started: {self.drill.title}"

    def note_detected(self) -> None:
        """The user first looked at the incident (focused a record in ``drill.detect_on``)."""
        if self.detected_at is None and self.started_at is not None and not self.ended:
            self.detected_at = time.time()

    async def check(self) -> bool:
        """Is the goal met? The first time it is, the drill ends and its summary is audited."""
        if self.ended == "resolved":
            return True
        if self.started_at is None or self.ended:
            return False
        if not await self.drill.goal_met(self.lab, self._state):
            return False
        self.resolved_at = time.time()
        self.ended = "resolved"
        await self._settle()
        await self._finish()
        return True

    async def _settle(self, limit: float = 30.0) -> None:
        if self.actions_running is None:
            await asyncio.sleep(self.settle_s)
            return
        deadline = time.monotonic() + limit
        while self.actions_running() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def abort(self) -> None:
        """Stop the drill unresolved (the user gave up or quit); audited as aborted."""
        if self.started_at is None or self.ended:
            return
        self.ended = "aborted"
        await self._finish()

    async def _finish(self) -> None:
        summary = await asyncio.to_thread(self._build_summary)
        self._summary = summary
        try:
            await asyncio.to_thread(self.audit.append, summary)
        finally:
            await self.drill.cleanup(self.lab, self._state)

    def _actions(self) -> list[dict[str, Any]]:
        if self.started_at is None:
            return []
        since = datetime.fromtimestamp(self.started_at, UTC)
        end = datetime.fromtimestamp(self.resolved_at or time.time(), UTC)
        from cockpit.registry import get_action

        def title(action_id: str) -> str:
            try:
                return get_action(action_id).title
            except KeyError:
                return action_id

        out = []
        for e in self.audit.read(since=since, profile=self.profile.name):
            if e.get("type", "action") != "action" or e.get("action") == DRILL_START.id:
                continue
            # An action counts if it began before the goal was met, however long it ran on.
            if e.get("started"):
                began = parse_time(str(e["started"]))
            else:  # written before actions said when they began
                began = parse_time(str(e["time"])) - timedelta(seconds=float(e.get("duration_s") or 0))
            if began > end:
                continue
            out.append(
                {
                    "time": e["time"],
                    "action": e.get("action", ""),
                    "title": title(str(e.get("action", ""))),
                    "target": e.get("target", ""),
                    "outcome": e.get("outcome", ""),
                    "began": utc_iso(began),
                    "on_incident": self._touches(e),
                }
            )
        return out

    def _touches(self, entry: dict[str, Any]) -> bool:
        """Whether an audited action was on the drill's affected target (a row, its alarm, a
        session of its database): acting on it is having found it."""
        names = self.drill.detect_on
        parts = [str(entry.get("target", "")), *re.split(r"[:/]", str(entry.get("resource", "")))]
        return any(p and p in names for p in parts)

    def _detection(self, actions: list[dict[str, Any]]) -> tuple[float | None, str]:
        """When and how the trainee found the fault: the cockpit saw them look at it, or the
        first action on the affected target (from any cockpit or shell that shares the audit),
        or, fixed without either, at the latest by the fix itself."""
        seen: list[tuple[float, str]] = []
        if self.detected_at is not None:
            seen.append((self.detected_at, "focus"))
        for a in actions:
            if a.get("on_incident") and a.get("began"):
                seen.append((parse_time(str(a["began"])).timestamp(), "action"))
                break
        if seen:
            return min(seen)
        if self.resolved_at is not None:
            return self.resolved_at, "fix"
        return None, ""

    def _build_summary(self) -> dict[str, Any]:
        def iso(t: float | None) -> str | None:
            return utc_iso(datetime.fromtimestamp(t, UTC)) if t is not None else None

        end = self.resolved_at if self.ended == "resolved" else time.time()
        actions = self._actions()
        detected, detected_by = self._detection(actions)
        for a in actions:
            a.pop("began", None)
            a.pop("on_incident", None)
        return {
            "type": "drill",
            "phase": "finished",
            "profile": self.profile.name,
            "drill": self.drill.name,
            "title": self.drill.title,
            "goal": self.drill.goal_text,
            "outcome": self.ended or "running",
            "started": iso(self.started_at),
            "detected": iso(detected),
            "detected_by": detected_by or None,
            "resolved": iso(self.resolved_at),
            "time_to_detect_s": _seconds(self.started_at, detected),
            "time_to_resolve_s": _seconds(self.started_at, self.resolved_at),
            "duration_s": _seconds(self.started_at, end),
            "actions": actions,
        }

    def summary(self) -> dict[str, Any]:
        """The audited summary once finished; a live one (outcome "running") before."""
        return self._summary if self._summary is not None else self._build_summary()


def describe_summary(summary: dict[str, Any]) -> str:
    """One line for the timeline and the CLI."""
    name = summary.get("drill", "?")
    if summary.get("phase") == "started":
        return f"Drill {name} started: goal {summary.get('goal', '')}"
    actions = summary.get("actions") or []
    done = ", ".join(f"{a.get('title')} {a.get('target')} ({a.get('outcome')})" for a in actions) or "none"
    if summary.get("outcome") == "resolved":
        head = f"Drill {name} resolved in {_span(summary.get('time_to_resolve_s'))}"
    else:
        head = f"Drill {name} {summary.get('outcome', 'ended')} after {_span(summary.get('duration_s'))}"
    detect = summary.get("time_to_detect_s")
    how = {"action": " by acting on it", "fix": " at the latest when fixed"}.get(str(summary.get("detected_by")), "")
    head += f" (detected{how} after {_span(detect)})" if detect is not None else " (detection not noted)"
    return f"{head}; actions: {done}"
