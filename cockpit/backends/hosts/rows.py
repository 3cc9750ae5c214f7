"""A snapshot -> Services rows: the host's row, a row per systemd unit or per process found
by a unit's rule (pid file, command line), the threshold breaches the host row and alarms
share, and the host's metrics detail section. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cockpit.backends.hosts.probe import HostSnapshot, Process, UnitState
from cockpit.backends.ssh import (
    check_path,
    check_unit,
)
from cockpit.model import (
    DetailSection,
    ServiceStatus,
    Severity,
)
from cockpit.profile import Thresholds, UnitConfig
from cockpit.units import format_bytes as human_bytes


def process_name(unit: str) -> str:
    return unit.removesuffix(".service")


def unit_rule(unit: str | UnitConfig) -> UnitConfig:
    """The profile's item as a rule; a plain string (a systemd unit) has neither part."""
    return unit if isinstance(unit, UnitConfig) else UnitConfig(unit)


def has_rule(unit: str | UnitConfig) -> bool:
    return isinstance(unit, UnitConfig) and bool(unit.pidfile or unit.cmdline)


def pidfile_pid(snapshot: HostSnapshot, rule: UnitConfig) -> int | None:
    return dict(snapshot.pidfiles).get(rule.pidfile or "")


def matching_processes(snapshot: HostSnapshot, rule: UnitConfig) -> list[Process]:
    """The processes a unit's rule finds: the pid file's pid (alive, with ``cmdline`` if given
    too) or every process whose whole command line is ``cmdline``. Never a bare name: another
    user's server of the same name is not this one."""
    if rule.pidfile:
        pid = pidfile_pid(snapshot, rule)
        return [
            p for p in snapshot.processes
            if p.pid == pid and (rule.cmdline is None or p.args == rule.cmdline)
        ]  # fmt: skip
    if rule.cmdline:
        return [p for p in snapshot.processes if p.args == rule.cmdline]
    return []


def _checked_unit(unit: str | UnitConfig) -> str | UnitConfig:
    """``check_unit`` for a name; a rule's name too, and its pid file like a log path."""
    if not isinstance(unit, UnitConfig):
        return check_unit(unit)
    check_unit(unit.name)
    if unit.pidfile is not None:
        check_path(unit.pidfile)
    return unit


# --- the host row, unit and process rows (pure) ----------------------------------------


class ThresholdOverrides:
    """Thresholds of one host lowered at run time, by metric ("cpu", "memory", "disk /").

    The lab's disk-full drill sets one so a disk alarm fires without filling a real disk to
    80 %, and removes it when the drill ends. ``build_host_sources`` gives one instance to
    both sources of a host: the alarm and the host row read the same limits.
    """

    def __init__(self) -> None:
        self._limits: dict[str, float] = {}

    def set(self, metric: str, limit: float | None) -> None:
        """Set (``limit``) or remove (``None``) the threshold of one metric."""
        if limit is None:
            self._limits.pop(metric, None)
        else:
            self._limits[metric] = float(limit)

    def current(self) -> dict[str, float]:
        """The overrides in force (a copy)."""
        return dict(self._limits)


def metric_breaches(
    snapshot: HostSnapshot, limits: Thresholds, overrides: dict[str, float] | None = None
) -> list[tuple[str, float, float]]:
    """(metric, value, limit) for every figure above its threshold (``overrides`` win)."""
    over = overrides or {}
    out: list[tuple[str, float, float]] = []
    cpu, memory = over.get("cpu", limits.cpu), over.get("memory", limits.memory)
    if snapshot.cpu_percent is not None and snapshot.cpu_percent > cpu:
        out.append(("cpu", snapshot.cpu_percent, cpu))
    if snapshot.mem_percent is not None and snapshot.mem_percent > memory:
        out.append(("memory", snapshot.mem_percent, memory))
    for d in snapshot.disks:
        limit = over.get(f"disk {d.mount}", limits.disk)
        if d.percent > limit:
            out.append((f"disk {d.mount}", d.percent, limit))
    return out


def metrics_text(snapshot: HostSnapshot) -> str:
    cpu = "–" if snapshot.cpu_percent is None else f"{snapshot.cpu_percent:.0f}%"
    mem = "–" if snapshot.mem_percent is None else f"{snapshot.mem_percent:.0f}%"
    worst = max(snapshot.disks, key=lambda d: d.percent, default=None)
    disk = f"{worst.percent:.0f}% {worst.mount}" if worst else "–"
    return f"load {snapshot.load[0]:.2f} cpu {cpu} mem {mem} disk {disk}"


def host_row(
    snapshot: HostSnapshot,
    source: str,
    limits: Thresholds,
    history: tuple[tuple[str, tuple[float, ...]], ...] = (),
    overrides: dict[str, float] | None = None,
) -> ServiceStatus:
    breaches = metric_breaches(snapshot, limits, overrides)
    return ServiceStatus(
        name=snapshot.host,
        backend="host",
        source=source,
        status=Severity.CRITICAL if breaches else Severity.OK,
        status_text=", ".join(f"{m} {v:.0f}%" for m, v, _ in breaches) or "up",
        running=1,
        desired=1,
        deployment=metrics_text(snapshot),
        task_definition="systemd" if snapshot.systemd else "no systemd: processes from ps",
        created_at=snapshot.taken_at - timedelta(seconds=snapshot.uptime_s) if snapshot.uptime_s else None,
        cluster=snapshot.host,
        metrics=history,
    )


