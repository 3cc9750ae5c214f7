"""A shell on a row (`x`, palette ``shell: open``): the interactive command for the row's kind.

``shell_command`` turns a row's record and its source into a ``ShellCommand``: an argv (a
list, never a shell string) and the environment the child alone gets. Secrets only ever go
into that environment (``PGPASSWORD`` for psql, ``REDISCLI_AUTH`` for redis-cli), never into
the argv, so the confirmation, the audit and ``ps`` show no password.

- a host's rows (the host itself, its units and processes): ``ssh TARGET`` with the hosts
  backend's own ssh options, or the user's ``$SHELL`` for the local host;
- a Kubernetes workload or pod: ``kubectl exec -it POD -n NS -c CONTAINER -- sh`` with the
  profile's kubeconfig and context;
- an ECS service: ``aws ecs execute-command ... --interactive --command /bin/sh`` (refused with
  a clear message when ``session-manager-plugin`` is not on PATH, which it needs);
- PostgreSQL: ``psql`` with the DSN minus its password; Redis: ``redis-cli -h -p -n``.

``SHELL_OPEN`` is a ``change`` action like any other: the runner confirms it (showing the
argv), refuses it in read-only, and audits its start, end and exit status. Running it needs a
terminal: the UI sets ``TERMINAL`` (it suspends itself around the child); without one (``cockpit
run``), the child inherits this process's terminal.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cockpit.actions import ActionSpec, Param, Risk
from cockpit.errors import ActionRefused, CockpitError
from cockpit.model import Alarm, DatabaseSnapshot, ServiceStatus


@dataclass(frozen=True)
class ShellCommand:
    """What a shell runs: ``argv`` (shown, audited) and ``env`` (given to the child only)."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    what: str = ""  # "psql on orders": said when it ends

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(os.environ if base is None else base), **dict(self.env)}


# The UI's way to run a ShellCommand in the terminal: suspend, run, resume; the exit status.
Terminal = Callable[[ShellCommand], Awaitable[int]]
TERMINAL: contextvars.ContextVar[Terminal | None] = contextvars.ContextVar("cockpit_terminal", default=None)

INSTALL_HINTS = {
    "psql": "install the PostgreSQL client (apt-get install postgresql-client)",
    "redis-cli": "install redis-tools (apt-get install redis-tools)",
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
    "aws": "install the AWS CLI v2",
    "ssh": "install openssh-client",
}
SSM_PLUGIN = "session-manager-plugin"


def kind_of(backend: Any, target: Any) -> str | None:
    """Which shell the row gets: postgres, redis, host, kubernetes, ecs, or None (none)."""
    if isinstance(target, DatabaseSnapshot):
        if target.backend == "postgres" and getattr(backend, "db", None) is not None:
            return "postgres"
        if target.backend == "redis" and getattr(backend, "conn", None) is not None:
            return "redis"
        return None
    if isinstance(target, ServiceStatus):
        if getattr(getattr(backend, "host", None), "transport", None) is not None:
            return "host"
        if target.backend == "kubernetes" and getattr(backend, "ctx", None) is not None:
            return "kubernetes"
        if target.backend == "ecs" and getattr(backend, "ctx", None) is not None:
            return "ecs"
        return None
    if isinstance(target, Alarm) and "/pod/" in target.resource and getattr(backend, "ctx", None) is not None:
        return "kubernetes"
    return None


def unavailable(backend: Any, target: Any) -> str | None:
    if kind_of(backend, target) is None:
        return f"no shell for a {getattr(target, 'backend', type(target).__name__)} row"
    return None


# --- one builder per kind -------------------------------------------------------------------


def postgres_command(dsn: str, name: str = "") -> ShellCommand:
    """``psql CONNINFO`` without the password; the password in ``PGPASSWORD`` (else psql reads
    ~/.pgpass or $PGPASSFILE as it always does)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        info = conninfo_to_dict(dsn)
    except Exception:  # never echo a DSN that may hold a password
        raise ActionRefused("the database's dsn cannot be read", "check the dsn in profiles.yaml") from None
    password = info.pop("password", None)
    env = (("PGPASSWORD", str(password)),) if password else ()
    return ShellCommand(("psql", make_conninfo("", **{k: str(v) for k, v in info.items()})), env,
                        f"psql on {name}".strip())


def redis_command(url: str, name: str = "") -> ShellCommand:
    """``redis-cli -h H -p P -n DB`` (``--user``, ``--tls`` as the URL says); the password in
    ``REDISCLI_AUTH``."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    argv = ["redis-cli"]
    if parts.scheme == "unix":
        argv += ["-s", unquote(parts.path)]
        db = query.get("db", "0")
    else:
        argv += ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379)]
        db = (parts.path or "/").lstrip("/") or query.get("db", "0")
    argv += ["-n", str(int(db)) if db.isdigit() else "0"]
    if parts.username:
        argv += ["--user", unquote(parts.username)]
    if parts.scheme == "rediss":
        argv.append("--tls")
    password = unquote(parts.password) if parts.password else query.get("password")
    env = (("REDISCLI_AUTH", password),) if password else ()
    return ShellCommand(tuple(argv), env, f"redis-cli on {name}".strip())


