"""The Textual App: wires profile -> hub -> screens and registers commands.

Start-up order matters for the first frame: the screen is composed at once with every pane
saying "loading"; the lab and the backends (boto3 alone takes ~1 s to import) are started
by a worker after that first frame.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from cockpit.hub import Hub, LogBatch, SourceUpdate, Throttle
from cockpit.model import Alarm, LogLevel, PaneKind
from cockpit.profile import Profile
from cockpit.sources import Sources, build_sources
from cockpit.text import sanitize, sanitize_block
from screens.detail import DetailScreen
from screens.habits import HabitsMixin
from screens.help import HelpScreen
from screens.main import CockpitScreen
from screens.palette import CockpitCommands, PaletteCommand, source_commands
from themes import CSS_PATH, LOUD_THEMES, THEMES, resolve_theme
from widgets import output
from widgets.banner import ProfileBanner
from widgets.logview import LogView
from widgets.pane import Pane

log = logging.getLogger(__name__)

SourcesFactory = Callable[[Profile, dict[str, str]], Sources]

# Log lines that trickle in wait this long at most for the next ones (see CockpitApp._logs),
# well inside the two seconds from arrival to screen that issue 11 allows; this many waiting
# go at once.
LOG_HOLD = 1.5
LOG_PAINT_AT_ONCE = 20


FREEZE_AGAIN_S = 15.0  # after start-up's first answers: see CockpitApp._started_up


class SourceUpdated(Message):
    def __init__(self, update: SourceUpdate) -> None:
        super().__init__()
        self.update = update

    def can_replace(self, message: Message) -> bool:
        # A queued older state of the same source is superseded by this one.
        return isinstance(message, SourceUpdated) and message.update.source_id == self.update.source_id


class LogsArrived(Message):
    def __init__(self, batch: LogBatch) -> None:
        super().__init__()
        self.batch = batch


class BootFailed(Message):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__()
        self.message_text = message
        self.hint = hint


class CockpitApp(HabitsMixin, App[int]):
    TITLE = "ops cockpit"
    CSS_PATH = str(CSS_PATH)
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {CockpitCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("colon", "command_line", "Command", key_display=":", show=False, id="app.command_line"),
        Binding("w", "toggle_war_room", "War room", id="app.war_room"),
        Binding("ctrl+s", "save_screen", "Save screenshot", show=False, id="app.screenshot"),
        Binding("F", "toggle_follow_driver", "Follow driver", show=False, id="app.follow_driver"),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="app.next"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="app.previous"),
    ]

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        if driver is LinuxDriver:
            # The same driver, with an input thread that sleeps until a key comes.
            from widgets.driver import QuietInputDriver

            return QuietInputDriver
        return driver

    def __init__(
        self,
        profile: Profile,
        *,
        read_only: bool = False,
        dry_run: bool = False,
        theme: str | None = None,
        refresh: float | None = None,
        sources_factory: SourcesFactory | None = None,
        start_lab: Callable[[], Any] | None = None,
        war_room: bool = False,
        low_bandwidth: bool = False,
        record: str | None = None,
        share: str | None = None,
        feed: Callable[[CockpitApp], Awaitable[None]] | None = None,
        screen_factory: Callable[[ProfileBanner], CockpitScreen] | None = None,
    ) -> None:
        super().__init__()
        output.install()  # partial repaints send only the changed cells, with fewer SGR codes
        if refresh is not None:
            profile = replace(profile, refresh=refresh)
        if read_only:
            profile = replace(profile, read_only=True)
        if low_bandwidth:
            profile = replace(profile, refresh=max(profile.refresh, 10.0))
        self.low_bandwidth = low_bandwidth
        self.profile = profile
        self.dry_run = dry_run
        self._sources_factory = sources_factory or build_sources
        self._start_lab = start_lab
        self.lab: Any = None
        self.hub: Hub | None = None
        self.runner = self._make_runner()
        self.alarm_tracker: Any = None  # built on the first alarm update, off the first frame
        for t in THEMES.values():
            self.register_theme(t)
        self.theme_name, self.theme_warning = resolve_theme(theme or profile.theme)
        self.theme = self.theme_name
        self._start_war_room = war_room
        # The event stream: recorded, shared, or (for watchers and replays) the only input.
        from cockpit.stream import StreamEncoder

        self.encoder = StreamEncoder(profile.name)
        self.sinks: list[Any] = []
        self._record_path = record
        self._share_target = share
        self._feed = feed
        self._screen_factory = screen_factory or CockpitScreen
        self.share_server: Any = None
        self._theme_before_war_room = self.theme_name
        # Source updates on their way to the screen (see on_source_updated): held two seconds
        # at most, and never near the staleness limit (three refreshes) of a fast profile.
        # Two, not one: with a log line about every second, an update held one second raced
        # the next line and made a frame of its own a third of the time.
        hold = min(2.0, self.profile.refresh / 2)
        self._updates: Throttle[SourceUpdate] = Throttle(self._apply_updates, hold)
        self._shown_sources: set[str] = set()
        # Log lines on their way to the screen: the first after a quiet spell at once, the
        # ones that trickle in after it wait up to LOG_HOLD and go together (a frame costs
        # the same for one line as for twenty: with the lab's line a second, each was a frame
        # of its own, the larger part of the idle cockpit's CPU). A flood or a burst is not
        # held back (_take_logs).
        self._logs: Throttle[LogBatch] = Throttle(self._paint_logs, 2.0 if low_bandwidth else LOG_HOLD)
        self._last_paint_lines = 0

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:  # type: ignore[override]
        # Notices carry estate text (errors, a check's output, a peeked body, an alarm's
        # name): always plain and made safe, whatever the caller asked (Screen.notify passes
        # markup=True), so "[kworker/0:1]" shows, "[/x]" cannot break the screen and an
        # escape sequence cannot reach the terminal.
        super().notify(sanitize_block(str(message)), title=sanitize(str(title), 200), severity=severity,
                       timeout=timeout, markup=False)

    # --- composition --------------------------------------------------------------------

    def make_banner(self) -> ProfileBanner:
        p = self.profile
        return ProfileBanner(
            p.name, p.description, production=p.production, lab=p.lab,
            read_only=p.read_only, dry_run=self.dry_run, low_bandwidth=self.low_bandwidth,
        )

    def watch_theme(self, theme: str) -> None:
        # Status cells carry the theme's colours and (war room) capitals: redraw them now.
        screen = getattr(self, "cockpit", None)
        if screen is not None:
            for pane in screen.panes.values():
                pane.render_records()

    @property
    def loud_status(self) -> bool:
        return self.theme in LOUD_THEMES

    def on_mount(self) -> None:
        if os.environ.get("COCKPIT_TEST_HOOKS") == "1":  # the integrity oracle's reference
            from widgets import reference

            reference.install(self)
        self.cockpit = self._screen_factory(self.make_banner())
        from widgets import breadcrumb

        breadcrumb.install(self)
        if self.low_bandwidth:
            # Every visible log line costs a row over the link: show what needs a human
            # (WARN and above; `/` still searches the whole ring) and jump a page at a time.
            view = self.cockpit.logs.view
            view.keep_fraction = 0.2
            view.min_level = LogLevel.WARN
        self.push_screen(self.cockpit)
        if self.theme_warning:
            self.notify(self.theme_warning, severity="warning")
        self.set_interval(max(self.profile.refresh, 1.0), self._check_staleness, name="staleness")
        if self._start_war_room:
            self.action_toggle_war_room()
        self.boot()

    def _check_staleness(self) -> None:
        # Only flips a pane's status line when it crosses the stale limit: no ticking text.
        self.cockpit.refresh_status()

    @work(exclusive=True, group="boot", exit_on_error=False)
    async def boot(self) -> None:
        if self._feed is not None:  # a watcher or a replay: no backend exists in this process
            await self._feed(self)
            return
        profile = self.profile
        notes: dict[str, str] = {}
        try:
            await self._open_sinks()
            if profile.lab:
                starter = self._start_lab
                if starter is None:
                    starter = self._lab_starter()
                self.lab = await asyncio.to_thread(starter)
                # With the lab's local sources running already (on_servers), only the rest.
                profile = (self.lab.remote_profile if self.hub is not None else self.lab.profile)(profile)
                notes = dict(self.lab.notes)
            sources = await asyncio.to_thread(self._sources_factory, profile, notes)
        except Exception as e:  # shown on every pane; the cockpit stays usable
            from cockpit.hub import describe_error

            message, hint = describe_error(e)
            self.post_message(BootFailed(message, hint))
            return
        if self.hub is not None:  # the lab's local sources run already: add the rest
            for src in sources.sources:
                if not self.hub.add_source(src):
                    await src.close()  # a notice built again for the same pane; the running one stays
            for ls in sources.log_sources:
                if not self.hub.add_log_source(ls):
                    await ls.close()
            self._expect_sources(complete=True)
            return
        self._start_hub(sources, profile)

    def _expect_sources(self, complete: bool) -> None:
        """Tell each pane every source it will show, so its header counts the ones that have
        not answered yet; ``complete``: no more are coming (after the lab's AWS side)."""
        if self.hub is None:
            return
        by_pane: dict[PaneKind, list[SourceUpdate]] = {kind: [] for kind in self.cockpit.panes}
        for src in self.hub.sources:
            by_pane.setdefault(src.pane, []).append(self.hub.snapshot(src.id))
        for kind, pane in self.cockpit.panes.items():
            pane.expect(by_pane[kind], complete)

    def _start_hub(self, sources: Sources, profile: Profile, complete: bool = True) -> None:
        self.hub = Hub(
            sources.sources,
            sources.log_sources,
            on_update=self._hub_update,
            on_logs=self._hub_logs,
            interval=profile.refresh,
            timeout=profile.timeout,
            # Fewer, larger log batches: each costs one repaint whatever its size.
            log_flush_interval=2.0 if self.low_bandwidth else 0.25,
        )
        if not sources.log_sources:
            self.cockpit.logs.add_batch(LogBatch("none", "logs", error="no log sources configured",
                                                 hint="add log_groups, journal or logs to the profile"))
        self.hub.start()
        self._expect_sources(complete)

    def _lab_starter(self) -> Callable[[], Any]:
        """The embedded lab, whose PostgreSQL, Redis and this-machine panes start as soon as
        those servers answer, without waiting the two or three seconds of the AWS side."""
        import functools

        from cockpit.lab import start_lab

        loop = asyncio.get_running_loop()
        base = self.profile

        def on_servers(lab: Any) -> None:  # in the lab's starting thread
            profile = lab.local_profile(base)
            try:
                sources = self._sources_factory(profile, dict(lab.notes))
            except Exception:  # the full start reports it; nothing shown early
                log.exception("early lab sources failed")
                return
            loop.call_soon_threadsafe(self._start_hub, sources, profile, False)

        return functools.partial(start_lab, on_servers=on_servers)

    # --- the event stream -------------------------------------------------------------------

    async def _open_sinks(self) -> None:
        if self.profile.record and not self._record_path:
            from cockpit.audit import default_audit_path

            stamp = time.strftime("%Y%m%d-%H%M%S")
            folder = default_audit_path(self.profile).parent / "recordings"
            self._record_path = str(folder / f"{self.profile.name}-{stamp}.cz")
            self.notify(f"recording to {self._record_path}", timeout=6)
        if self._record_path:
            from cockpit.record import Recorder

            recorder = Recorder(self._record_path)
            recorder.header = [self.encoder.hello()]
            recorder.publish(self.encoder.hello())
            self.sinks.append(recorder)
        if self._share_target is not None:
            from cockpit.share import ShareServer, parse_target

            server = ShareServer(parse_target(self._share_target, self.profile.name), self.encoder.full_state)
            address = await server.start()
            self.share_server = server
            self.sinks.append(server)
            self.notify(f"sharing on {address}\nwatchers: {server.watch_command}", timeout=20)

    def publish(self, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        for sink in self.sinks:
            try:
                sink.publish(event)
            except Exception as e:  # a broken sink is said once and dropped, never blocks
                self.sinks.remove(sink)
                self.notify(f"stream output stopped: {e}", severity="error")

    def _hub_update(self, update: SourceUpdate) -> None:
        if self.sinks:
            self.publish(self.encoder.snapshot(update))
        self._from_hub(self._take_update, update)

    def _hub_logs(self, batch: LogBatch) -> None:
        if self.sinks:
            self.publish(self.encoder.logs(batch))
        self._from_hub(self._take_logs, batch)

    def _from_hub(self, take: Callable[[Any], None], item: Any) -> None:
        # Straight to the hold, not through the app's message queue: the hub runs on this
        # loop, and each message was a wake-up and a dispatch of its own (~210 a minute in
        # the idle lab) for what is mostly held anyway. A watcher's or a replay's updates
        # and lines still come as messages.
        if self.hub is None:  # shutting down: the screens may be going
            return
        try:
            take(item)
        except Exception as e:  # as a failing message handler would: shown, and the app ends
            self._handle_exception(e)

    clock: Callable[[], float] = staticmethod(time.time)  # the replay swaps in its own
    follow_driver = True  # a watcher follows the driver's focus until `F` turns it off
    rejected_frames = 0  # malformed stream frames a watcher skipped (screens/replay.py)

    def apply_stream_output(self, out: Any) -> None:
        """What a decoded stream event does on a watcher's or a replay's screen."""
        if isinstance(out, SourceUpdate):
            self.post_message(SourceUpdated(out))
        elif isinstance(out, LogBatch):
            self.post_message(LogsArrived(out))
        elif isinstance(out, dict) and out.get("kind") == "action":
            entry = out.get("entry", {})
            self.notify(f"{entry.get('title', entry.get('action'))} {entry.get('target', '')}: "
                        f"{entry.get('outcome')}", title="driver action", timeout=8)
        elif isinstance(out, dict) and out.get("kind") == "focus" and self.follow_driver:
            pane = self.cockpit.panes.get(PaneKind(out.get("pane", "services")))
            if pane is not None and self.screen is self.cockpit:
                pane.focus_body()

    def action_toggle_follow_driver(self) -> None:
        self.follow_driver = not self.follow_driver
        self.notify("following the driver's focus" if self.follow_driver else "moving on my own")

    def publish_focus(self, pane: str, row: str | None) -> None:
        if self.sinks:
            self.publish(self.encoder.focus(pane, row))

    # --- data flow ----------------------------------------------------------------------

    # An update goes to the screen at once after a quiet spell; the ones that follow within
    # update_hold wait and go together, or with the next log lines if those come first: the
    # lab's fifteen-odd sources refresh at their own moments, and each update was its own
    # frame (~125 a minute).
    @property
    def update_hold(self) -> float:
        return self._updates.interval

    @update_hold.setter
    def update_hold(self, seconds: float) -> None:
        self._updates.interval = seconds

    def on_source_updated(self, message: SourceUpdated) -> None:
        self._take_update(message.update)

    def _take_update(self, update: SourceUpdate) -> None:
        self._updates.add([update])
        if update.source_id not in self._shown_sources:
            # A source's first data is never held: at start-up the panes fill as fast as
            # their sources answer.
            self._shown_sources.add(update.source_id)
            self._updates.flush()
            if self.hub is not None and self._shown_sources >= {s.id for s in self.hub.sources}:
                self._started_up()

    _frozen = False
    # None: freeze in a terminal, not headless (a test process runs hundreds of apps; what
    # one froze would stay for the rest of the run).
    freeze_gc: bool | None = None

    def _started_up(self) -> None:
        """Every source has answered once: what start-up made (modules, SDK models, widgets)
        leaves the garbage collector's view.

        A full collection walks every tracked object; ~200,000 in the lab after start-up, so
        each one cost 80-90 ms of the UI thread, and the ones start-up's growth set off landed
        in the first minute (91 ms at 19 s in one run; four in the 1,000-service key bench).
        Frozen objects are still freed by reference counting; only a reference cycle among
        them that later becomes garbage is kept (start-up's state: bounded, once). Frozen
        again a little later, for what the first refreshes load after the first answers
        (SDK service models, metrics, the lab's second set of sources).
        """
        if not self._frozen and (self.freeze_gc if self.freeze_gc is not None else not self.is_headless):
            self._frozen = True
            gc.freeze()
            self.set_timer(FREEZE_AGAIN_S, gc.freeze)

    def _apply_updates(self, updates: list[SourceUpdate]) -> None:
        for update in updates:
            self._apply_update(update)

    def _apply_update(self, update: SourceUpdate) -> None:
        if update.pane is PaneKind.SERVICES and update.records and self.hub is not None:
            # PromQL series (error rate, p95) join the rows they describe, for the sparklines.
            from dataclasses import replace as _replace

            from cockpit.enrich import merge_service_metrics

            providers = [s for s in self.hub.sources if hasattr(s, "service_metrics")]
            if providers:
                update = _replace(update, records=merge_service_metrics(update.records, providers))
        self.cockpit.apply(update)
        self._tell_screens("source_updated", update)  # open details follow their row
        # Only the driver records alarm transitions: watchers and replays have no estate.
        if (self.hub is not None and update.pane is PaneKind.ALARMS
                and update.records is not None and not update.error):
            self._record_alarm_transitions(update)

    def _tell_screens(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on every screen of the stack that has it (live detail screens)."""
        for screen in self.screen_stack:
            method = getattr(screen, hook, None)
            if callable(method):
                method(*args)

    def _record_alarm_transitions(self, update: SourceUpdate) -> None:
        """Alarm state changes go to the audit log, so the incident timeline can be rebuilt."""
        alarms = [a for a in update.records or () if isinstance(a, Alarm)]
        try:
            if self.alarm_tracker is None:
                from cockpit.audit import AlarmTracker

                self.alarm_tracker = AlarmTracker(self.runner.audit, self.profile.name)
            self.alarm_tracker.observe(update.source_id, alarms)
        except Exception as e:  # the cockpit keeps working; the loss is said, not hidden
            self.notify(f"alarm transition not audited: {e}", severity="warning")

    def on_logs_arrived(self, message: LogsArrived) -> None:
        self._take_logs(message.batch)

    def _take_logs(self, batch: LogBatch) -> None:
        self._logs.add([batch])
        # A screenful goes at once, and so does whatever follows one: the last few lines of
        # a flood are not held back (the followers' own batching paces a flood's frames).
        if self._logs.pending and max(self._last_paint_lines, sum(
                len(b.records) for b in self._logs.pending)) >= LOG_PAINT_AT_ONCE:
            self._logs.flush()

    def _paint_logs(self, batches: list[LogBatch]) -> None:
        self._last_paint_lines = sum(len(b.records) for b in batches)
        self._updates.flush()  # held updates go in the same frame as these lines
        for batch in batches:
            self.cockpit.add_logs(batch)

    def on_boot_failed(self, message: BootFailed) -> None:
        self.notify(f"{message.message_text}\n{message.hint}", severity="error", timeout=30)
        for pane in self.cockpit.panes.values():
            pane.boot_error = _boot_error(message.message_text, message.hint)
            pane.refresh_status()

    def on_pane_open_detail(self, message: Pane.OpenDetail) -> None:
        from cockpit.backends.base import DetailProvider
        from cockpit.runbooks import match_runbooks

        record = message.record
        backend = self.backend_for(record)
        provider = backend if isinstance(backend, DetailProvider) else None
        names = (getattr(record, "name", ""), getattr(record, "resource", ""))
        runbooks = match_runbooks(self.profile.runbooks, *names)
        self.push_screen(DetailScreen(record, message.title, self.make_banner(), provider, runbooks))

    def record_runbook_step(self, runbook, step: str, done: bool, target: str) -> None:
        from cockpit.runbooks import record_step

        if self._refused_for_watchers():
            return
        try:
            record_step(self.runner.audit, self.profile.name, runbook, step, done, target)
        except Exception as e:
            self.notify(f"runbook step not recorded: {e}", severity="error")

    def on_log_view_open_line(self, message: LogView.OpenLine) -> None:
        self.push_screen(DetailScreen(message.line.record, "Log line", self.make_banner()))

    # --- actions ------------------------------------------------------------------------

    def _make_runner(self):
        from cockpit.actions import ActionRunner
        from cockpit.audit import AuditLog, default_audit_path

        return ActionRunner(
            profile=self.profile,
            audit=AuditLog(default_audit_path(self.profile), profile=self.profile.name),
            resolve_backend=self._resolve_backend,
            confirm=self._confirm,
            read_only=self.profile.read_only,
            dry_run=self.dry_run,
        )

    def _resolve_backend(self, source_id: str) -> Any:
        from cockpit.drills import DRILL_SOURCE

        if source_id == DRILL_SOURCE:  # a drill start acts on the lab itself
            return self.lab
        return self.hub.source(source_id) if self.hub else None

    async def _confirm(self, request) -> bool | str:
        from screens.confirm import make_confirmer

        answer = await make_confirmer(self)(request)
        if answer and not request.dry_run:
            # Progress: the runner now calls the backend; its result follows as a notice.
            self.notify(f"{request.action.title} {request.target}: running…", timeout=4)
        return answer

    def backend_for(self, record: Any) -> Any:
        source = getattr(record, "source", None)
        return self.hub.source(source) if self.hub and source else None

    @work(group="actions", exit_on_error=False)
    async def request_action(self, spec, target: Any, origin: str = "palette") -> None:
        """Every entry point (palette, row key) ends here, and here only in the runner."""
        from cockpit.actions import Risk

        params: dict[str, Any] | None = None
        # Read-only refuses before asking anything: the runner says so and audits it.
        if spec.params and (spec.risk is Risk.READ or not self.runner.read_only):
            from screens.confirm import ask_params

            params = await ask_params(self, spec, target, backend=self.backend_for(target))
            if params is None:
                self.notify(f"{spec.title}: cancelled", timeout=3)
                return
        outcome = await self.runner.request(spec, target, params, origin=origin)
        if outcome.status in ("ok", "dry-run"):
            severity = "information"
        elif "cancelled" in outcome.message:
            severity = "warning"
        else:
            severity = "error"
        # The message can carry estate text (a check's output, an error): never parse markup.
        self.notify(outcome.message, title=f"{spec.title}: {outcome.status}", severity=severity,
                    timeout=8 if outcome.ok else 15)
        if outcome.ok and self.hub is not None:
            self.hub.refresh_now(getattr(target, "source", None))
        self._tell_screens("after_action", target, outcome)  # an open detail shows the result
        if self.sinks:
            self.publish(self.encoder.action({"action": spec.id, "title": spec.title,
                                              "target": getattr(target, "name", ""), "outcome": outcome.status,
                                              "message": outcome.message, "command": outcome.command}))

    def explain_sections(self, pane: Pane) -> list:
        from cockpit.explain import explain

        sources = [s for s in (self.hub.sources if self.hub else []) if s.pane is pane.kind]
        if pane.kind is PaneKind.LOGS and self.hub:
            sources = self.hub.log_sources
        record = getattr(pane, "selected", None)
        sections = explain(pane.kind, sources, record, self.backend_for(record), self.profile.name)
        states = pane.source_lines()
        if states:  # every source's state, each error in full: the header only names them
            from cockpit.explain import ExplainSection

            sections.insert(1, ExplainSection("Sources now", states))
        return sections

    # --- database activity and drills ----------------------------------------------------

    def action_database_activity(self) -> None:
        from cockpit.model import DatabaseSnapshot
        from screens.database import open_activity

        pane = self.cockpit.panes[PaneKind.DATABASE]
        record = pane.selected
        if not getattr(record, "backend", "") == "postgres":
            record = next((r for r in pane.records.values()
                           if isinstance(r, DatabaseSnapshot) and r.backend == "postgres"), record)
        open_activity(self, record)

    def push_sections(self, title: str, load: Callable[[], Awaitable[list]]) -> None:
        """A read-only screen of sections a backend computes when it opens."""
        from screens.detail import SectionsScreen

        self.push_screen(SectionsScreen(title, self.make_banner(), load))

    @work(group="search", exit_on_error=False)
    async def search_logs(self, source: Any) -> None:
        from screens.search import SearchPrompt, SearchScreen

        answer = await self.push_screen_wait(SearchPrompt())
        if answer is not None:
            pattern, hours = answer
            self.push_screen(SearchScreen(source, pattern, hours, self.make_banner()))

    drill: Any = None  # the running DrillSession, if any

    @work(group="drill", exclusive=True, exit_on_error=False)
    async def start_drill(self, name: str) -> None:
        from cockpit.drills import DRILLS, DrillSession, describe_summary
        from cockpit.hub import describe_error

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

    @work(group="drill-abort", exit_on_error=False)
    async def abort_drill(self) -> None:
        if self.drill is not None:
            await self.drill.abort()
            self.notify(f"drill {self.drill.drill.name} aborted", severity="warning")

    def note_focus_for_drill(self, name: str) -> None:
        if self.drill is not None and not self.drill.finished and name in self.drill.drill.detect_on:
            self.drill.note_detected()

    # --- war room -------------------------------------------------------------------------

    @property
    def war_room(self) -> bool:
        return self.cockpit.has_class("-war-room")

    def action_toggle_war_room(self) -> None:
        on = not self.war_room
        self.cockpit.set_class(on, "-war-room")
        if on:
            self._theme_before_war_room = self.theme
            self.theme = "war-room"
        else:
            self.theme = self._theme_before_war_room
        self.cockpit.refresh_status()

    @work(group="incident", exit_on_error=False)
    async def action_incident_start(self) -> None:
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

    def action_incident_resolve(self) -> None:
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

    def _refused_for_watchers(self) -> bool:
        """A watcher (or a replay) writes no notes: they would land in the operator's audit."""
        if self._feed is None:
            return False
        self.notify("a watcher records nothing: incidents and runbook steps are the driver's to record",
                    severity="warning")
        return True

    def _note(self, summary: str) -> None:
        if self._refused_for_watchers():
            return
        try:
            self.runner.audit.append({"type": "note", "profile": self.profile.name, "summary": summary})
        except Exception as e:
            self.notify(f"not recorded in the timeline: {e}", severity="error")

    def action_save_screen(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = f"cockpit-{self.profile.name}-{stamp}.svg"
        path = self.save_screenshot(filename=name, path=".")
        self.notify(f"screenshot saved: {path}")

    def export_screenshot(self, *, title: str | None = None, simplify: bool = False) -> str:
        """Every screenshot (Ctrl+S, the palette's, a browser visitor's) leaves the terminal for
        a ticket or a chat: the masker reads it once more on its way out."""
        from cockpit.masking import mask_svg_text

        return mask_svg_text(super().export_screenshot(title=title, simplify=simplify))

    def extra_palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand("database: activity", "sessions, blocking tree and slow queries of the focused database",
                           self.action_database_activity),
            *source_commands(self),
            PaletteCommand("incident: start", "open an incident: title, P1–P4, a running clock",
                           self.action_incident_start),
            PaletteCommand("incident: resolve", "stop the incident clock and record it in the timeline",
                           self.action_incident_resolve),
            PaletteCommand("screen: war room", "w: high-contrast theme, large Services and Alarms",
                           self.action_toggle_war_room),
            PaletteCommand("screen: save", "ctrl+s: save an SVG screenshot to the current directory",
                           self.action_save_screen),
            PaletteCommand("incident: timeline", "alarms and actions of this profile, exportable",
                           self.action_timeline),
            PaletteCommand("help: explain", "e: what the focused pane shows and the commands it replaces",
                           self.cockpit.action_toggle_explain),
        ]

    def action_timeline(self) -> None:
        from screens.timeline import TimelineScreen

        self.push_screen(TimelineScreen(self.runner.audit, self.profile.name, banner=self.make_banner()))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections(), self.make_banner()))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        seen: set[str] = set()
        general: list[tuple[str, str]] = []
        from screens.main import CockpitScreen as _S
        from widgets.keyed_table import KeyedTable as _K
        from widgets.logview import LogView as _L
        from widgets.pane import Pane as _P
        from widgets.pane import TablePane as _T

        for binding in [*self.BINDINGS, *_S.BINDINGS, *_P.BINDINGS, *_T.BINDINGS, *_K.BINDINGS, *_L.BINDINGS]:
            b = binding if isinstance(binding, Binding) else Binding(*binding)
            if b.description and b.key not in seen:
                seen.add(b.key)
                general.append((b.key_display or b.key, b.description))
        general += [("enter", "Open the row's detail"), ("ctrl+p", "Command palette")]
        from cockpit.registry import REGISTRY

        actions = [
            (spec.key or "ctrl+p", f"{spec.title} ({spec.risk.value}) — {spec.description}")
            for spec in REGISTRY
        ]
        mode = "read-only: every change is refused" if self.runner.read_only else (
            "dry-run: actions are shown and audited, not run" if self.dry_run else "actions run after confirmation")
        return [("Cockpit", general), (f"Actions on the focused row ({mode})", actions)]

    async def action_quit(self) -> None:
        await self.shutdown()
        self.exit(0)

    async def shutdown(self) -> None:
        if self.drill is not None and not self.drill.finished:
            try:
                await self.drill.abort()
            except Exception as e:  # quitting must not fail on a drill's cleanup
                log.warning("drill abort failed: %s", e)
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            closer = getattr(sink, "stop", None) or getattr(sink, "close", None)
            result = closer() if closer else None
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, 5)
        hub, self.hub = self.hub, None  # taken first: a second shutdown finds nothing to do
        # Held lines and updates are dropped, not painted on screens that are going.
        self._logs.cancel()
        self._updates.cancel()
        if hub is not None:
            await asyncio.wait_for(hub.stop(), 20)
        lab, self.lab = self.lab, None
        if lab is not None:
            await asyncio.to_thread(lab.stop)

    async def on_unmount(self) -> None:
        await self.shutdown()


def _boot_error(message: str, hint: str):
    from cockpit.model import Severity

    return Severity.CRITICAL, f"✖ start-up failed: {message}" + (f" · {hint}" if hint else "")
