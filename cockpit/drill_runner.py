"""The drill runner: the glue between the palette's ``drill: start`` / ``drill: abort`` and a
``DrillSession`` (cockpit/lab/drills/session.py) on the lab.

It starts a drill through the action runner (so read-only, confirmation and audit apply),
polls the drill's goal once a second like any source, notes when the trainee first looks at
the pane that shows the incident, and says the summary when the drill is resolved.
``DrillRunner`` is a mixin of ``cockpit.app.CockpitApp`` and imports nothing from Textual:
its work runs in the app's workers (``run_worker``), as ``@work`` would run it.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Protocol

log = logging.getLogger(__name__)


class _Host(Protocol):
    drill: Any  # the running DrillSession, if any
    lab: Any
    runner: Any  # cockpit.actions.ActionRunner
    profile: Any
    hub: Any

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def run_worker(self, work: Any, name: str | None = "", group: str = "default", description: str = "",
                   exit_on_error: bool = True, start: bool = True, exclusive: bool = False,
                   thread: bool = False) -> Any: ...

    async def _run_drill(self, name: str) -> None: ...

    async def _abort_drill(self) -> None: ...


class DrillRunner:
    drill: Any = None  # the running DrillSession, if any

    def start_drill(self: _Host, name: str) -> Any:
        return self.run_worker(partial(self._run_drill, name), name="start_drill", group="drill",
                               exclusive=True, exit_on_error=False)

    async def _run_drill(self: _Host, name: str) -> None:
        from cockpit.hub import describe_error
        from cockpit.lab.drills import DRILLS, DrillSession, describe_summary

        if self.drill is not None and not self.drill.finished:
            self.notify(f"drill {self.drill.drill.name} is still running", severity="warning")
            return
        drill = DRILLS[name]
        session = DrillSession(
            drill, self.lab, self.runner.audit, self.profile, actions_running=self.runner.running,
            runner=self.runner,
        )
        try:
            outcome = await session.start()
        except Exception as e:
            message, hint = describe_error(e)
            self.notify(f"{message}\n{hint}", title=f"drill {name} not started", severity="error")
            return
        if not outcome.ok:  # read-only refused it, the user cancelled, or a dry run showed it
            severity = "information" if outcome.status == "dry-run" else "warning" if (
                "cancelled" in outcome.message) else "error"
            self.notify(outcome.message, title=f"drill {name}: {outcome.status}", severity=severity)
            return
        self.drill = session
        self.notify(f"{drill.title}\nGoal: {drill.goal_text}", title=f"drill started: {name}", timeout=20)
        if self.hub is not None:
            self.hub.refresh_now()
        while not session.finished:
            try:
                if await session.check():
                    break
            except Exception as e:  # a check that fails once is retried, and said
                message, _ = describe_error(e)
                self.notify(f"drill check failed: {message}", severity="warning", timeout=5)
            await asyncio.sleep(1)  # the goal is polled like any source, once a second
        if session.ended == "resolved":
            self.notify(describe_summary(session.summary()), title=f"drill {name}: resolved", timeout=30)

    def abort_drill(self: _Host) -> Any:
        return self.run_worker(self._abort_drill, name="abort_drill", group="drill-abort", exit_on_error=False)

    async def _abort_drill(self: _Host) -> None:
        if self.drill is not None:
            await self.drill.abort()
            self.notify(f"drill {self.drill.drill.name} aborted", severity="warning")

    def note_focus_for_drill(self: _Host, name: str) -> None:
        if self.drill is not None and not self.drill.finished and name in self.drill.drill.detect_on:
            self.drill.note_detected()

    async def _stop_drill(self: _Host) -> None:
        """At quit: a running drill is aborted, so the lab is left as it was."""
        if self.drill is not None and not self.drill.finished:
            try:
                await self.drill.abort()
            except Exception as e:  # quitting must not fail on a drill's cleanup
                log.warning("drill abort failed: %s", e)
