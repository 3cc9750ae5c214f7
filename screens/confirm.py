"""The confirmation modal and the parameter prompt every action passes through.

The modal names the profile (in the danger colour, with PRODUCTION, when it is one), the
action, the target, the parameters and the exact equivalent command. Cancel has the focus;
a typed confirmation enables Confirm only while the input holds the target's name, and the
modal returns the typed text so the ActionRunner checks it again itself.

Every string shown here is plain ``Text``: a target or command can come from the estate and
must never be parsed as markup.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from cockpit.actions import ActionSpec, Confirmer, ConfirmRequest, Risk, target_name
from cockpit.errors import CockpitError
from cockpit.text import sanitize, sanitize_block, sanitize_name

CONFIRM_CSS = """
ConfirmScreen, ParamsScreen {
    align: center middle;
    background: $background 60%;
}
#dialog {
    width: 84;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    /* Taller than the terminal (80x24): the body scrolls, the buttons stay in sight. */
    overflow-y: auto;
    scrollbar-size-vertical: 1;
    padding: 1 2;
    border: thick $warning;
    background: $surface;
}
ConfirmScreen.-danger #dialog {
    border: thick $error;
}
#dialog .title {
    text-style: bold;
    margin-bottom: 1;
}
#dialog .profile {
    text-style: bold;
}
#dialog .profile.-production {
    color: $error;
}
#dialog .risk-change {
    color: $warning;
    text-style: bold;
}
#dialog .risk-destructive {
    color: $error;
    text-style: bold;
}
#dialog .command {
    background: $panel;
    padding: 0 1;
    margin: 1 0;
}
#dialog .dry-run {
    color: $primary;
    text-style: bold;
}
#dialog .error {
    color: $error;
}
#dialog Input {
    margin-top: 1;
}
/* Toasts would cover the typed name or the buttons of a dialog that fills an 80x24 screen:
   a notice that comes while a dialog is open shows on the dialog's own line (show_notice),
   and toasts from before come back when it closes. */
ConfirmScreen Toast, ParamsScreen Toast {
    display: none;
}
#foot {
    dock: bottom;
    height: auto;
}
#notice {
    height: auto;
    margin-top: 1;
    max-height: 2;
    display: none;
    color: $text-muted;
}
#notice.-shown {
    display: block;
}
#notice.-warning {
    color: $warning;
}
#notice.-error {
    color: $error;
}
#buttons {
    height: auto;
    margin-top: 1;
    align-horizontal: right;
}
#buttons Button {
    margin-left: 2;
}
"""


def _field(label: str, value: str) -> Text:
    return Text.assemble((f"{label:<11}", "dim"), sanitize(value))


class NoticeLine:
    """A dialog that shows the app's notices on its own line instead of under toasts."""

    _notice: tuple[Text, str] = (Text(), "")

    def notice_line(self) -> Static:
        text, classes = self._notice
        return Static(text, id="notice", classes=classes)

    def show_notice(self, message: str, title: str = "", severity: str = "information") -> None:
        text = Text(f"{sanitize(title, 200)}: " if title else "", style="bold")
        text.append(sanitize_block(message))
        self._notice = (text, f"-shown -{severity}")
        assert isinstance(self, ModalScreen)
        # A notice may come between push_screen and compose: notice_line() then shows it.
        for line in self.query("#notice").results(Static):
            line.update(text)
            line.set_classes(self._notice[1])


