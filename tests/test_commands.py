"""The palette's commands, built headless by cockpit/commands.py from a fake context: no app,
no Textual. What the user reads in the palette (titles, help, which row's actions come first)
and what choosing a command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions import SERVICE_RESTART
from cockpit.commands import ALL_ROWS_LIMIT, CommandContext, PaneRows, all_commands, extra_commands
from cockpit.model import PaneKind, ServiceStatus, Severity

ROOT = Path(__file__).resolve().parent.parent


class Verbs:
    """Records what a command ran, by the verb's name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


class Restarter:
    async def restart(self, target: ServiceStatus) -> str:
        return "restarted"

    def restart_command(self, target: ServiceStatus) -> list[str]:
        return ["restart", target.name]


class Workloads(Restarter):
    title = "cluster"

    async def workload_pods(self, record: ServiceStatus) -> list[Any]:
        return []

    def pod_ref(self, namespace: str, pod: str) -> Any:
        return None

    async def workload_containers(self, record: ServiceStatus) -> list[str]:
        return []

    def log_source(self, target: ServiceStatus, container: str | None = None) -> Any:
        return None


class LogSource:
    def __init__(self, sid: str, title: str, *, searchable: bool = False, workload: str | None = None):
        self.id, self.title, self.workload = sid, title, workload
        if searchable:
            self.search_blocking: Any = lambda *a: []


def svc(name: str, source: str = "fake:ecs") -> ServiceStatus:
    return ServiceStatus(name, "ecs", source, Severity.OK, "healthy", 1, 1)


def context(rows: list[ServiceStatus], focused: ServiceStatus | None = None, backend: Any = None,
            **kw: Any) -> CommandContext:
    backend = backend or Restarter()
    return CommandContext(
        verbs=Verbs(), backend_for=lambda rec: backend,
        panes={PaneKind.SERVICES: PaneRows(tuple(rows), focused), PaneKind.ALARMS: PaneRows()},
        focused=focused, **kw,
    )


def titles(ctx: CommandContext) -> list[str]:
    return [c.title for c in all_commands(ctx)]


def test_every_rows_action_is_offered_the_focused_rows_first_and_choosing_one_asks_the_runner():
    api, worker = svc("api"), svc("worker")
    ctx = context([api, worker], focused=worker)
    commands = all_commands(ctx)
    restarts = [c for c in commands if c.title.startswith("service: restart")]
    assert [c.title for c in restarts] == ["service: restart worker", "service: restart api"]
    assert [c.focused for c in restarts] == [True, False]
    assert restarts[0].help.startswith("change · ")
    restarts[1].run()
    assert ctx.verbs.calls == [("request_action", (SERVICE_RESTART, api, "palette"))]


def test_past_the_row_limit_only_the_focused_rows_actions_are_listed():
    rows = [svc(f"svc-{i}") for i in range(ALL_ROWS_LIMIT + 1)]
    ctx = context(rows, focused=rows[7])
    assert [t for t in titles(ctx) if t.startswith("service: restart")] == ["service: restart svc-7"]


def test_a_hostile_service_name_reaches_the_palette_as_plain_safe_text():
    ctx = context([svc("[/x]\x1b[31mapi")])
    title = next(t for t in titles(ctx) if t.startswith("service: restart"))
    assert "[/x]" in title and "\x1b" not in title


def test_cockpit_commands_themes_and_what_they_run():
    ctx = context([], themes=("cockpit-dark", "war-room"))
    shown = titles(ctx)
    for title in ("pane: maximise or restore", "logs: follow", "help: keys", "theme: war-room",
                  "database: activity", "incident: start", "incident: resolve", "screen: war room",
                  "screen: save", "incident: timeline", "help: explain"):
        assert title in shown
    assert not any(t.startswith(("drill:", "logs: search", "k8s:", "aws:")) for t in shown)
    by_title = {c.title: c for c in all_commands(ctx)}
    by_title["theme: war-room"].run()
    by_title["incident: start"].run()
    assert ctx.verbs.calls == [("set_theme", ("war-room",)), ("action_incident_start", ())]


def test_drills_need_the_lab_and_abort_needs_a_running_drill():
    assert not any(t.startswith("drill:") for t in titles(context([], lab=False)))
    with_lab = titles(context([], lab=True))
    assert "drill: start api-down" in with_lab and "drill: abort" not in with_lab
    assert "drill: abort" in titles(context([], lab=True, drill_running=True))


def test_sources_offer_log_search_and_kubernetes_workloads_their_pods_and_logs():
    searchable = LogSource("aws:logs", "logs production", searchable=True)
    followed = LogSource("k8s:logs:api", "api (all pods)", workload="api")
    api = svc("api", "k8s:deployments")
    ctx = context([api], focused=api, backend=Workloads(), log_sources=(searchable, followed))
    shown = [t for t in (c.title for c in extra_commands(ctx))]
    assert "logs: search (logs production)" in shown
    assert "k8s: follow logs api" in shown and "k8s: pods api" in shown
    assert "k8s: stop following api (all pods)" in shown
    stop = next(c for c in extra_commands(ctx) if c.title.startswith("k8s: stop following"))
    stop.run()
    assert ctx.verbs.calls == [("stop_following", ("k8s:logs:api",))]


@pytest.mark.parametrize("module", ["cockpit.commands", "cockpit.sinks", "cockpit.drill_runner"])
def test_the_rooms_split_from_the_app_into_cockpit_import_nothing_from_textual(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
