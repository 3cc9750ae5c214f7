"""A host's Services source: its rows, and its actions (restart a systemd unit, run a
configured check, delete rotated logs) with their commands as the user could paste them;
the detail screen (metrics, ``systemctl status``, processes, the checks' last output).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cockpit.backends.base import Restartable
from cockpit.backends.hosts.host import Host
from cockpit.backends.hosts.rows import (
    ThresholdOverrides,
    _clock,
    matching_processes,
    metrics_section,
    process_name,
    service_rows,
)
from cockpit.backends.ssh import (
    Result,
    check_unit,
    sudo,
)
from cockpit.errors import BackendError, CockpitError
from cockpit.model import (
    DetailSection,
    PaneKind,
    ServiceStatus,
)
from cockpit.profile import Thresholds
from cockpit.units import format_bytes as human_bytes

RESTART_TIMEOUT_S = 90.0
CHECK_TIMEOUT_S = 30.0
CHECK_RESULT_CHARS = 4000  # what the action's result (a notification) shows
CHECK_KEEP_CHARS = 64_000  # kept per check for the host row's detail screen


@dataclass(frozen=True)
class CheckOutput:
    """The last run of one check, for the host row's detail screen."""

    name: str
    command: str  # what the user could paste
    returncode: int
    text: str  # raw output; the detail screen shows it as plain text
    at: datetime


def check_text(result: Result) -> str:
    """stdout, then stderr without ssh's own chatter: what the user would see in a terminal."""
    out = result.stdout.decode(errors="replace")
    err = "\n".join(
        ln for ln in result.stderr.decode(errors="replace").splitlines()
        if not ln.startswith(("Warning: Permanently added", "mux_client"))
    )  # fmt: skip
    if out and err and not out.endswith("\n"):
        out += "\n"
    return (out + err).rstrip("\n")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters on the host row's detail screen)"



