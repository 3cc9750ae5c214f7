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
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from cockpit.custom_actions import no_target, outcome_view, profile_actions
from cockpit.drill_runner import DrillRunner
from cockpit.hub import Hub, LogBatch, SourceUpdate
from cockpit.integrations.slack import NOTIFY_SOURCE
from cockpit.model import LogLevel, PaneKind
from cockpit.profile import Profile
from cockpit.sinks import StreamSinks
from cockpit.sources import Sources, build_sources
from cockpit.text import sanitize, sanitize_block
from screens.habits import HabitsMixin
from screens.help import HelpScreen
from screens.hub_bridge import LOG_HOLD, LOG_PAINT_AT_ONCE, HubBridge, LogsArrived, SourceUpdated  # noqa: F401 (imported from here)
from screens.incident_control import IncidentControl
from screens.main import CockpitScreen
from screens.navigation import Navigation
from screens.palette import CockpitCommands
from screens.shell import ShellTerminal
from themes import CSS_PATH, LOUD_THEMES, THEMES, resolve_theme
from widgets import output
from widgets.banner import ProfileBanner
from widgets.pane import TablePane

if TYPE_CHECKING:
    from cockpit.commands import CommandContext, PaletteCommand

log = logging.getLogger(__name__)

SourcesFactory = Callable[[Profile, dict[str, str]], Sources]

FREEZE_AGAIN_S = 15.0  # after start-up's first answers: see CockpitApp._started_up


class BootFailed(Message):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__()
        self.message_text = message
        self.hint = hint


