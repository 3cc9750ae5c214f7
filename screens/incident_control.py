"""The incident controller: `incident: start` / `incident: resolve`, the banner and its clock,
and the war room look an incident turns on.

An incident lives in the cockpit screen's incident banner (title, severity, started and
resolved times, the running clock); its start and resolution go to the audit log as notes,
so the incident timeline shows them. ``IncidentControl`` is a mixin of
``cockpit.app.CockpitApp``; ``_Host`` says what it uses there.

With the profile's ``notify:`` it also talks to the incident channel (Slack): ``incident: post
update`` and ``incident: post report`` (through the ActionRunner, confirmed, audited), and
the post an incident's start or resolution makes when ``post_on_start``/``post_on_resolve``
say so: audited like any action, and a post that fails is said without holding up the
incident.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from textual import work

REPORT_LEAD = timedelta(minutes=15)  # a report starts a little before the incident: the alarms
REPORT_WITHOUT_INCIDENT = timedelta(hours=2)  # as `cockpit timeline`'s default --since


class _Host(Protocol):
    cockpit: Any  # screens.main.CockpitScreen
    runner: Any  # cockpit.actions.ActionRunner
    profile: Any
    estate_profile: Any  # the profile with a lab's PagerDuty filled in (cockpit/app.py)
    _feed: Any  # set for a watcher or a replay: nothing of theirs is recorded
    notifier: Any  # cockpit.integrations.slack.SlackNotifier, or None without notify:
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

    def _resolve_page(self, started: float) -> Any: ...

    async def _say_page(self, paging: Awaitable[str]) -> None: ...

    def _auto_post(self, text: str, origin: str, consent: str) -> Any: ...

    def slack_channel(self, report: str = "", events: int = 0) -> Any: ...

    def request_action(self, spec: Any, target: Any, origin: str = "palette") -> Any: ...

    def publish_action(self, spec: Any, target: Any, outcome: Any) -> None: ...


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
        notify = self.profile.notify
        posts = self.notifier is not None and notify is not None and notify.post_on_start
        pd = self.estate_profile.pagerduty
        pages = pd is not None and pd.trigger_on_incident
        answer = await self.push_screen_wait(IncidentStartScreen(self.notifier.channel if posts else "",
                                                                 pages=pages))
        if answer is None:
            return
        title, severity = answer
        incident = Incident(title, severity, time.time())
        self.cockpit.incident_banner.start(incident)
        if not self.war_room:
            self.action_toggle_war_room()
        self._note(f"incident started: {severity} {title}")
        if posts and self.notifier is not None:
            from cockpit.integrations.slack import slack_escape

            self._auto_post(f":rotating_light: {severity} incident started: {slack_escape(title)} "
                            f"(ops cockpit, profile {self.profile.name})",
                            "incident: start", "profile notify.post_on_start")
        await self._page_incident(title, severity, incident.started)

    async def _page_incident(self: _Host, title: str, severity: str, started: float) -> None:
        """PagerDuty is paged when the profile says ``trigger_on_incident`` (audited as notes)."""
        from cockpit.integrations.paging import page_incident_start

        # The estate's profile: the lab fills in its PagerDuty there, after the profile was read.
        await self._say_page(page_incident_start(self.estate_profile, title, severity, started,
                                                 self._note, dry_run=bool(getattr(self, "dry_run", False))))

    @work(group="incident", exit_on_error=False)
    async def _resolve_page(self: _Host, started: float) -> None:
        """The page incident: start made is resolved with the incident (its dedup_key)."""
        from cockpit.integrations.paging import page_incident_resolve

        await self._say_page(page_incident_resolve(self.estate_profile, started, self._note,
                                                   dry_run=bool(getattr(self, "dry_run", False))))

    async def _say_page(self: _Host, paging: Awaitable[str]) -> None:
        # A failed page is said; the incident goes on without it.
        try:
            said = await paging
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
        self._resolve_page(inc.started)
        notify = self.profile.notify
        if self.notifier is not None and notify is not None and notify.post_on_resolve:
            from cockpit.integrations.slack import slack_escape

            self._auto_post(f":white_check_mark: {inc.severity} incident resolved: {slack_escape(inc.title)} "
                            f"after {clock_text(now - inc.started)} (ops cockpit, profile {self.profile.name})",
                            "incident: resolve", "profile notify.post_on_resolve")

    # --- the incident channel (profile key notify:) ----------------------------------------

    def open_notifier(self: _Host, profile: Any) -> None:
        """The profile's Slack notifier (the lab's profile points at the lab's Slack)."""
        from cockpit.integrations.slack import SlackNotifier

        notify = profile.notify
        old, self.notifier = self.notifier, None
        if old is not None:
            asyncio.ensure_future(old.aclose())
        if notify is not None and notify.slack_webhook is not None:
            self.notifier = SlackNotifier(notify)

    def slack_channel(self: _Host, report: str = "", events: int = 0) -> Any:
        """What a post acts on (None without a notifier): the channel the profile names."""
        from cockpit.integrations.slack import SlackChannel

        if self.notifier is None:
            return None
        return SlackChannel(self.notifier.channel, report=report, events=events)

    @work(group="notify", exit_on_error=False)
    async def _auto_post(self: _Host, text: str, origin: str, consent: str) -> None:
        from cockpit.registry import INCIDENT_NOTIFY

        target = self.slack_channel()
        outcome = await self.runner.request(INCIDENT_NOTIFY, target, {"text": text}, origin=origin,
                                            confirmed_by=consent)
        if outcome.ok:
            self.notify(f"posted to {target.name}", title="Slack", timeout=4)
        elif outcome.status == "dry-run":
            self.notify(f"dry run: {text!r} would be posted to {target.name}", title="Slack", timeout=8)
        else:  # the incident goes on: only the post is missing, and it says why
            self.notify(f"not posted to {target.name}: {outcome.message}", title="Slack",
                        severity="warning", timeout=15)
        self.publish_action(INCIDENT_NOTIFY, target, outcome)

    @work(group="notify", exit_on_error=False)
    async def post_report(self: _Host) -> None:
        """`incident: post report`: the timeline's Markdown report of the incident (or of the
        last two hours), made once here so the text confirmed is the text sent."""
        from cockpit.registry import INCIDENT_POST_REPORT
        from cockpit.timeline import build_timeline, one_cockpit, to_markdown

        if self.notifier is None:
            self.notify("no incident channel: the profile has no notify:", severity="warning")
            return
        inc = self.cockpit.incident_banner.incident
        if inc is not None:
            since = datetime.fromtimestamp(inc.started, UTC) - REPORT_LEAD
        else:
            since = datetime.now(UTC) - REPORT_WITHOUT_INCIDENT
        audit = self.runner.audit
        entries = await asyncio.to_thread(audit.read, since, self.profile.name)
        events = build_timeline(one_cockpit(entries, audit.session), live=audit.session)
        from cockpit.integrations.slack import from_markdown

        report = from_markdown(to_markdown(events, self.profile.name, title=inc.title if inc else "",
                                           declared=inc.severity if inc else ""))
        self.request_action(INCIDENT_POST_REPORT, self.slack_channel(report, len(events)))

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
