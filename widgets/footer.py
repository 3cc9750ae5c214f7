"""The key footer: one line of text, repainted only when the keys it shows change.

Textual's Footer is a container of one widget per key. Every time the screen's bindings
change (a Tab to another pane offers other keys) it recomposes: unmounts and mounts a dozen
widgets, applies CSS to each, lays out the screen again and repaints all of it. Measured on
Tab between panes: ~30 ms of the ~50 ms a press cost, and the whole screen re-sent to the
terminal. Here the keys are spans of one line: a change of keys repaints that line only.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget


class _Key(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool


class KeyFooter(Widget, can_focus=False):
    """Keys of the focused widget and its ancestors, as Textual's Footer shows them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"keyfooter--key", "keyfooter--description"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        & > .keyfooter--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keyfooter--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """
    ALLOW_SELECT = False

    def __init__(self, *, show_command_palette: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.show_command_palette = show_command_palette
        self.keys: tuple[_Key, ...] = ()
        self.palette: _Key | None = None
        self.generation = 0  # how many times the shown keys changed (tests read it)
        # Cell ranges of the keys as last rendered, for clicks: (start, end, key).
        self._spans: list[tuple[int, int, _Key]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Any) -> None:
        if not (self.is_attached and screen is self.screen and screen.app.app_focus):
            return
        app = screen.app
        active = screen.active_bindings
        palette_binding = app.COMMAND_PALETTE_BINDING if app.ENABLE_COMMAND_PALETTE else None
        keys: list[_Key] = []
        seen_actions: set[str] = set()
        for key, (_node, binding, enabled, _tooltip) in active.items():
            # One entry per action, as Footer does (a binding on two keys shows once).
            if not binding.show or binding.action in seen_actions:
                continue
            seen_actions.add(binding.action)
            if key == palette_binding and self.show_command_palette:
                continue
            keys.append(_Key(binding.key, app.get_key_display(binding), binding.description, enabled))
        palette = None
        if self.show_command_palette and palette_binding in active:
            _node, binding, enabled, _tooltip = active[palette_binding]
            palette = _Key(binding.key, app.get_key_display(binding), binding.description, enabled)
        if (tuple(keys), palette) != (self.keys, self.palette):
            self.keys, self.palette = tuple(keys), palette
            self.generation += 1
            self.refresh()

    def _piece(self, k: _Key, key_style: Style, desc_style: Style) -> Text:
        text = Text.assemble((f" {k.display} ", key_style), (f"{k.description} " if k.description else "", desc_style))
        if not k.enabled:
            text.stylize(Style(dim=True))
        return text

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keyfooter--key", partial=True)
        desc_style = self.get_component_rich_style("keyfooter--description", partial=True)
        width = self.size.width
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, _Key]] = []
        right = self._piece(self.palette, key_style, desc_style) if self.palette else None
        room = width - (right.cell_len + 1 if right is not None else 0)
        for k in self.keys:
            piece = self._piece(k, key_style, desc_style)
            if line.cell_len + piece.cell_len > room:
                break
            spans.append((line.cell_len, line.cell_len + piece.cell_len, k))
            line.append_text(piece)
        if right is not None:
            line.append(" " * max(0, width - line.cell_len - right.cell_len - 1))
            line.append("▕", Style(dim=True))
            spans.append((line.cell_len, line.cell_len + right.cell_len, self.palette))  # type: ignore[arg-type]
            line.append_text(right)
        self._spans = spans
        return line

    def on_resize(self) -> None:
        self.refresh()

    def key_at(self, x: int) -> _Key | None:
        for start, end, k in self._spans:
            if start <= x < end:
                return k
        return None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        k = self.key_at(event.x)
        if k is None:
            return
        event.stop()
        if k.enabled:
            self.app.simulate_key(k.key)
        else:
            self.app.bell()
