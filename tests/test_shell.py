"""A shell on a row (`x`): the argv and environment built for each kind of row, and the runner's
safety around it (read-only, the confirmation's argv, the audit's exit status).

The argv is what the confirmation, the audit and ``ps`` show: no password may be in it; the
child gets the password in its environment (PGPASSWORD, REDISCLI_AUTH).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cockpit import shell
from cockpit.actions import ActionRunner, ConfirmRequest
from cockpit.audit import AuditLog
from cockpit.backends.aws import AwsContext
from cockpit.backends.kubernetes.context import KubeContext
from cockpit.backends.postgres import PostgresSource
from cockpit.backends.redis import RedisConnection, RedisSource
from cockpit.backends.ssh import LocalTransport, SshTransport
from cockpit.model import Alarm, DatabaseSnapshot, QueueStatus, ServiceStatus, Severity
from cockpit.profile import AwsConfig, DatabaseConfig, Profile, RedisConfig, SecretRef, Thresholds
from cockpit.registry import available_actions, get_action
from cockpit.shell import SHELL_OPEN, shell_command

SECRET = "s3cr3t-pw"


def db_row(backend: str, source: str, name: str = "main") -> DatabaseSnapshot:
    return DatabaseSnapshot(name=name, backend=backend, source=source)


def svc_row(backend: str, source: str, name: str = "api", cluster: str = "") -> ServiceStatus:
    return ServiceStatus(name=name, backend=backend, source=source, status=Severity.OK, status_text="ok",
                         running=1, desired=1, cluster=cluster)


def postgres(dsn_ref: str) -> PostgresSource:
    return PostgresSource(DatabaseConfig("main", SecretRef(dsn_ref)), Thresholds())


def redis(url_ref: str) -> RedisSource:
    return RedisSource(RedisConnection(RedisConfig("cache", SecretRef(url_ref))), Thresholds())


def host_backend(transport: Any) -> Any:
    return SimpleNamespace(host=SimpleNamespace(name="app-1", transport=transport))


def test_psql_gets_the_password_in_its_environment_never_in_argv(monkeypatch):
    monkeypatch.setenv("ORDERS_DSN", f"postgresql://app:{SECRET}@db.internal:5433/orders?sslmode=require")
    cmd = shell_command(postgres("env:ORDERS_DSN"), db_row("postgres", "pg:main"), {})
    assert cmd.argv[0] == "psql"
    assert SECRET not in " ".join(cmd.argv)
    assert dict(cmd.env) == {"PGPASSWORD": SECRET}
    conninfo = dict(w.split("=", 1) for w in cmd.argv[1].split())
    assert conninfo == {"user": "app", "dbname": "orders", "host": "db.internal", "port": "5433",
                        "sslmode": "require"}
    assert cmd.child_env({"PATH": "/bin"}) == {"PATH": "/bin", "PGPASSWORD": SECRET}


def test_psql_without_a_password_leaves_it_to_pgpass(monkeypatch):
    # psql reads ~/.pgpass (or $PGPASSFILE) itself: nothing of ours is put in its way.
    cmd = shell_command(postgres("postgresql://app@127.0.0.1:5432/orders"), db_row("postgres", "pg:main"), {})
    assert cmd.env == ()
    assert "PGPASSWORD" not in cmd.child_env({})


def test_redis_cli_gets_host_port_db_in_argv_and_the_password_in_rediscli_auth(tmp_path):
    secret_file = tmp_path / "url"
    secret_file.write_text(f"redis://default:{SECRET}@cache.internal:6380/4\n")
    secret_file.chmod(0o600)
    cmd = shell_command(redis(f"file:{secret_file}"), db_row("redis", "redis:cache", "cache"), {})
    assert cmd.argv == ("redis-cli", "-h", "cache.internal", "-p", "6380", "-n", "4", "--user", "default")
    assert dict(cmd.env) == {"REDISCLI_AUTH": SECRET}
    tls = shell_command(redis(f"rediss://:{SECRET}@c:6390/0"), db_row("redis", "redis:cache"), {})
    assert tls.argv == ("redis-cli", "-h", "c", "-p", "6390", "-n", "0", "--tls")
    assert SECRET not in " ".join(tls.argv) and dict(tls.env) == {"REDISCLI_AUTH": SECRET}
    plain = shell_command(redis("redis://127.0.0.1:6379"), db_row("redis", "redis:cache"), {})
    assert plain.argv == ("redis-cli", "-h", "127.0.0.1", "-p", "6379", "-n", "0") and plain.env == ()


def test_ssh_to_a_host_row_uses_the_hosts_backend_options(monkeypatch):
    transport = SshTransport("app-1", "ops@app-1.internal", options=["-F", "/etc/ck/ssh_config", "-p", "2222"])
    for row in (svc_row("host", "host:app-1", "app-1"), svc_row("systemd", "host:app-1", "nginx.service")):
        cmd = shell_command(host_backend(transport), row, {})
        # Interactive: no BatchMode (a passphrase may be typed), no -T (a tty is wanted).
        assert cmd.argv == ("ssh", "-F", "/etc/ck/ssh_config", "-p", "2222", "ops@app-1.internal")
        assert cmd.env == ()
    monkeypatch.setenv("SHELL", "/bin/bash")
    local = shell_command(host_backend(LocalTransport("this machine")), svc_row("host", "host:local"), {})
    assert local.argv == ("/bin/bash",)


def test_kubectl_exec_into_the_chosen_pod_and_container_with_the_profiles_context():
    ctx = KubeContext("staging", kubeconfig="/home/u/.kube/staging")
    backend = SimpleNamespace(ctx=ctx, namespace="shop")
    cmd = shell_command(backend, svc_row("kubernetes", "k8s:staging:shop", "web", cluster="shop"),
                        {"pod": "web-5d9f-abcde", "container": "app"})
    assert cmd.argv == ("kubectl", "--kubeconfig", "/home/u/.kube/staging", "--context", "staging", "-n", "shop",
                        "exec", "-it", "web-5d9f-abcde", "-c", "app", "--", "sh")
    pod = Alarm(name="pod shop/web-1", source="k8s:staging:shop", severity=Severity.UNKNOWN, state="pod",
                reason="", resource="shop/pod/web-1")
    assert shell_command(backend, pod, {"container": "sidecar"}).argv[-7:] == (
        "exec", "-it", "web-1", "-c", "sidecar", "--", "sh")
    with pytest.raises(shell.ActionRefused, match="no pod"):
        shell_command(backend, svc_row("kubernetes", "k8s:staging:shop", "web", cluster="shop"), {})


def test_ecs_exec_and_the_message_when_session_manager_plugin_is_missing(tmp_path, monkeypatch):
    ctx = AwsContext(AwsConfig(profile="ops", region="eu-west-1"))
    backend = SimpleNamespace(ctx=ctx, cluster=SimpleNamespace(cluster="production"))
    row = svc_row("ecs", "aws:ecs:production", "api", cluster="production")
    arn = "arn:aws:ecs:eu-west-1:123456789012:task/production/0123abcd"
    cmd = shell_command(backend, row, {"task": arn, "container": "api"})
    assert cmd.argv == ("aws", "ecs", "execute-command", "--cluster", "production", "--task", arn,
                        "--container", "api", "--interactive", "--command", "/bin/sh",
                        "--profile", "ops", "--region", "eu-west-1")
    # aws on PATH, the plugin not: refused before the confirmation, saying what to install.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/sh\n")
    (bin_dir / "aws").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    problem = shell.missing_tool(cmd)
    assert problem is not None and "session-manager-plugin is not on PATH" in str(problem)
    with pytest.raises(shell.ActionRefused, match="session-manager-plugin"):
        SHELL_OPEN.resolve_params(backend, row, {"task": arn, "container": "api"})


def test_shell_is_offered_only_on_rows_that_have_one(monkeypatch):
    monkeypatch.setenv("ORDERS_DSN", "postgresql://app@127.0.0.1/orders")
    assert SHELL_OPEN in available_actions(db_row("postgres", "pg:main"), postgres("env:ORDERS_DSN"))
    assert get_action("shell.open").key == "x"
    queue = QueueStatus(name="jobs", backend="sqs", source="aws:sqs", depth=0)
    assert SHELL_OPEN not in available_actions(queue, SimpleNamespace())
    rds = db_row("rds", "aws:rds")
    assert SHELL_OPEN not in available_actions(rds, SimpleNamespace(ctx=object()))


# --- through the runner ---------------------------------------------------------------------


def _runner(tmp_path: Path, backend: Any, *, read_only: bool = False,
            confirm: Any = None) -> tuple[ActionRunner, list[ConfirmRequest], Path]:
    asked: list[ConfirmRequest] = []

    async def answer(req: ConfirmRequest) -> bool:
        asked.append(req)
        return True

    path = tmp_path / "audit.jsonl"
    runner = ActionRunner(profile=Profile(name="t", read_only=read_only), audit=AuditLog(path),
                          resolve_backend=lambda sid: backend, confirm=confirm or answer)
    return runner, asked, path


def _audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_shell_is_confirmed_with_its_argv_and_audited_with_its_exit_status(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERS_DSN", f"postgresql://app:{SECRET}@127.0.0.1:5432/orders")
    backend = postgres("env:ORDERS_DSN")
    runner, asked, path = _runner(tmp_path, backend)
    ran: list[shell.ShellCommand] = []

    async def terminal(cmd: shell.ShellCommand) -> int:
        ran.append(cmd)
        return 0 if len(ran) == 1 else 3

    shell.TERMINAL.set(terminal)
    outcome = await runner.request(SHELL_OPEN, db_row("postgres", "pg:main", "orders"), {}, origin="key")
    assert outcome.status == "ok", outcome.message
    assert asked[0].command == shlex.join(ran[0].argv) and asked[0].command.startswith("psql ")
    assert dict(ran[0].env)["PGPASSWORD"] == SECRET
    lines = _audit(path)
    assert [(e["phase"], e.get("exit_status")) for e in lines] == [("started", None), ("finished", 0)]
    assert lines[0]["started"] <= lines[1]["time"]
    assert SECRET not in path.read_text()
    failed = await runner.request(SHELL_OPEN, db_row("postgres", "pg:main", "orders"), {}, origin="key")
    assert failed.status == "failed" and "exit status 3" in failed.message
    assert _audit(path)[-1]["exit_status"] == 3


async def test_read_only_refuses_a_shell_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERS_DSN", "postgresql://app@127.0.0.1:5432/orders")
    runner, asked, path = _runner(tmp_path, postgres("env:ORDERS_DSN"), read_only=True)

    async def terminal(cmd: shell.ShellCommand) -> int:
        raise AssertionError("a read-only cockpit ran a shell")

    shell.TERMINAL.set(terminal)
    outcome = await runner.request(SHELL_OPEN, db_row("postgres", "pg:main"), {}, origin="key")
    assert outcome.status == "refused" and "read-only" in outcome.message
    assert asked == []
    assert [e["outcome"] for e in _audit(path)] == ["refused"]


# --- pilot: the `x` key --------------------------------------------------------------------


class PgRows:
    """A database source as the cockpit builds one for PostgreSQL: its ``db`` holds the DSN."""

    def __init__(self, dsn_ref: str) -> None:
        from cockpit.model import PaneKind

        self.id, self.pane, self.title = "pg:main", PaneKind.DATABASE, "PostgreSQL main"
        self.db = DatabaseConfig("main", SecretRef(dsn_ref))

    async def fetch(self) -> list[DatabaseSnapshot]:
        return [DatabaseSnapshot("orders", "postgres", "pg:main", status="up", connections=3)]

    async def close(self) -> None:
        pass


def _pilot_app(read_only: bool = False) -> Any:
    from cockpit.app import CockpitApp
    from cockpit.sources import Sources

    return CockpitApp(Profile(name="test", refresh=0.5, read_only=read_only),
                      sources_factory=lambda p, n: Sources([PgRows("env:ORDERS_DSN")], []))


async def _focus_db_row(app: Any, pilot: Any) -> None:
    from cockpit.model import PaneKind
    from tests.helpers import wait_until

    pane = app.cockpit.panes[PaneKind.DATABASE]
    await wait_until(lambda: pane.row_count() == 1, 10)
    pane.focus_body()
    await pilot.pause()


def _audit_lines() -> list[dict[str, Any]]:
    import os

    return _audit(Path(os.environ["XDG_STATE_HOME"]) / "cockpit" / "audit.jsonl")


async def test_x_shows_the_exact_argv_in_the_confirmation_and_no_password(monkeypatch):
    from screens.confirm import ConfirmScreen
    from tests.helpers import wait_until

    monkeypatch.setenv("ORDERS_DSN", f"postgresql://app:{SECRET}@127.0.0.1:5432/orders")
    app = _pilot_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await _focus_db_row(app, pilot)
        await pilot.press("x")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 10)
        shown = str(app.screen.query_one("#command").render())
        assert shown == "psql 'user=app dbname=orders host=127.0.0.1 port=5432'"
        assert not app.screen.query("#params")  # no empty pod=, task=, container=
        assert SECRET not in app.export_screenshot()
        await pilot.press("escape")  # Cancel: nothing runs
        await wait_until(lambda: any(e.get("outcome") == "cancelled" for e in _audit_lines()), 10)
    assert [e["action"] for e in _audit_lines()] == ["shell.open"]


async def test_x_is_refused_in_read_only_without_a_confirmation(monkeypatch):
    from screens.confirm import ConfirmScreen
    from tests.helpers import wait_until

    monkeypatch.setenv("ORDERS_DSN", "postgresql://app@127.0.0.1:5432/orders")
    app = _pilot_app(read_only=True)
    seen: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await _focus_db_row(app, pilot)
        original = app.notify

        def notify(message: str, **kw: Any) -> None:
            seen.append(str(message))
            original(message, **kw)

        app.notify = notify  # type: ignore[method-assign]
        await pilot.press("x")
        await wait_until(lambda: any("read-only" in m for m in seen), 10)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "shell: open refused: test is read-only" in seen[-1]
    assert [(e["action"], e["outcome"]) for e in _audit_lines()] == [("shell.open", "refused")]


# --- Kubernetes: which pod, which container (the API double) ----------------------------------


async def test_x_on_a_workload_asks_the_pod_and_the_container_then_execs_into_them(k8s: Any) -> None:
    from textual import work
    from textual.app import App
    from textual.widgets import OptionList

    from cockpit.backends.kubernetes import KubernetesServicesSource
    from screens.k8s import ContainerPicker
    from screens.shell import shell_params
    from tests.helpers import wait_until
    from tests.test_kubernetes import NS, rows_by_name

    k8s.state.add_deployment(NS, "worker", containers=("app", "sidecar"))
    pods = sorted(p["metadata"]["name"] for p in k8s.state.pods_for(NS, "worker", 2, containers=("app", "sidecar")))
    src = KubernetesServicesSource(KubeContext(k8s.context), NS)

    class Picks(App):
        answer: Any = "not yet"

        @work
        async def ask(self, row: Any) -> None:
            self.answer = await shell_params(self, row, src)

    app = Picks()
    try:
        row = rows_by_name(await src.fetch())["deployment/worker"]
        async with app.run_test(size=(120, 40)) as pilot:

            async def pick(prompt: str, index: int) -> None:
                await wait_until(lambda: isinstance(app.screen, ContainerPicker) and prompt in app.screen.prompt
                                 and bool(app.screen.query(OptionList)), 10)
                app.screen.query_one(OptionList).highlighted = index
                await pilot.press("enter")
                await pilot.pause()

            app.ask(row)
            await pick("Shell in which pod of deployment/worker?", 1)
            await pick(f"Shell in which container of {pods[1]}?", 1)
            await wait_until(lambda: app.answer != "not yet", 10)
        assert app.answer == {"pod": pods[1], "container": "sidecar"}
        cmd = shell_command(src, row, app.answer)
        assert cmd.argv == ("kubectl", "--context", k8s.context, "-n", NS, "exec", "-it", pods[1],
                            "-c", "sidecar", "--", "sh")
    finally:
        await src.close()


async def test_x_on_an_ecs_service_says_session_manager_plugin_is_missing(monkeypatch) -> None:
    import shutil

    from cockpit.app import CockpitApp
    from cockpit.lab import start_lab
    from cockpit.model import PaneKind
    from screens.confirm import ConfirmScreen
    from tests.helpers import wait_until

    if shutil.which("session-manager-plugin"):
        pytest.skip("session-manager-plugin is installed here")
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1),
                     start_lab=lambda: start_lab(with_servers=False))
    seen: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: any(s.name == "api" for s in services.records.values()), 30)
        services.focus_body()
        api = next(k for k, s in services.records.items() if s.name == "api")
        services.table.move_cursor(row=services.table.row_keys.index(api))
        await pilot.pause()
        original = app.notify

        def notify(message: str, **kw: Any) -> None:
            seen.append(str(message))
            original(message, **kw)

        app.notify = notify  # type: ignore[method-assign]
        await pilot.press("x")
        await wait_until(lambda: any("session-manager-plugin" in m for m in seen), 15)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "session-manager-plugin is not on PATH" in seen[-1] and "install" in seen[-1]
    [entry] = [e for e in _audit_lines() if e.get("action") == "shell.open"]
    assert entry["outcome"] == "refused"


async def test_help_lists_x_and_a_headless_cockpit_says_a_shell_needs_a_terminal(monkeypatch) -> None:
    from screens.confirm import ConfirmScreen
    from tests.helpers import wait_until

    monkeypatch.setenv("ORDERS_DSN", "postgresql://app@127.0.0.1:5432/orders")
    app = _pilot_app()
    async with app.run_test(size=(160, 48)) as pilot:
        keyed = dict(app.help_sections()[1][1])
        assert keyed["x"].startswith("shell: open (change) — Open an interactive shell")
        await _focus_db_row(app, pilot)
        await pilot.press("x")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), 10)
        await pilot.press("right", "enter")  # Confirm: no terminal to lend in a headless run
        await wait_until(lambda: any(e.get("outcome") == "failed" for e in _audit_lines()), 10)
    [entry] = [e for e in _audit_lines() if e.get("phase") == "finished"]
    assert "a shell needs the cockpit in a terminal" in entry["error"]


async def test_x_on_the_pods_screen_asks_the_container_of_the_focused_pod(k8s: Any, monkeypatch) -> None:
    from textual import work
    from textual.app import App
    from textual.widgets import OptionList, Static

    import screens.k8s as k8s_screens
    from cockpit.backends.kubernetes import KubernetesServicesSource
    from tests.helpers import wait_until
    from tests.test_kubernetes import NS, rows_by_name

    monkeypatch.setattr(k8s_screens, "REFRESH", 600.0)
    k8s.state.add_deployment(NS, "worker", containers=("app", "sidecar"))
    pods = sorted(p["metadata"]["name"] for p in k8s.state.pods_for(NS, "worker", 2, containers=("app", "sidecar")))
    src = KubernetesServicesSource(KubeContext(k8s.context), NS)
    asked: list[tuple[Any, ...]] = []

    class Harness(App):
        def make_banner(self) -> Static:
            return Static()

        @work
        async def request_action(self, spec: Any, target: Any, origin: str = "palette", params: Any = None) -> None:
            asked.append((spec.id, target.resource, origin, params))

    app = Harness()
    try:
        row = rows_by_name(await src.fetch())["deployment/worker"]
        async with app.run_test(size=(160, 40)) as pilot:
            screen = k8s_screens.WorkloadPodsScreen(src, row, Static())
            await app.push_screen(screen)
            await wait_until(lambda: sorted(screen.pods) == pods, 10)
            screen.table.move_cursor(row=1)
            await pilot.press("x")
            await wait_until(lambda: isinstance(app.screen, k8s_screens.ContainerPicker)
                             and bool(app.screen.query(OptionList)), 10)
            assert app.screen.prompt == f"Shell in which container of {screen.focused_pod().name}?"
            app.screen.query_one(OptionList).highlighted = 1
            await pilot.press("enter")
            await wait_until(lambda: bool(asked), 10)
        pod = screen.focused_pod()
        assert asked == [("shell.open", f"{NS}/pod/{pod.name}", "pods screen", {"container": "sidecar"})]
        assert shell_command(src, src.pod_ref(NS, pod.name), asked[0][3]).argv[-7:] == (
            "exec", "-it", pod.name, "-c", "sidecar", "--", "sh")
    finally:
        await src.close()


# --- the footer follows the row under the cursor ------------------------------------------------


async def test_footer_keys_follow_a_row_that_comes_under_the_cursor_without_a_move() -> None:
    """Seen at merge: the lab's `api` row arrived above the host row the cursor sat on; the
    cursor stayed at row 0, no row was highlighted anew, and the footer kept the host's keys
    (no `r`, none of the profile's) until the cursor moved."""
    from cockpit.app import CockpitApp
    from cockpit.model import PaneKind
    from cockpit.sources import Sources
    from tests.fakes import ListSource
    from tests.helpers import wait_until
    from widgets.footer import KeyFooter

    class Restartable(ListSource):
        async def restart(self, target: Any) -> str:
            return "restarted"

        def restart_command(self, target: Any) -> list[str]:
            return ["fakectl", "restart", target.name]

    quiet = ListSource("fake:quiet", PaneKind.SERVICES, [svc_row("ecs", "fake:quiet", "zz-quiet")])
    later = Restartable("fake:ecs", PaneKind.SERVICES, [])
    app = CockpitApp(Profile(name="test", refresh=0.2), sources_factory=lambda p, n: Sources([quiet, later], []))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.cockpit.panes[PaneKind.SERVICES]
        await wait_until(lambda: pane.row_count() == 1, 10)
        pane.focus_body()
        await pilot.pause()
        footer = app.screen.query_one(KeyFooter)
        assert "r" not in [k.key for k in footer.keys]
        later.records = [replace(svc_row("ecs", "fake:ecs", "api"), status=Severity.CRITICAL)]
        await wait_until(lambda: pane.row_count() == 2 and pane.selected is not None
                         and pane.selected.name == "api", 10)
        await wait_until(lambda: "r" in [k.key for k in footer.keys], 5)
