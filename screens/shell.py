"""The UI side of a shell on a row (`x`): which pod, task or container, then the terminal.

What runs is built and checked in ``cockpit/shell.py`` and goes through the ``ActionRunner``
like any action; this module only asks the questions a picker answers (a workload's pod, an
ECS task, a container among several) and lends the terminal: ``run_in_terminal`` suspends the
app (``App.suspend``: alternate screen, mouse, bracketed paste and the key reader off), runs
the child on the terminal, puts back what the child may have left behind (tty modes, mouse
reporting, cursor keys, a scroll region), and resumes; Textual then repaints the whole screen,
as it must: the terminal's alternate screen starts blank again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
from typing import Any

from cockpit.errors import CockpitError
from cockpit.model import Alarm
from cockpit.shell import ShellCommand, ecs_exec_missing, ecs_tasks, kind_of, run_here

# What a child may leave set that Textual does not set back itself: mouse reporting of any
# kind, application cursor keys and keypad, a scroll region, an origin mode, colours.
AFTER_CHILD = (
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[?1015l\x1b[?1016l"
    "\x1b[?1l\x1b>\x1b[r\x1b[?6l\x1b[0m"
)


async def shell_params(app: Any, target: Any, backend: Any) -> dict[str, str] | None:
    """The pod / task and container the shell goes into ({} when the row needs none); None
    when the user cancelled or there is nothing to go into (said in a notice)."""
    from screens.k8s import choose_container

    kind = kind_of(backend, target)
    name = getattr(target, "name", "")
    try:
        if kind == "kubernetes" and not isinstance(target, Alarm):  # a pod ref names its pod
            pods = [p for p in await backend.workload_pods(target) if p.status == "Running"]
            if not pods:
                app.notify(f"{name} has no running pod to open a shell in", severity="warning")
                return None
            by_name = {p.name: p for p in pods}
            pod = await choose_container(app, f"Shell in which pod of {name}?", list(by_name), offer_all=False)
            if pod is None:
                return None
            container = await _container(app, pod, list(by_name[pod].containers))
            return None if container is None else {"pod": pod, "container": container}
        if kind == "ecs":
            if ecs_exec_missing() is not None:
                return {}  # the runner refuses it, saying what to install (and audits that)
            tasks = dict(await ecs_tasks(backend, target))
            if not tasks:
                app.notify(f"{name} has no running task to open a shell in", severity="warning")
                return None
            short = {arn.rsplit("/", 1)[-1]: arn for arn in tasks}
            task = await choose_container(app, f"Shell in which task of {name}?", list(short), offer_all=False)
            if task is None:
                return None
            container = await _container(app, task, list(tasks[short[task]]))
            return None if container is None else {"task": short[task], "container": container}
    except Exception as e:  # shown, not raised: the user can retry
        app.notify(f"cannot open a shell on {name}: {e}", severity="error")
        return None
    return {}


async def _container(app: Any, where: str, containers: list[str]) -> str | None:
    from screens.k8s import choose_container

    if not containers:
        return ""
    return await choose_container(app, f"Shell in which container of {where}?", containers, offer_all=False)


class ShellTerminal:
    """Mixed into the app: lends the terminal to a shell and takes it back whole."""

    async def run_in_terminal(self, command: ShellCommand) -> int:
        app: Any = self
        if app._driver is None or not app._driver.can_suspend:
            raise CockpitError("a shell needs the cockpit in a terminal",
                               "a browser (cockpit serve) or a headless run has none to lend")
        fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else 0
        out = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        # Blocking on purpose: while the child has the terminal nothing of ours may paint
        # (the driver's writer is stopped) or read keys; the hub catches up afterwards.
        with app.suspend():
            saved = None
            with contextlib.suppress(termios.error):
                saved = termios.tcgetattr(fd)
            with contextlib.suppress(OSError):
                os.write(out, f"\r\nops cockpit: {command.what or command.argv[0]} (exit to come back)\r\n".encode())
            try:
                code = run_here(command)
            finally:
                if saved is not None:
                    with contextlib.suppress(termios.error):
                        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                with contextlib.suppress(OSError):
                    os.write(out, AFTER_CHILD.encode())
        # The alternate screen is blank again: App.suspend ends with refresh(layout=True), which
        # repaints every cell of the screen (tests/test_shell_pty.py holds it to a full repaint).
        return code