class HostServicesSource:
    """A host's row, and one row per unit (or process), for the Services pane.

    Restartable (units on systemd hosts) and a DetailProvider (metrics, ``systemctl status``).
    """

    pane = PaneKind.SERVICES

    def __init__(
        self, host: Host, thresholds: Thresholds, overrides: ThresholdOverrides | None = None
    ) -> None:
        self.host = host
        self.thresholds = thresholds
        self.overrides = overrides or ThresholdOverrides()  # shared with the alarms source
        self.id = f"hosts:{host.name}"
        self.title = f"host {host.name}"
        self.check_outputs: dict[str, CheckOutput] = {}  # the last run of each check
        host.acquire()

    async def fetch(self) -> list[ServiceStatus]:
        snap = await self.host.snapshot()
        return service_rows(
            snap, self.host.unit_items, self.id, self.thresholds, self.host.history(),
            self.overrides.current(),
        )  # fmt: skip

    def explain_command(self) -> list[str]:
        units = list(self.host.units)
        cmd = ["systemctl", "status", "--no-pager", *units] if units else ["uptime"]
        return self.host.transport.display(cmd)

    def acts_on(self, capability: type, target: ServiceStatus) -> bool:
        """Whether ``capability`` applies to this row (registry.available_actions asks): a
        restart only to a configured systemd unit, never to the host row or a ps process."""
        if capability is Restartable:
            try:
                self._unit_for(target)
            except CockpitError:
                return False
        return True

    # --- Restartable ---
    def _unit_for(self, target: ServiceStatus) -> str:
        if target.backend != "systemd":
            what = "a host row" if target.backend == "host" else "a process found with ps"
            raise BackendError(
                f"cannot restart {target.name} on {self.host.name}: it is {what}, not a systemd unit",
                "restart works on systemd units listed under units:",
            )
        if target.name not in self.host.units and process_name(target.name) not in {
            process_name(u) for u in self.host.units
        }:
            raise BackendError(f"{target.name} is not a configured unit of {self.host.name}")
        return check_unit(target.name)

    def _restart_argv(self, target: ServiceStatus) -> list[str]:
        unit = self._unit_for(target)
        return sudo([self.host.tools.systemctl, "restart", unit], self.host.cfg.sudo)

    def restart_command(self, target: ServiceStatus) -> list[str]:
        return self.host.transport.display(self._restart_argv(target))

    async def restart(self, target: ServiceStatus) -> str:
        argv = self._restart_argv(target)
        result = await self.host.transport.run(argv, timeout=RESTART_TIMEOUT_S)
        if result.returncode != 0:
            message = result.error_text or f"exit status {result.returncode}"
            hint = "see `systemctl status` on the host"
            if "password is required" in message or "a terminal is required" in message:
                hint = (
                    f"sudo on {self.host.name} wants a password: allow this command without one "
                    "(NOPASSWD in sudoers) or run it by hand"
                )
            elif "sudo" in message and "not found" in message:
                hint = f"sudo is not installed on {self.host.name}"
            raise BackendError(f"systemctl restart {target.name} on {self.host.name}: {message}", hint)
        return f"restarted {target.name} on {self.host.name}"

    # --- CheckRunnable ---
    def _check(self, target: ServiceStatus, check: str) -> tuple[str, list[str]]:
        if target.backend != "host" or target.name != self.host.name:
            raise BackendError(
                f"run check works on the host row {self.host.name}, not on {target.name}",
                f"select the row named {self.host.name} in Services",
            )
        checks = dict(self.host.checks)
        if not checks:
            raise BackendError(
                f"{self.host.name} has no checks configured",
                "add checks: (name -> command) to the host in profiles.yaml",
            )
        name = check.strip() or self.host.checks[0][0]
        if name not in checks:
            raise BackendError(
                f"{self.host.name} has no check named {name!r}", f"its checks: {', '.join(checks)}"
            )
        return name, list(checks[name])

    def run_check_command(self, target: ServiceStatus, check: str) -> list[str]:
        return self.host.transport.display(self._check(target, check)[1])

    def default_check(self, target: ServiceStatus) -> str:
        """The host's first configured check, to prefill the prompt ("" when it has none)."""
        return self.host.checks[0][0] if self.host.checks else ""

    async def run_check(self, target: ServiceStatus, check: str) -> str:
        name, argv = self._check(target, check)
        result = await self.host.transport.run(argv, timeout=CHECK_TIMEOUT_S)
        text = check_text(result)
        self.check_outputs[name] = CheckOutput(
            name, shlex.join(self.run_check_command(target, name)), result.returncode,
            text[-CHECK_KEEP_CHARS:], datetime.now(UTC),
        )  # fmt: skip
        if result.returncode != 0:
            raise BackendError(
                f"check {name} on {self.host.name} exited with status {result.returncode}:\n"
                + (_clip(text, 1000) or "(no output)"),
                "the full output is on the host row's detail screen",
            )
        return f"check {name} on {self.host.name}:\n" + (_clip(text, CHECK_RESULT_CHARS) or "(no output)")

    # --- RotatedLogsRemovable ---
    def _rotated_logs_argv(self, target: ServiceStatus) -> list[str]:
        if target.backend != "host" or target.name != self.host.name:
            raise BackendError(
                f"delete rotated logs works on the host row {self.host.name}, not on {target.name}",
                f"select the row named {self.host.name} in Services",
            )
        if not self.host.logs:
            raise BackendError(
                f"{self.host.name} follows no log files, so it has no rotated logs the cockpit knows of",
                "add the log files to the host's logs: in profiles.yaml",
            )
        # Only siblings named after a followed file (app.log.1, app.log.2.gz), never the file
        # itself nor anything below its directory. check_path already refused glob characters.
        dirs = sorted({p.rsplit("/", 1)[0] or "/" for p in self.host.logs if "/" in p})
        names: list[str] = []
        for p in self.host.logs:
            names += [*(["-o"] if names else []), "-path", f"{p}.*"]
        argv = ["find", *dirs, "-maxdepth", "1", "-type", "f", "(", *names, ")", "-print", "-delete"]
        return sudo(argv, self.host.cfg.sudo)

    def remove_rotated_logs_command(self, target: ServiceStatus) -> list[str]:
        return self.host.transport.display(self._rotated_logs_argv(target))

    async def remove_rotated_logs(self, target: ServiceStatus) -> str:
        result = await self.host.transport.run(self._rotated_logs_argv(target), timeout=CHECK_TIMEOUT_S)
        if result.returncode != 0:
            failure = self.host.transport.describe_failure(result)
            if failure is not None:
                raise failure
            raise BackendError(
                f"deleting rotated logs on {self.host.name}: "
                f"{result.error_text or f'exit status {result.returncode}'}",
                "the files listed before the error were deleted",
            )
        deleted = [ln for ln in result.text.splitlines() if ln.strip()]
        if not deleted:
            return f"no rotated logs to delete on {self.host.name}"
        return f"deleted {len(deleted)} rotated log file(s) on {self.host.name}:\n" + _clip(
            "\n".join(deleted), CHECK_RESULT_CHARS
        )

    def check_sections(self) -> list[DetailSection]:
        if not self.host.checks:
            return []
        rows = []
        for name, argv in self.host.checks:
            out = self.check_outputs.get(name)
            last = "not run yet" if out is None else f"exit {out.returncode} at {_clock(out.at)}"
            rows.append((name, shlex.join(argv), last))
        sections = [DetailSection("checks (palette: host: run check)", ("check", "command", "last run"), tuple(rows))]
        for out in self.check_outputs.values():
            sections.append(
                DetailSection(
                    f"check {out.name}: {out.command} (exit {out.returncode}, {_clock(out.at)})",
                    lines=tuple(out.text.splitlines()) or ("(no output)",),
                )
            )
        return sections

    # --- DetailProvider ---
    async def detail(self, record: Any) -> list[DetailSection]:
        is_host_row = isinstance(record, ServiceStatus) and record.backend == "host"
        try:
            snap = await self.host.snapshot()
        except CockpitError:
            if not (is_host_row and self.check_outputs):
                raise
            # An unreachable host still shows what its checks said last.
            return self.check_sections()
        sections = [metrics_section(snap)]
        if is_host_row:
            sections += self.check_sections()
        if isinstance(record, ServiceStatus) and record.backend == "systemd":
            unit = check_unit(record.name)
            result = await self.host.transport.run(
                [self.host.tools.systemctl, "status", "--no-pager", "-l", "-n", "20", "--", unit]
            )
            # status exits 3 for an inactive unit: its text is still what the user wants.
            lines = (result.text or result.stderr.decode(errors="replace")).splitlines()
            sections.append(DetailSection(f"systemctl status {unit}", lines=tuple(lines)))
        elif isinstance(record, ServiceStatus) and record.backend == "process":
            rule = self.host.unit_named(record.name)
            procs = matching_processes(snap, rule)
            found_by = (
                f"pid file {rule.pidfile}" if rule.pidfile
                else f"command line {rule.cmdline}" if rule.cmdline
                else "no rule: give a pidfile or cmdline"
            )  # fmt: skip
            sections.append(
                DetailSection(
                    f"processes of {record.name} (ps; found by {found_by})",
                    columns=("pid", "rss", "elapsed", "command"),
                    rows=tuple(
                        (str(p.pid), human_bytes(p.rss_kb * 1024), f"{p.elapsed_s} s", p.args)
                        for p in procs
                    ),
                )
            )
        return sections

    async def close(self) -> None:
        await self.host.release()