_ACTIVE_SEVERITY = {
    "active": Severity.OK,
    "reloading": Severity.WARNING,
    "activating": Severity.WARNING,
    "deactivating": Severity.WARNING,
    "inactive": Severity.CRITICAL,
    "failed": Severity.CRITICAL,
}


def unit_row(unit: UnitState, snapshot: HostSnapshot, source: str) -> ServiceStatus:
    missing = unit.load == "not-found"
    details = []
    if unit.main_pid:
        details.append(f"pid {unit.main_pid}")
    if unit.memory is not None:
        details.append(human_bytes(unit.memory))
    return ServiceStatus(
        name=unit.name,
        backend="systemd",
        source=source,
        status=Severity.CRITICAL if missing else _ACTIVE_SEVERITY.get(unit.active, Severity.UNKNOWN),
        status_text="unit not found" if missing else f"{unit.active}/{unit.sub}",
        running=1 if unit.active == "active" else 0,
        desired=1,
        deployment="" if unit.restarts is None else f"restarts {unit.restarts}",
        task_definition=" ".join(details),
        created_at=(
            snapshot.taken_at - timedelta(seconds=unit.since_s)
            if unit.since_s is not None and unit.active == "active"
            else None
        ),
        cluster=snapshot.host,
    )


def _not_running_why(snapshot: HostSnapshot, rule: UnitConfig) -> str:
    if rule.pidfile:
        pid = pidfile_pid(snapshot, rule)
        if pid is None:
            return f"not running: no pid in {rule.pidfile}"
        if any(p.pid == pid for p in snapshot.processes):
            return f"not running: pid {pid} from {rule.pidfile} is another command"
        return f"not running: pid {pid} from {rule.pidfile} is gone"
    return "not running: no process has its command line"


def process_row(unit: str | UnitConfig, snapshot: HostSnapshot, source: str) -> ServiceStatus:
    rule = unit_rule(unit)
    procs = matching_processes(snapshot, rule)
    oldest = max(procs, key=lambda p: p.elapsed_s, default=None)
    rss = sum(p.rss_kb for p in procs) * 1024
    how = "pid file" if rule.pidfile else "command line"
    return ServiceStatus(
        name=process_name(rule.name),
        backend="process",
        source=source,
        status=Severity.OK if procs else Severity.CRITICAL,
        status_text=f"running ({how})" if procs else _not_running_why(snapshot, rule),
        # One service, however many worker processes it forks: 12/1 would read as over-scaled.
        running=1 if procs else 0,
        desired=1,
        deployment=f"{len(procs)} process{'es' if len(procs) != 1 else ''}",
        task_definition=(f"pid {oldest.pid} {human_bytes(rss)}" if oldest else ""),
        created_at=snapshot.taken_at - timedelta(seconds=oldest.elapsed_s) if oldest else None,
        cluster=snapshot.host,
    )


def unruled_row(name: str, snapshot: HostSnapshot, source: str) -> ServiceStatus:
    """A systemd unit on a host without systemd: unknown, not guessed from a process name."""
    return ServiceStatus(
        name=process_name(name),
        backend="process",
        source=source,
        status=Severity.UNKNOWN,
        status_text="no systemd here: give it a pidfile or cmdline in the profile",
        running=0,
        desired=1,
        cluster=snapshot.host,
    )


def service_rows(
    snapshot: HostSnapshot,
    units: Sequence[str | UnitConfig],
    source: str,
    limits: Thresholds,
    history: tuple[tuple[str, tuple[float, ...]], ...] = (),
    overrides: dict[str, float] | None = None,
) -> list[ServiceStatus]:
    rows = [host_row(snapshot, source, limits, history, overrides)]
    seen = {u.name: u for u in snapshot.units}
    for item in units:
        if has_rule(item):
            rows.append(process_row(item, snapshot, source))
            continue
        unit = unit_rule(item).name
        if not snapshot.systemd:
            rows.append(unruled_row(unit, snapshot, source))
            continue
        state = seen.get(unit) or seen.get(f"{unit}.service")
        if state is None:
            state = UnitState(unit, "not-found", "unknown", "", None, None, None, None)
        rows.append(unit_row(state, snapshot, source))
    return rows



def metrics_section(snap: HostSnapshot) -> DetailSection:
    rows = [
        ("load 1/5/15 min", " ".join(f"{v:.2f}" for v in snap.load)),
        ("cpu", "–" if snap.cpu_percent is None else f"{snap.cpu_percent:.1f} %"),
        ("memory", "–" if snap.mem_percent is None else f"{snap.mem_percent:.1f} %"),
        ("systemd", "yes" if snap.systemd else "no (processes from ps)"),
    ]
    rows += [(f"disk {d.mount}", f"{d.percent:.0f} % of {human_bytes(d.size_kb * 1024)}") for d in snap.disks]
    return DetailSection(f"host {snap.host}", columns=("metric", "value"), rows=tuple(rows))


def _clock(t: datetime) -> str:
    return t.astimezone().strftime("%H:%M:%S")