class CockpitApp(HabitsMixin, HubBridge, StreamSinks, IncidentControl, DrillRunner, Navigation, ShellTerminal,
                 App[int]):
    TITLE = "ops cockpit"
    CSS_PATH = str(CSS_PATH)
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {CockpitCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("colon", "command_line", "Command", key_display=":", show=False, id="app.command_line"),
        Binding("w", "toggle_war_room", "War room", id="app.war_room"),
        # Priority: a dialog is modal, and the confirmation is what a war room wants on record.
        Binding("ctrl+s", "save_screen", "Save screenshot", show=False, id="app.screenshot", priority=True),
        Binding("F", "toggle_follow_driver", "Follow driver", show=False, id="app.follow_driver"),
        Binding("e", "explain_screen", "Explain", show=False, id="app.explain"),
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
        self.notifier: Any = None
        # The profile as its sources see it: a lab's gets its PagerDuty, Sentry and Slack
        # only once the lab runs, and incident: start pages through that one.
        self.estate_profile = profile
        self.open_notifier(profile)  # the incident channel (notify:); a lab's once it runs
        self.action_specs: tuple = profile_actions(profile)  # the profile's own (actions:)
        self.alarm_tracker: Any = None  # built on the first alarm update, off the first frame
        for t in THEMES.values():
            self.register_theme(t)
        self.theme_name, self.theme_warning = resolve_theme(theme or profile.theme)
        self.theme = self.theme_name
        self._start_war_room = war_room
        self._init_sinks(profile, record, share)
        self._feed = feed
        self._screen_factory = screen_factory or CockpitScreen
        self._theme_before_war_room = self.theme_name
        self._open_bridge(self.profile.refresh, low_bandwidth)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        # Notices carry estate text (errors, a check's output, a peeked body, an alarm's
        # name): always plain and made safe, whatever the caller asked (Screen.notify passes
        # markup=True), so "[kworker/0:1]" shows, "[/x]" cannot break the screen and an
        # escape sequence cannot reach the terminal.
        super().notify(sanitize_block(str(message)), title=sanitize(str(title), 200), severity=severity,
                       timeout=timeout, markup=False)
        from screens.confirm import NoticeLine

        if self.screen_stack and isinstance(self.screen, NoticeLine):
            self.screen.show_notice(str(message), str(title), str(severity))

    # --- composition --------------------------------------------------------------------

    def make_banner(self) -> ProfileBanner:
        p = self.profile
        banner = ProfileBanner(
            p.name, p.description, production=p.production, lab=p.lab,
            read_only=p.read_only, dry_run=self.dry_run, low_bandwidth=self.low_bandwidth,
        )
        if (cockpit := getattr(self, "cockpit", None)) is not None:  # a detail's: who is on call too
            banner.set_oncall(cockpit.banner.oncall)
        return banner

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
        # Sources are built (their SDKs imported, in a thread that holds the GIL for much of
        # it) after the first frame is on screen, not while it is being painted.
        self.call_after_refresh(self.boot)

    def _check_staleness(self) -> None:
        # Only flips a pane's status line when it crosses the stale limit: no ticking text.
        self.cockpit.refresh_status()

    @work(exclusive=True, group="boot", exit_on_error=False)
    async def boot(self) -> None:
        if not gc.isenabled():  # cli.main turned it off while the first frame was built
            gc.freeze()  # what start-up made leaves the collector's view (see _started_up)
            gc.enable()
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
                self.estate_profile = profile
                self.open_notifier(profile)
                if profile.notify is not None and self.lab.extras.get("slack_page"):
                    self.notify(f"the lab's Slack channel {profile.notify.channel_hint}: "
                                f"{self.lab.extras['slack_page']} (open it in a browser)", timeout=12)
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
        self.action_specs = profile_actions(profile)  # a lab's: its AWS endpoint
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

    clock: Callable[[], float] = staticmethod(time.time)  # the replay swaps in its own
    rejected_frames = 0  # malformed stream frames a watcher skipped (screens/replay.py)
    # --- data flow ----------------------------------------------------------------------

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

    def on_boot_failed(self, message: BootFailed) -> None:
        self.notify(f"{message.message_text}\n{message.hint}", severity="error", timeout=30)
        for pane in self.cockpit.panes.values():
            pane.boot_error = _boot_error(message.message_text, message.hint)
            pane.refresh_status()

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
        from cockpit.lab.drills import DRILL_SOURCE

        if source_id == DRILL_SOURCE:  # a drill start acts on the lab itself
            return self.lab
        if source_id == NOTIFY_SOURCE:  # a post to the incident channel
            return self.notifier
        return self.hub.source(source_id) if self.hub else None

    async def _confirm(self, request) -> bool | str:
        from screens.confirm import make_confirmer

        answer = await make_confirmer(self)(request)
        if answer and not request.dry_run and not request.action.interactive:  # a shell says it
            # Progress: the runner now calls the backend; its result follows as a notice.
            self.notify(f"{request.action.title} {request.target}: running…", timeout=4)
        return answer

    def backend_for(self, record: Any) -> Any:
        source = getattr(record, "source", None)
        if source == NOTIFY_SOURCE:
            return self.notifier
        return self.hub.source(source) if self.hub and source else None

    @work(group="actions", exit_on_error=False)
    async def request_action(self, spec, target: Any, origin: str = "palette",
                             params: dict[str, Any] | None = None) -> None:
        """Every entry point (palette, row key) ends here, and here only in the runner."""
        from cockpit import shell
        from cockpit.actions import Risk

        if spec.interactive:
            shell.TERMINAL.set(self.run_in_terminal)  # this worker's, not a process global
        # Read-only, or a reason it cannot run now (a post too soon after the last), refuses
        # before asking anything: the runner says so and audits it.
        if spec.interactive and params is None and not self.runner.read_only:
            from screens.shell import shell_params

            params = await shell_params(self, target, self.backend_for(target))
            if params is None:
                return
        elif params is None and spec.params and (spec.risk is Risk.READ or not self.runner.read_only) and \
                spec.unavailable_reason(self.backend_for(target), target) is None:
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
        # Back from a shell that ended well, the screen is as it was: nothing on top of it, and
        # no refresh out of turn (the audit has the shell's start, end and exit status).
        quiet = spec.interactive and outcome.ok
        # The message can carry estate text (a check's output, an error): never parse markup.
        if not quiet:
            self.notify(outcome.message, title=f"{spec.title}: {outcome.status}", severity=severity,
                        timeout=8 if outcome.ok else 15)
        if outcome.ok and self.hub is not None and not quiet:
            self.hub.refresh_now(getattr(target, "source", None))
        self._tell_screens("after_action", target, outcome)  # an open detail shows the result
        if (view := outcome_view(spec, target, outcome)) is not None:  # a profile action's output
            self.push_sections(*view)
        self.publish_action(spec, target, outcome)

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

    # --- the palette: its commands are built by cockpit/commands.py, run by screens/navigation.py

    def command_context(self) -> CommandContext:
        """What the palette's commands are built from, at the moment it opens."""
        from cockpit.commands import CommandContext, PaneRows

        screen = self.cockpit
        focused = screen.focused_pane()
        panes = {kind: PaneRows(tuple(pane.records.values()), pane.selected)
                 for kind, pane in screen.panes.items() if isinstance(pane, TablePane)}
        return CommandContext(
            verbs=self, backend_for=self.backend_for, panes=panes,
            focused=focused.selected if isinstance(focused, TablePane) else None,
            sources=self.hub.sources if self.hub else (), log_sources=self.hub.log_sources if self.hub else (),
            lab=self.lab is not None, drill_running=self.drill is not None and not self.drill.finished,
            themes=tuple(THEMES), action_specs=self.action_specs, whole=no_target(self.profile),
            slack=self.slack_channel(),
        )

    def extra_palette_commands(self) -> list[PaletteCommand]:
        from cockpit.commands import extra_commands

        return extra_commands(self.command_context())

    def action_explain_screen(self) -> None:  # `e` on a screen without its own explain
        from screens.explain_any import toggle_explain

        toggle_explain(self.screen)

    def action_help(self) -> None:
        # A detail's own keys first: there `1` acknowledges a page, not "Pane 1".
        here = [] if self.screen is getattr(self, "cockpit", None) else [
            (b.key_display or b.key, b.description)
            for bs in self.screen._bindings.key_to_bindings.values() for b in bs if b.description and b.show]
        sections = self.help_sections()
        self.push_screen(HelpScreen([("This screen", here), *sections] if here else sections, self.make_banner()))

    def help_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        from screens.help import help_sections
        from screens.main import CockpitScreen as _S
        from widgets.keyed_table import KeyedTable as _K
        from widgets.logview import LogView as _L
        from widgets.pane import Pane as _P
        from widgets.pane import TablePane as _T

        mode = "read-only: every change is refused" if self.runner.read_only else (
            "dry-run: actions are shown and audited, not run" if self.dry_run else "actions run after confirmation")
        return help_sections([*self.BINDINGS, *_S.BINDINGS, *_P.BINDINGS, *_T.BINDINGS, *_K.BINDINGS, *_L.BINDINGS], mode,
                             self.action_specs)

    async def action_quit(self) -> None:
        from screens.incident import QuitScreen, serious_open_incident

        incident = self.cockpit.incident_banner.incident if hasattr(self, "cockpit") else None
        if incident is not None and serious_open_incident(incident) and not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(incident), callback=self._quit_if)
            return
        await self.shutdown()
        self.exit(0)

    async def _quit_if(self, quit_anyway: bool | None) -> None:
        if quit_anyway:
            await self.shutdown()
            self.exit(0)

    async def shutdown(self) -> None:
        await self._stop_drill()
        await self._close_sinks()
        hub, self.hub = self.hub, None  # taken first: a second shutdown finds nothing to do
        self._close_bridge()
        if hub is not None:
            await asyncio.wait_for(hub.stop(), 20)
        notifier, self.notifier = self.notifier, None
        if notifier is not None:
            await notifier.aclose()
        lab, self.lab = self.lab, None
        if lab is not None:
            await asyncio.to_thread(lab.stop)

    async def on_unmount(self) -> None:
        await self.shutdown()


def _boot_error(message: str, hint: str):
    from cockpit.model import Severity

    return Severity.CRITICAL, f"✖ start-up failed: {message}" + (f" · {hint}" if hint else "")
