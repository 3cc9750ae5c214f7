"""What panes and screens may ask of the app they run in, as a Protocol.

Widgets and screens are mounted in ``cockpit.app.CockpitApp``, but Textual types ``self.app``
as any ``App``; ``host(self)`` gives them the cockpit's own methods with their types,
without importing the app module (which imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from cockpit.commands import CommandContext


class CockpitHost(Protocol):
    def backend_for(self, record: Any) -> Any: ...

    def request_action(self, spec: Any, target: Any, origin: str = "palette",
                       params: dict[str, Any] | None = None) -> Any: ...

    def explain_sections(self, pane: Any) -> list[Any]: ...

    def publish_focus(self, pane: str, row: str | None) -> None: ...

    def record_runbook_step(self, runbook: Any, step: str, done: bool, target: str) -> None: ...

    def command_context(self) -> CommandContext: ...

    def note_focus_for_drill(self, name: str) -> None: ...


def host(node: DOMNode) -> CockpitHost:
    """The cockpit app ``node`` is mounted in."""
    return cast(CockpitHost, node.app)