def host_command(transport: Any, name: str = "") -> ShellCommand:
    """``ssh [the backend's options] TARGET``, or the local user's shell for a local host."""
    target = getattr(transport, "target", None)
    if target is None:  # the hosts backend's LocalTransport: this machine
        return ShellCommand((os.environ.get("SHELL") or "/bin/sh",), (), f"a shell on {name}".strip())
    # Interactive: a tty is wanted (no -T), and a passphrase may be typed (no BatchMode).
    return ShellCommand(("ssh", *getattr(transport, "options", ()), str(target)), (), f"ssh to {name}".strip())


def kubectl_command(ctx: Any, namespace: str, pod: str, container: str) -> ShellCommand:
    if not pod:
        raise ActionRefused("no pod to open a shell in", "choose a running pod")
    words = ["exec", "-it", pod]
    if container:
        words += ["-c", container]
    return ShellCommand(tuple(ctx.cli(*words, "--", "sh", namespace=namespace)), (), f"sh in pod {pod}")


def ecs_command(ctx: Any, cluster: str, task: str, container: str) -> ShellCommand:
    if not task:
        raise ActionRefused("no running task to open a shell in", "the service has no running task")
    words = ["ecs", "execute-command", "--cluster", cluster, "--task", task]
    if container:
        words += ["--container", container]
    env: list[tuple[str, str]] = []
    if getattr(ctx, "lab", False):  # moto on loopback: its dummy keys, never the user's
        from cockpit.backends.aws import LAB_KEY

        env += [("AWS_ACCESS_KEY_ID", LAB_KEY), ("AWS_SECRET_ACCESS_KEY", LAB_KEY)]
    argv = ctx.cli(*words, "--interactive", "--command", "/bin/sh")
    return ShellCommand(tuple(argv), tuple(env), f"/bin/sh in task {task.rsplit('/', 1)[-1]}")


def shell_command(backend: Any, target: Any, params: dict[str, Any]) -> ShellCommand:
    """The row's shell (``params``: ``pod``/``task`` and ``container``, chosen by the UI)."""
    kind = kind_of(backend, target)
    name = getattr(target, "name", "")
    if kind == "postgres":
        return postgres_command(backend.db.dsn.resolve(), name)
    if kind == "redis":
        return redis_command(backend.conn.url(), name)
    if kind == "host":
        return host_command(backend.host.transport, getattr(backend.host, "name", "") or name)
    if kind == "kubernetes":
        if isinstance(target, Alarm):
            namespace, _, pod = target.resource.replace("/pod/", "/", 1).partition("/")
        else:
            namespace, pod = target.cluster or getattr(backend, "namespace", ""), str(params.get("pod") or "")
        return kubectl_command(backend.ctx, namespace, pod, str(params.get("container") or ""))
    if kind == "ecs":
        cluster = target.cluster or getattr(getattr(backend, "cluster", None), "cluster", "")
        return ecs_command(backend.ctx, cluster, str(params.get("task") or ""), str(params.get("container") or ""))
    raise ActionRefused(unavailable(backend, target) or "no shell for this row")


def missing_tool(command: ShellCommand) -> ActionRefused | None:
    """Why ``command`` cannot start here (its program, or the plugin it needs, is not on PATH)."""
    program = command.argv[0]
    if shutil.which(program) is None:
        return ActionRefused(f"{program} is not on PATH", INSTALL_HINTS.get(program, f"install {program}"))
    if command.argv[1:3] == ("ecs", "execute-command"):
        return ecs_exec_missing()
    return None


def ecs_exec_missing() -> ActionRefused | None:
    """Why ECS Exec cannot start here: ``aws`` runs ``session-manager-plugin`` for the session."""
    if shutil.which(SSM_PLUGIN) is not None:
        return None
    return ActionRefused(
        f"{SSM_PLUGIN} is not on PATH: aws ecs execute-command needs it to open the session",
        "install the Session Manager plugin for the AWS CLI "
        "(docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)",
    )


