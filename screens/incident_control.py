"""The incident controller: `incident: start` / `incident: resolve`, the banner and its clock,
and the war room look an incident turns on.

An incident lives in the cockpit screen's incident banner (title, severity, started and
resolved times, the running clock); its start and resolution go to the audit log as notes,
so the incident timeline shows them. ``IncidentControl`` is a mixin of
``cockpit.app.CockpitApp``; ``_Host`` says what it uses there.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from textual import work


class _Host(Protocol):
    cockpit: Any  # screens.main.CockpitScreen
    runner: Any  # cockpit.actions.ActionRunner
    profile: Any
    _feed: Any  # set for a watcher or a replay: nothing of theirs is recorded
    theme: str
    _theme_before_war_room: str

    @property
    def war_room(self) -> bool: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    async def push_screen_wait(self, screen: Any) -> Any: ...

    def action_toggle_war_room(self) -> None: ...

    def _note(self, summary: str) -> None: ...

    def _refused_for_watchers(self) -> bool: ...

    async def _page_incident(self, title: str, severity: str, started: float) -> None: ...


class IncidentControl:
    _theme_before_war_room: str

    @property
    def war_room(self: _Host) -> bool:
        return bool(self.cockpit.has_class("-war-room"))

    def action_toggle_war_room(self: _Host) -> None:
        on = not self.war_room
        self.cockpit.set_class(on, "-war-room")
        if on:
            self._theme_before_war_room = self.theme
            self.theme = "war-room"
        else:
            self.theme = self._theme_before_war_room
        self.cockpit.refresh_status()

    @work(group="incident", exit_on_error=False)
    async def action_incident_start(self: _Host) -> None:
        from screens.incident import IncidentStartScreen
        from widgets.incident import Incident

        if self._refused_for_watchers():
            return
        answer = await self.push_screen_wait(IncidentStartScreen())
        if answer is None:
            return
        title, severity = answer
        incident = Incident(title, severity, time.time())
        self.cockpit.incident_banner.start(incident)
        if not self.war_room:
            self.action_toggle_war_room()
        self._note(f"incident started: {severity} {title}")
        await self._page_incident(title, severity, incident.started)

    async def _page_incident(self: _Host, title: str, severity: str, started: float) -> None:
        """PagerDuty is paged when the profile says ``trigger_on_incident`` (audited as notes)."""
        from cockpit.integrations.paging import page_incident_start

        try:
            said = await page_incident_start(self.profile, title, severity, started, self._note,
                                             dry_run=bool(getattr(self, "dry_run", False)))
        except Exception as e:
            self.notify(str(e), severity="error")
            return
        if said:
            self.notify(said)

    def action_incident_resolve(self: _Host) -> None:
        from widgets.incident import clock_text

        if self._refused_for_watchers():
            return
        banner = self.cockpit.incident_banner
        inc = banner.incident
        if inc is None or inc.resolved is not None:
            self.notify("no open incident: start one with incident: start", severity="warning")
            return
        now = time.time()
        banner.resolve(now)
        self._note(f"incident resolved: {inc.severity} {inc.title} after {clock_text(now - inc.started)}")

    def _refused_for_watchers(self: _Host) -> bool:
        """A watcher (or a replay) writes no notes: they would land in the operator's audit."""
        if self._feed is None:
            return False
        self.notify("a watcher records nothing: incidents and runbook steps are the driver's to record",
                    severity="warning")
        return True

    def _note(self: _Host, summary: str) -> None:
        if self._refused_for_watchers():
            return
        try:
            self.runner.audit.append({"type": "note", "profile": self.profile.name, "summary": summary})
        except Exception as e:
            self.notify(f"not recorded in the timeline: {e}", severity="error")
