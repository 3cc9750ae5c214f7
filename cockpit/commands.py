"""The command palette's commands, built from the action registry and what is on screen.

Each command is a title, a line of help and what it runs. They are built here, without
Textual, from a narrow ``CommandContext``: the rows of each pane and the focused row, the
profile's sources, the lab and drill state, the themes, and ``Verbs`` (the app's methods a
command runs). ``screens/palette.py`` only ranks and renders them: titles carry target names
from the estate and go to Textual as ``Content``, never as markup.

Generated from the action registry and the rows on screen, never hand-listed, so a new action
appears in the palette, the footer, help and the explain layer at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from cockpit.backends.base import PodsReader, WorkloadLogsFollowable
from cockpit.model import PaneKind, PaneRecord
from cockpit.text import sanitize

# Past this many rows only the focused row's actions are listed: 2,000 services times three
# actions would drown the palette, and the focused row is what the user meant anyway.
ALL_ROWS_LIMIT = 300


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], Any]
    focused: bool = False  # the focused row's own actions win ties

    def __post_init__(self) -> None:
        # Titles and help name targets, sources, drills: plain, safe text, whoever built them.
        object.__setattr__(self, "title", sanitize(self.title, 300))
        object.__setattr__(self, "help", sanitize(self.help, 500))


class Verbs(Protocol):
    """What the commands run: methods of ``cockpit.app.CockpitApp``, called when chosen."""

    def request_action(self, spec: Any, target: Any, origin: str = "palette") -> Any: ...

    def search_logs(self, source: Any) -> Any: ...

    def push_sections(self, title: str, load: Callable[[], Awaitable[list[Any]]]) -> None: ...

    def start_drill(self, name: str) -> Any: ...

    def abort_drill(self) -> Any: ...

    def open_nodes(self, source: Any) -> None: ...

    def follow_workload_logs(self, source: Any, record: Any) -> None: ...

    def open_workload_pods(self, source: Any, record: Any) -> None: ...

    def stop_following(self, log_source_id: str) -> None: ...

    def toggle_maximize(self) -> None: ...

    def follow_logs(self) -> None: ...

    def set_theme(self, name: str) -> None: ...

    def toggle_explain(self) -> None: ...

    def action_help(self) -> None: ...

    def action_database_activity(self) -> None: ...

    def action_incident_start(self) -> Any: ...

    def action_incident_resolve(self) -> None: ...

    def action_toggle_war_room(self) -> None: ...

    def action_save_screen(self) -> None: ...

    def action_timeline(self) -> None: ...

    def post_report(self) -> Any: ...


@dataclass(frozen=True)
class PaneRows:
    """One pane's rows, and the one its cursor is on."""

    records: Sequence[PaneRecord] = ()
    selected: PaneRecord | None = None


@dataclass(frozen=True)
class CommandContext:
    """What the palette's commands are built from: the app's state at the moment it opens."""

    verbs: Verbs
    backend_for: Callable[[Any], Any]  # the source a row came from, or None
    panes: Mapping[PaneKind, PaneRows] = field(default_factory=dict)
    focused: Any = None  # the focused pane's selected row: its actions win ties
    sources: Sequence[Any] = ()
    log_sources: Sequence[Any] = ()
    lab: bool = False  # drills need the lab
    drill_running: bool = False
    themes: Sequence[str] = ()
    action_specs: tuple[Any, ...] = ()  # the profile's own actions (its actions:)
    whole: Any = None  # what a profile action on no row acts on (the profile itself)
    slack: Any = None  # the incident channel (profile key notify:), or None


def is_workload_source(source: object) -> bool:
    """A source whose rows are Kubernetes workloads with pods and logs to follow."""
    return isinstance(source, PodsReader) and isinstance(source, WorkloadLogsFollowable)


def all_commands(ctx: CommandContext) -> list[PaletteCommand]:
    """Everything the palette offers: the rows' actions, then the cockpit's commands."""
    return row_commands(ctx) + cockpit_commands(ctx)


def row_commands(ctx: CommandContext) -> list[PaletteCommand]:
    from cockpit.actions import target_name
    from cockpit.registry import available_actions

    selected = ctx.focused
    rows: list[Any] = []
    if selected is not None:
        rows.append(selected)
    total = sum(len(p.records) for p in ctx.panes.values())
    if total <= ALL_ROWS_LIMIT:
        for pane in ctx.panes.values():
            rows += [r for r in pane.records if r is not selected]
    out: list[PaletteCommand] = []
    for rec in rows:
        backend = ctx.backend_for(rec)
        for spec in available_actions(rec, backend, ctx.action_specs):
            out.append(
                PaletteCommand(
                    f"{spec.title} {target_name(rec, spec)}",
                    f"{spec.risk.value} · {spec.description}",
                    partial(ctx.verbs.request_action, spec, rec, "palette"),
                    focused=rec is selected,
                )
            )
    if ctx.whole is not None:  # the profile's own actions on no row
        for spec in available_actions(ctx.whole, None, ctx.action_specs):
            out.append(PaletteCommand(spec.title, f"{spec.risk.value} · {spec.description}",
                                      partial(ctx.verbs.request_action, spec, ctx.whole, "palette")))
    return out


def cockpit_commands(ctx: CommandContext) -> list[PaletteCommand]:
    verbs = ctx.verbs
    out = [
        PaletteCommand("pane: maximise or restore", "z: the focused pane fills the screen", verbs.toggle_maximize),
        PaletteCommand("logs: follow", "jump to the newest log line and follow", verbs.follow_logs),
        PaletteCommand("help: keys", "?: every key and action", verbs.action_help),
    ]
    out += [
        PaletteCommand(f"theme: {name}", "switch the colour theme", partial(verbs.set_theme, name))
        for name in ctx.themes
    ]
    out += extra_commands(ctx)
    return out


