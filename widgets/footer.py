"""The key footer, rebuilt only when what it shows changes.

Textual's Footer recomposes (new widgets, a style and layout pass: ~10 ms, more while a log
flood keeps the loop busy) every time the screen's bindings are refreshed, which happens on
focus changes, cursor moves and actions that refresh bindings, mostly with the same keys.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple[Any, ...] | None = None

    def _signature(self, screen: Any) -> tuple[Any, ...]:
        return tuple(
            (binding.key, binding.action, binding.description, enabled, tooltip)
            for (_, binding, enabled, tooltip) in screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Any) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self._signature(screen)
            if shown == self._shown:
                self._bindings_ready = True
                return
            self._shown = shown
        super().bindings_changed(screen)
