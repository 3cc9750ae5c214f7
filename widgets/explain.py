"""The explain panel (`e`): what the focused pane shows and which commands it replaces."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from cockpit.explain import ExplainSection
from cockpit.text import sanitize


class ExplainPanel(VerticalScroll):
    DEFAULT_CSS = """
    ExplainPanel {
        dock: right; width: 56; display: none;
        background: $surface; border-left: vkey $primary; padding: 0 1;
    }
    ExplainPanel.-shown { display: block; }
    ExplainPanel > Static { width: 1fr; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.body = Static("")
        self._shown: tuple[ExplainSection, ...] = ()

    def compose(self):
        yield self.body

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def show(self, sections: Sequence[ExplainSection]) -> None:
        if tuple(sections) == self._shown:
            return
        self._shown = tuple(sections)
        parts = [Text("Explain  (e hides)", style="bold")]
        for section in sections:
            parts.append(Text(""))
            parts.append(Text(sanitize(section.title, 200), style="bold underline"))
            for line in section.lines:
                parts.append(Text(sanitize(line, 2000)))
        self.body.update(Group(*parts))

    @property
    def text(self) -> str:
        return "\n".join([s.title for s in self._shown] + [ln for s in self._shown for ln in s.lines])
