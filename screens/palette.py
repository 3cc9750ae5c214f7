"""Command palette provider: actions on rows ("service: restart api") and cockpit commands.

Generated from the action registry and the rows on screen, never hand-listed, so a new
action appears here, in the footer, in help and in the explain layer at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

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


def row_commands(app: CockpitApp) -> list[PaletteCommand]:
    from cockpit.actions import available_actions, target_name

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
        for spec in available_actions(rec, backend):
            out.append(
                PaletteCommand(
                    f"{spec.title} {target_name(rec, spec)}",
                    f"{spec.risk.value} · {spec.description}",
                    partial(app.request_action, spec, rec, "palette"),
                    focused=rec is selected,
                )
            )
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
    for src in sources:
        nodes = getattr(src, "nodes_detail", None)
        if callable(nodes):
            async def load_nodes(nodes=nodes) -> list:
                return [await nodes()]

            out.append(PaletteCommand(
                f"k8s: nodes ({src.title})", "Ready, pressure conditions, cordoned, CPU/memory",
                partial(app.push_sections, f"Nodes — {src.title}", load_nodes)))
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


class CockpitCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        app: CockpitApp = self.app  # type: ignore[assignment]
        return row_commands(app) + cockpit_commands(app)

    async def discover(self) -> Hits:
        for cmd in self._commands():
            yield DiscoveryHit(cmd.title, cmd.run, help=cmd.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for cmd in self._commands():
            score = matcher.match(cmd.title)
            if score > 0:
                if cmd.title.lower() == query.strip().lower():
                    score = EXACT  # typed in full: nothing fuzzier may outrank it
                elif cmd.focused:
                    score += 0.01  # the focused row breaks ties, never outranks a closer match
                yield Hit(score, matcher.highlight(cmd.title),
                          cmd.run, text=cmd.title, help=cmd.help)
