"""The k9s habits the cockpit keeps: the `:` command line with completion, `l` (a row's
logs) and the breadcrumb's hooks, as a mixin of the App so app.py stays small.

`:services`, `:alarms`, `:logs`, `:queues`, `:database` focus that pane; `:pods` and `:nodes`
open the Kubernetes screens; `:activity` the database activity; `:timeline` the incident
timeline; `:theme NAME` switches theme; `:profile NAME` reopens the cockpit on another
profile; anything else is run as the palette command of that title (`:service: restart api`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input

from cockpit.model import PaneKind
from widgets.breadcrumb import update_breadcrumb

if TYPE_CHECKING:
    from cockpit.app import CockpitApp

PANES = {"services": PaneKind.SERVICES, "alarms": PaneKind.ALARMS, "logs": PaneKind.LOGS,
         "queues": PaneKind.QUEUES, "database": PaneKind.DATABASE}
SCREENS = ("pods", "nodes", "activity", "timeline")


class CommandLine(ModalScreen[str | None]):
    """One line at the top: type, Tab (or →) takes the suggestion, Enter runs, Esc cancels."""

    DEFAULT_CSS = """
    CommandLine { align: center top; background: $background 40%; }
    CommandLine > Input { width: 100%; margin-top: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="command.cancel"),
        Binding("tab", "complete", "Complete", id="command.complete", priority=True),
    ]

    def __init__(self, words: list[str]) -> None:
        super().__init__()
        self.suggester = SuggestFromList(words, case_sensitive=False)
        self.input = Input(placeholder=": services alarms pods nodes activity timeline profile NAME theme NAME, "
                           "or a palette command", suggester=self.suggester, id="command-line")

    def compose(self) -> ComposeResult:
        yield self.input

    def on_mount(self) -> None:
        self.input.focus()

    async def action_complete(self) -> None:
        suggestion = await self.suggester.get_suggestion(self.input.value)
        if suggestion:
            self.input.value = suggestion
            self.input.cursor_position = len(suggestion)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip().removeprefix(":").strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def command_words(app: CockpitApp) -> list[str]:
    from cockpit.commands import all_commands
    from themes import THEMES

    words = [*PANES, *SCREENS, *(f"theme {name}" for name in THEMES),
             *(f"profile {name}" for name in getattr(app, "profile_names", ()) or (app.profile.name,))]
    return words + [cmd.title for cmd in all_commands(app.command_context())]


def run_command(app: CockpitApp, text: str) -> None:
    """Do what ``text`` (without the colon) names; say so when it names nothing."""
    from cockpit.commands import all_commands
    from themes import THEMES

    word, _, arg = text.partition(" ")
    word, arg = word.lower(), arg.strip()
    if word in PANES and not arg:
        _to_cockpit(app)
        app.cockpit.panes[PANES[word]].focus_body()
    elif word == "theme" and arg:
        if arg in THEMES:
            app.theme = arg
        else:
            app.notify(f"no theme {arg}: {', '.join(THEMES)}", severity="warning")
    elif word == "profile" and arg:
        switch_profile(app, arg)
    elif word == "timeline" and not arg:
        app.action_timeline()
    elif word == "activity" and not arg:
        _to_cockpit(app)
        app.action_database_activity()
    elif word == "pods" and not arg:
        _pods(app)
    elif word == "nodes" and not arg:
        _nodes(app)
    else:
        for cmd in all_commands(app.command_context()):
            if cmd.title.lower() == text.lower():
                cmd.run()
                return
        app.notify(f"no command {text}: Tab completes, Ctrl+P lists them all", severity="warning", timeout=5)


def _to_cockpit(app: CockpitApp) -> None:
    while len(app.screen_stack) > 1 and app.screen is not app.cockpit:
        app.pop_screen()


def _pods(app: CockpitApp) -> None:
    from screens.k8s import is_workload_source, open_workload_pods

    record = getattr(app.cockpit.panes[PaneKind.SERVICES], "selected", None)
    backend = app.backend_for(record)
    if record is None or not is_workload_source(backend):
        app.notify("pods: focus a Kubernetes workload in Services first", severity="warning", timeout=5)
        return
    open_workload_pods(app, backend, record)


def _nodes(app: CockpitApp) -> None:
    from cockpit.backends.base import NodesReader
    from screens.k8s import NodesScreen

    for src in app.hub.sources if app.hub else []:
        if isinstance(src, NodesReader):
            ctx = getattr(src, "ctx", None)
            title = getattr(src, "title", "")
            app.push_screen(NodesScreen(src, f"Nodes — context {getattr(ctx, 'name', title)}",
                                        app.make_banner()))
            return
    app.notify("nodes: no Kubernetes context in this profile", severity="warning", timeout=5)


def switch_profile(app: CockpitApp, name: str) -> None:
    """Quit this cockpit and open another profile's (cli.py reopens it: sources, lab and
    audit are per profile, so the whole app is rebuilt rather than patched)."""
    names = getattr(app, "profile_names", None)
    if name == app.profile.name:
        app.notify(f"already on profile {name}", timeout=3)
    elif not names:
        app.notify(f"profiles cannot be switched here: run cockpit --profile {name}", severity="warning")
    elif name not in names:
        app.notify(f"no profile {name}: {', '.join(names)}", severity="warning")
    else:
        app.next_profile = name
        app.run_worker(app.action_quit(), exit_on_error=False)


def show_row_logs(app: CockpitApp, record: Any) -> None:
    """`l` on a row: the workload's own log follow where the backend can, and the Logs pane
    filtered to the row."""
    from screens.k8s import is_workload_source, start_following

    backend = app.backend_for(record)
    if is_workload_source(backend) and hasattr(record, "cluster"):
        start_following(app, backend, record)
    logs = app.cockpit.logs
    name = str(getattr(record, "name", "") or "")
    logs.filter_input.add_class("-shown")
    logs.filter_input.value = name  # Input.Changed filters the pane, as typing would
    logs.focus_body()


class HabitsMixin:
    """Mixed into CockpitApp: the `:` action and the breadcrumb following the focus."""

    next_profile: str | None = None  # set by `:profile NAME`; cli.py opens it after this app quits
    profile_names: tuple[str, ...] = ()  # the config's profiles, when cli.py says them

    @work(group="command-line", exclusive=True, exit_on_error=False)
    async def action_command_line(self) -> None:
        app: CockpitApp = self  # type: ignore[assignment]
        text = await app.push_screen_wait(CommandLine(command_words(app)))
        if text:
            run_command(app, text)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        update_breadcrumb(self)  # type: ignore[arg-type]
