"""Command palette provider: ranks and renders the commands ``cockpit/commands.py`` builds
(actions on rows, "service: restart api", and cockpit commands).

Titles carry target names from the estate: they go to Textual as ``Content``, never as
markup, so an alert named ``[/x]`` shows as itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from widgets.host import CockpitHost

if TYPE_CHECKING:
    from cockpit.commands import PaletteCommand

EXACT = 1e9  # Textual's fuzzy scores are unbounded; a full, exact title beats any of them


def highlight(matcher: Matcher, title: str) -> Content:
    """``Matcher.highlight`` without its markup parsing: the matched characters reversed."""
    content = Content(title)
    score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    if score:
        for offset in offsets:
            if not title[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class CockpitCommands(Provider):
    _built: list[PaletteCommand] | None = None

    def _commands(self) -> list[PaletteCommand]:
        # Built once per opening (each opening makes a new provider), not per keystroke: an
        # action's availability may ask the row's backend (a rollback: is there a previous
        # revision?), for every row listed. The screen under the palette first: a detail
        # offers what it shows (its sessions too).
        if self._built is None:
            from cockpit.commands import all_commands

            own = getattr(self.screen, "palette_commands", None)
            self._built = (own() if callable(own) else []) + all_commands(
                cast(CockpitHost, self.app).command_context())
        return self._built

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
