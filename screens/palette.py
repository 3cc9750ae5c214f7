"""Command palette provider: actions on rows ("service: restart api") and cockpit commands.

Generated from the action registry and the rows on screen, never hand-listed, so a new
action appears here, in the footer, in help and in the explain layer at once. Titles carry
target names from the estate: they go to Textual as ``Content``, never as markup, so an
alert named ``[/x]`` shows as itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from cockpit.model import PaneKind
from cockpit.text import sanitize

if TYPE_CHECKING:
    from cockpit.app import CockpitApp

# Past this many rows only the focused row's actions are listed: 2,000 services times three
# actions would drown the palette, and the focused row is what the user meant anyway.
ALL_ROWS_LIMIT = 300
EXACT = 1e9  # Textual's fuzzy scores are unbounded; a full, exact title beats any of them


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


def highlight(matcher: Matcher, title: str) -> Content:
    """``Matcher.highlight`` without its markup parsing: the matched characters reversed."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if score:
        for offset in offsets:
            if not title[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def row_commands(app: CockpitApp) -> list[PaletteCommand]:
    from cockpit.actions import target_name
    from cockpit.registry import available_actions

    screen = app.cockpit
    focused = screen.focused_pane()
    selected = getattr(focused, "selected", None)
    rows: list[Any] = []
    if selected is not None:
        rows.append(selected)
    total = sum(len(getattr(p, "records", {})) for p in screen.panes.values())
    if total <= ALL_ROWS_LIMIT:
        for pane in screen.panes.values():
            rows += [r for r in getattr(pane, "records", {}).values() if r is not selected]
    out: list[PaletteCommand] = []
    for rec in rows:
        backend = app.backend_for(rec)
        for spec in available_actions(rec, backend, getattr(app, "action_specs", ())):
            out.append(
                PaletteCommand(
                    f"{spec.title} {target_name(rec, spec)}",
                    f"{spec.risk.value} · {spec.description}",
                    partial(app.request_action, spec, rec, "palette"),
                    focused=rec is selected,
                )
            )
    # The profile's own actions on no row: on the profile itself.
    from cockpit.custom_actions import no_target

    whole = no_target(app.profile)
    for spec in available_actions(whole, None, getattr(app, "action_specs", ())):
        out.append(PaletteCommand(spec.title, f"{spec.risk.value} · {spec.description}",
                                  partial(app.request_action, spec, whole, "palette")))
    return out


def cockpit_commands(app: CockpitApp) -> list[PaletteCommand]:
    from themes import THEMES

    out = [
        PaletteCommand("pane: maximise or restore", "z: the focused pane fills the screen",
                       app.cockpit.action_toggle_maximize),
        PaletteCommand("logs: follow", "jump to the newest log line and follow",
                       app.cockpit.logs.view.action_follow),
        PaletteCommand("help: keys", "?: every key and action", app.action_help),
    ]
    out += [
        PaletteCommand(f"theme: {name}", "switch the colour theme", partial(setattr, app, "theme", name))
        for name in THEMES
    ]
    out += app.extra_palette_commands()
    return out


def source_commands(app: CockpitApp) -> list[PaletteCommand]:
    """Commands offered by what the profile's sources can do (and the lab, for drills)."""
    sources = app.hub.sources if app.hub else []
    out: list[PaletteCommand] = []
    for src in app.hub.log_sources if app.hub else []:
        if callable(getattr(src, "search_blocking", None)):
            out.append(PaletteCommand(f"logs: search ({src.title})",
                                      "the last N hours, filtered server-side, cancellable",
                                      partial(app.search_logs, src)))
    out += k8s_commands(app)
    contexts = {id(c): c for s in sources
                if (c := getattr(s, "ctx", None)) is not None and hasattr(c, "total_calls")}
    if contexts:
        async def load_calls() -> list:
            from cockpit.model import DetailSection

            sections = []
            for ctx in contexts.values():
                last = tuple((counter, name, str(n)) for counter, calls in sorted(ctx.calls.items())
                             for name, n in sorted(calls.items()))
                total = tuple((name, str(n)) for name, n in ctx.total_calls.most_common())
                sections.append(DetailSection("Last refresh, per source", ("source", "call", "count"), last))
                sections.append(DetailSection("Since start", ("call", "count"), total))
            return sections

        out.append(PaletteCommand("aws: api calls", "API calls per refresh and since start (cost and throttling)",
                                  partial(app.push_sections, "AWS API calls", load_calls)))
    if app.lab is not None:
        from cockpit.drills import DRILLS

        out += [PaletteCommand(f"drill: start {name}", f"{d.title}: {d.description}",
                               partial(app.start_drill, name)) for name, d in DRILLS.items()]
        if app.drill is not None and not app.drill.finished:
            out.append(PaletteCommand("drill: abort", "stop the running drill (recorded as aborted)",
                                      app.abort_drill))
    return out


def k8s_commands(app: CockpitApp) -> list[PaletteCommand]:
    """Nodes screens, and per Kubernetes workload row its pods and "follow its logs"."""
    from screens.k8s import (
        NodesScreen,
        is_workload_source,
        open_workload_pods,
        start_following,
        stop_following,
    )

    sources = app.hub.sources if app.hub else []
    out: list[PaletteCommand] = []
    for src in sources:
        if callable(getattr(src, "nodes_detail", None)) and callable(getattr(src, "node_ref", None)):
            out.append(PaletteCommand(
                f"k8s: nodes ({src.title})", "Ready, pressure, cordoned, CPU/memory; c/u cordon/uncordon",
                lambda src=src: app.push_screen(NodesScreen(
                    src, f"Nodes — context {getattr(src.ctx, 'name', src.title)}", app.make_banner()))))
    pane = app.cockpit.panes.get(PaneKind.SERVICES) if app.cockpit else None
    records = getattr(pane, "records", {}) or {}
    selected = getattr(pane, "selected", None)
    rows = [selected] if selected is not None else []
    if len(records) <= ALL_ROWS_LIMIT:
        rows += [r for r in records.values() if r is not selected]
    for rec in rows:
        src = app.backend_for(rec)
        if not is_workload_source(src):
            continue
        out.append(PaletteCommand(f"k8s: follow logs {rec.name}",
                                  "every pod of the workload, one container or all, in the Logs pane",
                                  partial(start_following, app, src, rec), focused=rec is selected))
        out.append(PaletteCommand(f"k8s: pods {rec.name}",
                                  "the workload's pods: previous log, delete, follow logs",
                                  partial(open_workload_pods, app, src, rec), focused=rec is selected))
    for ls in app.hub.log_sources if app.hub else []:
        if getattr(ls, "workload", None) and ":logs:" in ls.id:
            out.append(PaletteCommand(f"k8s: stop following {ls.title}", "remove it from the Logs pane",
                                      partial(stop_following, app, ls.id)))
    return out


class CockpitCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        app: CockpitApp = self.app  # type: ignore[assignment]
        return row_commands(app) + cockpit_commands(app)

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(Content(cmd.title), cmd.run, text=cmd.title,
                               help=Content(cmd.help))  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.title)
            if score > 0:
                if cmd.title.lower() == query.strip().lower():
                    score = EXACT  # typed in full: nothing fuzzier may outrank it
                elif cmd.focused:
                    score += 0.01  # the focused row breaks ties, never outranks a closer match
                yield Hit(score, highlight(matcher, cmd.title),
                          cmd.run, text=cmd.title, help=Content(cmd.help))  # type: ignore[arg-type]
