"""`e` on any screen: an explain panel docked on it, from the screen's own
``explain_sections()`` or, for a screen without one, from what it says about itself (its
docstring's first paragraph) and its keys."""

from __future__ import annotations

import inspect
from typing import Any

from textual.binding import Binding
from textual.screen import Screen

from cockpit.explain import ExplainSection
from widgets.explain import ExplainPanel


def screen_sections(screen: Screen) -> list[ExplainSection]:
    own = getattr(screen, "explain_sections", None)
    if callable(own):
        return list(own())
    about = (inspect.getdoc(type(screen)) or "").split("\n\n")[0].replace("\n", " ")
    keys = []
    for b in type(screen).BINDINGS:
        b = b if isinstance(b, Binding) else Binding(*b)
        if b.description:
            keys.append(f"{b.key_display or b.key}  {b.description}")
    title = str(getattr(screen, "title_text", "") or type(screen).__name__)
    return [ExplainSection(title, (about,) if about else ()), ExplainSection("Keys", tuple(keys) or ("esc back",))]


def toggle_explain(screen: Any) -> None:
    """Show or hide the explain panel of ``screen`` (mounted on first use)."""
    if not isinstance(screen, Screen) or screen.is_modal:
        return
    panels = list(screen.query_children(ExplainPanel))
    if panels:
        panel = panels[0]
    else:
        panel = ExplainPanel(classes="screen-explain")
        screen.mount(panel)
    panel.toggle_class("-shown")
    if panel.shown:
        panel.show(screen_sections(screen))