def extra_commands(ctx: CommandContext) -> list[PaletteCommand]:
    verbs = ctx.verbs
    return [
        PaletteCommand("database: activity", "sessions, blocking tree and slow queries of the focused database",
                       verbs.action_database_activity),
        *source_commands(ctx),
        PaletteCommand("incident: start", "open an incident: title, P1–P4, a running clock",
                       verbs.action_incident_start),
        PaletteCommand("incident: resolve", "stop the incident clock and record it in the timeline",
                       verbs.action_incident_resolve),
        PaletteCommand("screen: war room", "w: high-contrast theme, large Services and Alarms",
                       verbs.action_toggle_war_room),
        PaletteCommand("screen: save", "ctrl+s: save an SVG screenshot to the current directory",
                       verbs.action_save_screen),
        PaletteCommand("incident: timeline", "alarms and actions of this profile, exportable",
                       verbs.action_timeline),
        *slack_commands(ctx),
        PaletteCommand("help: explain", "e: what the focused pane shows and the commands it replaces",
                       verbs.toggle_explain),
    ]


def slack_commands(ctx: CommandContext) -> list[PaletteCommand]:
    """Posts to the incident channel, when the profile has one (notify:)."""
    if ctx.slack is None:
        return []
    from cockpit.registry import INCIDENT_POST_UPDATE

    return [
        PaletteCommand("incident: post update", f"change · post a status update to {ctx.slack.name} "
                       "(the text is shown and confirmed first)",
                       partial(ctx.verbs.request_action, INCIDENT_POST_UPDATE, ctx.slack, "palette")),
        PaletteCommand("incident: post report", f"change · post the incident report to {ctx.slack.name} "
                       "(shown and confirmed first)", ctx.verbs.post_report),
    ]


def source_commands(ctx: CommandContext) -> list[PaletteCommand]:
    """Commands offered by what the profile's sources can do (and the lab, for drills)."""
    verbs = ctx.verbs
    out: list[PaletteCommand] = []
    for src in ctx.log_sources:
        if callable(getattr(src, "search_blocking", None)):
            out.append(PaletteCommand(f"logs: search ({src.title})",
                                      "the last N hours, filtered server-side, cancellable",
                                      partial(verbs.search_logs, src)))
    out += k8s_commands(ctx)
    contexts = {id(c): c for s in ctx.sources
                if (c := getattr(s, "ctx", None)) is not None and hasattr(c, "total_calls")}
    if contexts:
        async def load_calls() -> list[Any]:
            from cockpit.model import DetailSection

            sections = []
            for aws in contexts.values():
                last = tuple((counter, name, str(n)) for counter, calls in sorted(aws.calls.items())
                             for name, n in sorted(calls.items()))
                total = tuple((name, str(n)) for name, n in aws.total_calls.most_common())
                sections.append(DetailSection("Last refresh, per source", ("source", "call", "count"), last))
                sections.append(DetailSection("Since start", ("call", "count"), total))
            return sections

        out.append(PaletteCommand("aws: api calls", "API calls per refresh and since start (cost and throttling)",
                                  partial(verbs.push_sections, "AWS API calls", load_calls)))
    if ctx.lab:
        from cockpit.lab.drills import DRILLS

        out += [PaletteCommand(f"drill: start {name}", f"{d.title}: {d.description}",
                               partial(verbs.start_drill, name)) for name, d in DRILLS.items()]
        if ctx.drill_running:
            out.append(PaletteCommand("drill: abort", "stop the running drill (recorded as aborted)",
                                      verbs.abort_drill))
    return out


def k8s_commands(ctx: CommandContext) -> list[PaletteCommand]:
    """Nodes screens, and per Kubernetes workload row its pods and "follow its logs"."""
    verbs = ctx.verbs
    out: list[PaletteCommand] = []
    for src in ctx.sources:
        if callable(getattr(src, "nodes_detail", None)) and callable(getattr(src, "node_ref", None)):
            out.append(PaletteCommand(
                f"k8s: nodes ({src.title})", "Ready, pressure, cordoned, CPU/memory; c/u cordon/uncordon",
                partial(verbs.open_nodes, src)))
    services = ctx.panes.get(PaneKind.SERVICES, PaneRows())
    selected = services.selected
    rows = [selected] if selected is not None else []
    if len(services.records) <= ALL_ROWS_LIMIT:
        rows += [r for r in services.records if r is not selected]
    for rec in rows:
        src = ctx.backend_for(rec)
        if not is_workload_source(src):
            continue
        out.append(PaletteCommand(f"k8s: follow logs {rec.name}",
                                  "every pod of the workload, one container or all, in the Logs pane",
                                  partial(verbs.follow_workload_logs, src, rec), focused=rec is selected))
        out.append(PaletteCommand(f"k8s: pods {rec.name}",
                                  "the workload's pods: previous log, delete, follow logs",
                                  partial(verbs.open_workload_pods, src, rec), focused=rec is selected))
    for ls in ctx.log_sources:
        if getattr(ls, "workload", None) and ":logs:" in ls.id:
            out.append(PaletteCommand(f"k8s: stop following {ls.title}", "remove it from the Logs pane",
                                      partial(verbs.stop_following, ls.id)))
    return out
