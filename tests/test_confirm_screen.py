"""The confirm modal in a tiny app: pilot tests of what a user can and cannot do, and snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Static

from cockpit.actions import ActionRunner, ConfirmRequest, get_action
from cockpit.audit import AuditLog
from cockpit.model import QueueStatus, ServiceStatus, Severity
from cockpit.profile import Profile
from screens.confirm import ConfirmScreen, ParamsScreen, ask_params, make_confirmer
from themes import THEMES

from .helpers import wait_until

SERVICE = ServiceStatus(
    name="api",
    backend="ecs",
    source="aws:ecs:production",
    status=Severity.OK,
    status_text="healthy",
    running=2,
    desired=2,
    cluster="production",
)
QUEUE = QueueStatus(
    name="jobs", backend="sqs", source="aws:sqs", depth=3, dlq_name="jobs-dlq", dlq_depth=7
)
RESTART_CMD = "aws ecs update-service --cluster production --service api --force-new-deployment"
PURGE_CMD = "aws sqs purge-queue --queue-url http://127.0.0.1:5000/123456789012/jobs-dlq"


def request(kind: str) -> ConfirmRequest:
    if kind == "change":
        return ConfirmRequest(
            profile="staging",
            production=False,
            action=get_action("service.scale"),
            target="api",
            params={"desired": 4},
            command="aws ecs update-service --cluster production --service api --desired-count 4",
            typed=False,
            expected="api",
        )
    if kind == "destructive":
        return ConfirmRequest(
            profile="staging",
            production=False,
            action=get_action("queue.purge_dlq"),
            target="jobs-dlq",
            params={},
            command=PURGE_CMD,
            typed=True,
            expected="jobs-dlq",
        )
    assert kind == "production"
    return ConfirmRequest(
        profile="prod-eu",
        production=True,
        action=get_action("service.restart"),
        target="api",
        params={},
        command=RESTART_CMD,
        typed=True,
        expected="api",
    )


class ModalApp(App[None]):
    """Pushes one ConfirmScreen at start and keeps what it returned."""

    def __init__(self, req: ConfirmRequest) -> None:
        super().__init__()
        self.req = req
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("cockpit behind the modal")

    def on_mount(self) -> None:
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"
        self.push_screen(ConfirmScreen(self.req), callback=self.results.append)


async def test_escape_cancels() -> None:
    app = ModalApp(request("change"))
    async with app.run_test() as pilot:
        await pilot.press("escape")
        await wait_until(lambda: app.results, 5)
    assert app.results == [False]


async def test_enter_right_away_cancels_a_change() -> None:
    app = ModalApp(request("change"))
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("enter")
        await wait_until(lambda: app.results, 5)
    assert app.results == [False]


async def test_change_confirms_with_button() -> None:
    app = ModalApp(request("change"))
    async with app.run_test() as pilot:
        await pilot.click("#confirm")
        await wait_until(lambda: app.results, 5)
    assert app.results == [True]


async def test_no_hidden_key_confirms_a_change() -> None:
    """Cancel is the default: a stray "y" (or any letter) must not run the change."""
    app = ModalApp(request("change"))
    async with app.run_test() as pilot:
        screen = app.screen
        await pilot.pause()
        await pilot.press("y", "Y", "c")
        await pilot.pause()
        assert app.results == [] and app.screen is screen


async def test_change_confirms_with_arrow_then_enter() -> None:
    app = ModalApp(request("change"))
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("right")
        assert app.focused is app.screen.query_one("#confirm", Button)
        await pilot.press("left")
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("tab")
        assert app.focused is app.screen.query_one("#confirm", Button)
        await pilot.press("enter")
        await wait_until(lambda: app.results, 5)
    assert app.results == [True]


async def test_wrong_name_keeps_confirm_disabled() -> None:
    app = ModalApp(request("destructive"))
    async with app.run_test() as pilot:
        screen = app.screen
        confirm = screen.query_one("#confirm", Button)
        assert confirm.disabled
        await pilot.press(*"jobs")  # the queue, not its dead-letter queue
        await pilot.press("enter")
        await pilot.press("y")
        await pilot.click("#confirm")
        await pilot.pause()
        assert confirm.disabled
        assert screen.query_one("#typed", Input).value == "jobsy"
        assert app.results == []
        assert app.screen is screen


async def test_right_name_and_enter_confirms() -> None:
    app = ModalApp(request("destructive"))
    async with app.run_test() as pilot:
        await pilot.press(*"jobs-dlq")
        assert not app.screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await wait_until(lambda: app.results, 5)
    assert app.results == ["jobs-dlq"]


async def test_escape_cancels_typed_confirmation() -> None:
    app = ModalApp(request("production"))
    async with app.run_test() as pilot:
        await pilot.press(*"ap")
        await pilot.press("escape")
        await wait_until(lambda: app.results, 5)
    assert app.results == [False]


async def test_modal_shows_profile_command_and_production() -> None:
    app = ModalApp(request("production"))
    async with app.run_test() as pilot:
        await pilot.pause()
        screen = app.screen
        profile = screen.query_one("#profile", Static)
        assert "PRODUCTION" in str(profile.render()) and "prod-eu" in str(profile.render())
        assert profile.has_class("-production")
        assert str(screen.query_one("#command", Static).render()) == RESTART_CMD


async def test_markup_in_target_is_shown_literally() -> None:
    req = request("change")
    req = ConfirmRequest(
        **{**req.__dict__, "target": "[bold red]x[/]", "command": "echo [b]hi[/b]"}
    )
    app = ModalApp(req)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "[bold red]x[/]" in str(app.screen.query_one("#target", Static).render())
        assert str(app.screen.query_one("#command", Static).render()) == "echo [b]hi[/b]"


# --- the confirmer and the params prompt drive the real runner -----------------------------


class RunnerApp(App[None]):
    def __init__(self, runner_factory: Any) -> None:
        super().__init__()
        self.runner: ActionRunner = runner_factory(self)
        self.outcomes: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("cockpit")

    def start_action(self, spec_id: str, target: Any, ask: bool = False) -> None:
        async def go() -> None:
            params = None
            if ask:
                params = await ask_params(self, get_action(spec_id), target, target.name)
                if params is None:
                    self.outcomes.append("no params")
                    return
            self.outcomes.append(await self.runner.request(get_action(spec_id), target, params))

        self.run_worker(go(), exclusive=False)


class FakeEcs:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def restart_command(self, t: ServiceStatus) -> list[str]:
        return RESTART_CMD.split()

    async def restart(self, t: ServiceStatus) -> str:
        self.calls.append(("restart", t.name))
        return "restart of api started"

    def scale_command(self, t: ServiceStatus, desired: int) -> list[str]:
        return ["aws", "ecs", "update-service", "--desired-count", str(desired)]

    async def scale(self, t: ServiceStatus, desired: int) -> str:
        self.calls.append(("scale", desired))
        return f"api: desired count {t.desired} -> {desired}"


def _runner_factory(tmp_path: Path, backend: FakeEcs, production: bool = False) -> Any:
    def factory(app: App) -> ActionRunner:
        return ActionRunner(
            profile=Profile(name="prod" if production else "lab", production=production),
            audit=AuditLog(tmp_path / "audit.jsonl"),
            resolve_backend=lambda s: backend,
            confirm=make_confirmer(app),
        )

    return factory


async def test_confirmer_from_a_worker_runs_after_typed_name(tmp_path: Path) -> None:
    backend = FakeEcs()
    app = RunnerApp(_runner_factory(tmp_path, backend, production=True))
    async with app.run_test() as pilot:
        app.start_action("service.restart", SERVICE)
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        await pilot.press(*"api", "enter")
        await wait_until(lambda: app.outcomes, 5)
    [outcome] = app.outcomes
    assert outcome.status == "ok" and backend.calls == [("restart", "api")]
    assert '"outcome": "ok"' in (tmp_path / "audit.jsonl").read_text()


async def test_scale_prefilled_then_confirmed(tmp_path: Path) -> None:
    backend = FakeEcs()
    app = RunnerApp(_runner_factory(tmp_path, backend))
    async with app.run_test() as pilot:
        app.start_action("service.scale", SERVICE, ask=True)
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        field = app.screen.query_one("#param-desired", Input)
        assert field.value == "2"
        field.value = "5"
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 5)
        assert "--desired-count 5" in str(app.screen.query_one("#command", Static).render())
        await pilot.press("tab", "enter")  # Cancel -> Confirm
        await wait_until(lambda: app.outcomes, 5)
    assert app.outcomes[0].status == "ok" and backend.calls == [("scale", 5)]


async def test_params_out_of_range_stays_open(tmp_path: Path) -> None:
    backend = FakeEcs()
    app = RunnerApp(_runner_factory(tmp_path, backend))
    async with app.run_test() as pilot:
        app.start_action("service.scale", SERVICE, ask=True)
        await wait_until(lambda: isinstance(app.screen, ParamsScreen), 5)
        app.screen.query_one("#param-desired", Input).value = "5000"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        assert "out of range" in str(app.screen.query_one("#error", Static).render())
        await pilot.press("escape")
        await wait_until(lambda: app.outcomes, 5)
    assert app.outcomes == ["no params"] and backend.calls == []


# --- snapshots -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["change", "destructive", "production"])
def test_confirm_modal_snapshot(snap_compare: Any, kind: str) -> None:
    async def steady(pilot: Any) -> None:
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(ModalApp(request(kind)), terminal_size=(100, 30), run_before=steady)