class ConfirmScreen(NoticeLine, ModalScreen[bool | str]):
    """Returns False (cancelled), True (confirmed) or the typed name (typed confirmation)."""

    DEFAULT_CSS = CONFIRM_CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        # No letter confirms: a stray "y" typed into the wrong window must not run a change.
        # Confirming is Tab/arrows onto the Confirm button and Enter, or typing the name.
        Binding("left", "app.focus_previous", "Previous button", show=False, id="confirm.previous"),
        Binding("right", "app.focus_next", "Next button", show=False, id="confirm.next"),
    ]

    def __init__(self, request: ConfirmRequest) -> None:
        super().__init__()
        self.request = request
        danger = request.action.risk is Risk.DESTRUCTIVE or request.production
        self.set_class(danger, "-danger")

    def compose(self) -> ComposeResult:
        req = self.request
        risk = req.action.risk
        with Vertical(id="dialog"):
            yield Static(Text(f"Confirm {req.action.title}"), classes="title")
            profile = Text.assemble(("profile    ", "dim"), req.profile)
            if req.production:
                profile.append("  PRODUCTION")
            yield Static(
                profile,
                id="profile",
                classes="profile" + (" -production" if req.production else ""),
            )
            yield Static(_field("action", req.action.title), id="action")
            yield Static(_field("target", req.target), id="target")
            if req.estate:
                yield Static(_field("estate", req.estate), id="estate")
            if req.destroys:
                yield Static(_field("destroys", req.destroys), id="destroys", classes="risk-destructive")
            shown = ", ".join(f"{k}={v}" for k, v in req.params.items() if v != "")  # unset: not said
            if req.preview:
                # What will go out, whole and as it will read: the post a channel will see.
                yield Static(Text("this text will be posted:", style="dim"))
                yield Static(Text(sanitize_block(req.preview)), id="preview", classes="command")
            elif shown:
                yield Static(_field("parameters", shown), id="params")
            yield Static(
                Text.assemble(("risk       ", "dim"), risk.value), classes=f"risk-{risk.value}"
            )
            yield Static(Text(sanitize(req.command)), id="command", classes="command")
            if req.dry_run:
                yield Static(
                    Text("DRY RUN: this will be shown and audited, not run"), classes="dry-run"
                )
            if req.typed:
                # The name comes from the estate: shown safe even if a caller built it raw.
                expected = sanitize_name(req.expected, 300)
                yield Static(Text(f"Type {expected} to confirm."), id="typed-hint")
                yield Input(placeholder=f"type {expected} to confirm", id="typed")
            with Vertical(id="foot"):
                yield self.notice_line()
                with Horizontal(id="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button(
                        "Confirm",
                        id="confirm",
                        variant="error" if self.has_class("-danger") else "warning",
                        disabled=req.typed,
                    )

    def on_mount(self) -> None:
        # Cancel is the default: Enter right after opening never runs anything. For a typed
        # confirmation the input takes the focus instead; Enter there cannot confirm until
        # the name matches, so typing straight away is just as safe.
        if self.request.typed:
            self.query_one("#typed", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def _typed_ok(self) -> bool:
        return self.query_one("#typed", Input).value.strip() == self.request.expected

    @on(Input.Changed, "#typed")
    def _typed_changed(self) -> None:
        self.query_one("#confirm", Button).disabled = not self._typed_ok()

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self) -> None:
        if self._typed_ok():
            self.action_confirm()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if not self.request.typed:
            self.dismiss(True)
        elif self._typed_ok():
            self.dismiss(self.query_one("#typed", Input).value.strip())


class ParamsScreen(NoticeLine, ModalScreen[dict | None]):
    """Asks for an action's parameters, prefilled from the target; None when cancelled."""

    DEFAULT_CSS = CONFIRM_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="params.cancel")]

    def __init__(self, spec: ActionSpec, target: object, target_label: str | None = None,
                 backend: object = None) -> None:
        super().__init__()
        self.spec = spec
        self.target = target
        self.backend = backend
        self.target_label = target_label or target_name(target, spec)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(f"{self.spec.title}: {sanitize_name(self.target_label, 300)}"), classes="title")
            for p in self.spec.params:
                value = p.default(self.backend, self.target) if p.default is not None else ""
                yield Static(Text(p.label + (f" ({p.range_hint()})" if p.range_hint() else "")))
                yield Input(
                    str(value),
                    id=f"param-{p.name}",
                    type="integer" if p.kind is int else "text",
                )
            yield Static("", id="error", classes="error")
            with Vertical(id="foot"):
                yield self.notice_line()
                with Horizontal(id="buttons"):
                    yield Button("Cancel", id="cancel")
                    yield Button("Next", id="next", variant="primary")

    def on_mount(self) -> None:
        if self.spec.params:
            self.query_one(f"#param-{self.spec.params[0].name}", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#next")
    @on(Input.Submitted)
    def _submit(self) -> None:
        values: dict[str, Any] = {}
        try:
            for p in self.spec.params:
                values[p.name] = p.validate(self.query_one(f"#param-{p.name}", Input).value)
        except CockpitError as e:
            self.query_one("#error", Static).update(Text(str(e)))
            return
        self.dismiss(values)


async def push_and_wait(app: App, screen: ModalScreen) -> Any:
    # A Future completed by the dismiss callback works from any coroutine on the app's loop,
    # inside a worker or not (push_screen(wait_for_dismiss=True) insists on a worker).
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def finished(result: Any) -> None:
        if not done.done():
            done.set_result(result)

    app.push_screen(screen, callback=finished)
    try:
        return await done
    except asyncio.CancelledError:
        # Whoever asked has gone: do not leave a modal that would confirm nothing.
        if screen.is_attached and app.screen is screen:
            screen.dismiss(False if isinstance(screen, ConfirmScreen) else None)
        raise


def make_confirmer(app: App) -> Confirmer:
    """A Confirmer for the ActionRunner that asks through ConfirmScreen."""

    async def confirm(request: ConfirmRequest) -> bool | str:
        result = await push_and_wait(app, ConfirmScreen(request))
        return result if isinstance(result, bool | str) else False

    return confirm


async def ask_params(
    app: App, spec: ActionSpec, target: object, target_label: str | None = None,
    backend: object = None,
) -> dict[str, Any] | None:
    """The action's parameters from ParamsScreen ({} when it takes none), None if cancelled."""
    if not spec.params:
        return {}
    return await push_and_wait(app, ParamsScreen(spec, target, target_label, backend))