# --- ECS tasks (the UI asks which one) ---------------------------------------------------------


async def ecs_tasks(backend: Any, target: ServiceStatus) -> list[tuple[str, tuple[str, ...]]]:
    """(task ARN, its container names) of the service's running tasks, with ECS Exec on."""
    ctx = backend.ctx
    cluster = target.cluster or backend.cluster.cluster

    def read() -> list[tuple[str, tuple[str, ...]]]:
        ecs = ctx.client("ecs")
        arns = ecs.list_tasks(cluster=cluster, serviceName=target.name, desiredStatus="RUNNING").get("taskArns", [])
        if not arns:
            return []
        tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
        return [(str(t["taskArn"]), tuple(str(c.get("name", "")) for c in t.get("containers", [])))
                for t in tasks if t.get("lastStatus", "RUNNING") == "RUNNING"]

    return list(await ctx.run(f"list tasks of {target.name}", read))


# --- running it -------------------------------------------------------------------------------


def run_here(command: ShellCommand) -> int:
    """Run the command on this process's terminal (stdin, stdout, stderr inherited); its exit
    status. Ctrl+C and Ctrl+\\ belong to the child meanwhile: they reach this process too (same
    process group), so it catches them and does nothing; caught signals go back to their
    default in the child at exec, so the child still gets Ctrl+C."""
    import signal
    import threading

    in_main = threading.current_thread() is threading.main_thread()
    saved: dict[signal.Signals, Any] = {}
    if in_main:
        for each in (signal.SIGINT, signal.SIGQUIT):
            saved[each] = signal.signal(each, lambda *_: None)
    try:
        try:
            return subprocess.call(list(command.argv), env=command.child_env())
        except OSError as e:
            raise CockpitError(f"cannot run {command.argv[0]}: {e.strerror}") from e
    finally:
        for each, handler in saved.items():
            signal.signal(each, handler)


async def _run(backend: Any, target: Any, params: dict[str, Any]) -> str:
    command = shell_command(backend, target, params)
    problem = missing_tool(command)
    if problem is not None:
        raise problem
    terminal = TERMINAL.get()
    if terminal is None:
        code = await asyncio.to_thread(run_here, command)
    else:
        code = await terminal(command)
    what = command.what or command.argv[0]
    if code != 0:
        error = CockpitError(f"{what} ended with exit status {code}")
        error.audit = {"exit_status": code}  # type: ignore[attr-defined]
        raise error
    return Ended(f"{what} ended (exit status 0)")


class Ended(str):
    """The outcome's message, with what the audit's finished line records besides."""

    audit = {"exit_status": 0}


def _check_tools(backend: Any, target: Any, params: dict[str, Any]) -> dict[str, Any]:
    # Refused before the confirmation, with what to install: no dialog for a shell that cannot
    # start (ECS Exec's plugin first: without it, which task does not matter).
    if kind_of(backend, target) == "ecs" and (problem := ecs_exec_missing()) is not None:
        raise problem
    problem = missing_tool(shell_command(backend, target, params))
    if problem is not None:
        raise problem
    return {}


class _EverySource(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return True


class AnySource(metaclass=_EverySource):
    """The capability ``shell: open`` needs: every source has it, and the row decides
    (``unavailable``); its CLI equivalent is the shell's own argv."""

    shell_command = staticmethod(shell_command)


def _optional(name: str, label: str) -> Param:
    return Param(name, label, str, lambda b, t: "")


SHELL_OPEN = ActionSpec(
    id="shell.open",
    title="shell: open",
    target_type=object,  # any row with a shell: see ``unavailable``
    capability=AnySource,
    risk=Risk.CHANGE,
    key="x",
    description="Open an interactive shell for the row (the cockpit suspends until it exits): "
    "ssh to a host, kubectl exec into a pod, ECS Exec into a task, psql on PostgreSQL, "
    "redis-cli on Redis. Passwords go in the child's environment, never its argv. "
    "Audited with start, end and exit status, not the keystrokes.",
    params=(_optional("pod", "pod"), _optional("task", "task"), _optional("container", "container")),
    argv=lambda b, t, p: list(shell_command(b, t, p).argv),
    call=_run,
    prepare=_check_tools,
    unavailable=unavailable,
    interactive=True,
)
SHELL_TARGETS: tuple[type, ...] = (ServiceStatus, DatabaseSnapshot, Alarm)
