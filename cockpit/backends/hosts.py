"""Plain hosts: systemd units (or processes), host metrics, threshold alarms, logs, restarts.

Per host and refresh there is one round trip (``PROBE_SCRIPT``): whether systemd runs
(``/run/systemd/system``), load, CPU, memory, ``df -P``, and either one ``systemctl show``
for all configured units or, without systemd, ``ps`` (the rows then say "ps, no systemd").
The services source and the alarms source of a host share that probe (``HostProbe``).

Logs: ``tail -F`` for files and ``journalctl -f -o json`` for units, one long-lived
command per source over the host's shared ControlMaster. The follower remembers where it
was (file inode and byte offset, journal cursor), so after a dropped connection the hub's
next ``follow()`` resumes without losing or repeating lines, and marks the gap.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cockpit.backends.base import Restartable
from cockpit.backends.loglines import parse_level
from cockpit.backends.ssh import (
    LocalTransport,
    Pool,
    Result,
    SshTransport,
    Transport,
    check_command,
    check_path,
    check_unit,
    sudo,
    terminate,
)
from cockpit.errors import BackendError, CockpitError
from cockpit.model import (
    Alarm,
    DetailSection,
    LogLevel,
    LogRecord,
    PaneKind,
    ServiceStatus,
    Severity,
)
from cockpit.profile import HostConfig, Profile, Thresholds
from cockpit.units import format_bytes as human_bytes

RESTART_TIMEOUT_S = 90.0
FILE_HISTORY_LINES = 100
MAX_LINE_CHARS = 16_000
READ_CHUNK = 1 << 16
HISTORY = 30  # probes kept for sparklines
CHECK_TIMEOUT_S = 30.0
CHECK_RESULT_CHARS = 4000  # what the action's result (a notification) shows
CHECK_KEEP_CHARS = 64_000  # kept per check for the host row's detail screen

SHOW_PROPERTIES = (
    "Id,LoadState,ActiveState,SubState,ActiveEnterTimestampMonotonic,"
    "NRestarts,MainPID,MemoryCurrent"
)
# Pseudo file systems that say nothing about disk space.
_SKIP_FS = {"tmpfs", "devtmpfs", "udev", "shm", "none", "proc", "sysfs", "cgroup", "cgroup2"}
_SKIP_MOUNTS = ("/dev", "/proc", "/sys", "/run")

# $1 systemd dir, $2 systemctl, $3 seconds between two CPU samples (0: one sample),
# $4 properties for systemctl show, $5.. units
# The output is gathered and written once: a dozen small writes woke the cockpit a dozen
# times a probe, one pipe read each.
PROBE_SCRIPT = r"""
d=$1; sc=$2; pause=$3; props=$4; shift 4
out=$(
echo @@systemd; if [ -d "$d" ]; then echo yes; else echo no; fi
echo @@uptime; cat /proc/uptime
echo @@loadavg; cat /proc/loadavg
echo @@stat; head -n 1 /proc/stat
if [ "$pause" != 0 ]; then sleep "$pause"; head -n 1 /proc/stat; fi
echo @@meminfo; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo @@df; df -P -k 2>/dev/null
if [ -d "$d" ]; then
  echo @@units
  [ $# -gt 0 ] && "$sc" show --no-pager -p "$props" -- "$@" 2>&1
else
  echo @@ps; ps -eo pid=,rss=,etimes=,comm=,args=
fi
)
printf '%s\n' "$out"
exit 0
"""

# $1 file, $2 byte offset to resume at, $3 inode it belonged to ("" first time, "?" unknown
# after a rotation), $4 history lines, $5 marker. The marker line says where following
# starts; then tail runs until the cockpit closes our stdin (so no tail is left behind).
FOLLOW_FILE_SCRIPT = r"""
f=$1 off=$2 ino=$3 n=$4 mark=$5
set -- $(stat -L -c '%i %s' -- "$f" 2>/dev/null || echo '0 0')
cur=$1 size=$2
if [ -z "$ino" ]; then
  [ "$n" -gt 0 ] && head -c "$size" -- "$f" 2>/dev/null | tail -n "$n"
  start=$size
elif [ "$ino" = "$cur" ] || [ "$ino" = "?" ]; then
  if [ "$size" -ge "$off" ]; then start=$off; else start=0; fi
else
  start=0
fi
echo "$mark $cur $start"
tail -c +$((start + 1)) -F -- "$f" 2>&1 &
t=$!
cat >/dev/null
kill $t 2>/dev/null
"""

# $1 systemd dir, $2 journalctl, $3 unit, $4 cursor ("" first time), $5 marker
FOLLOW_JOURNAL_SCRIPT = r"""
d=$1 jc=$2 unit=$3 cursor=$4 mark=$5
if [ ! -d "$d" ]; then echo "$mark nosystemd"; exit 0; fi
echo "$mark ok"
if [ -n "$cursor" ]; then
  "$jc" -f -o json --no-pager -u "$unit" --after-cursor="$cursor" 2>&1 &
else
  "$jc" -f -o json --no-pager -u "$unit" -n 100 2>&1 &
fi
t=$!
cat >/dev/null
kill $t 2>/dev/null
"""


@dataclass(frozen=True)
class HostTools:
    """Where the remote commands are. Tests point these at stand-ins; nobody else needs to."""

    systemctl: str = "systemctl"
    journalctl: str = "journalctl"
    systemd_dir: str = "/run/systemd/system"


# --- parsing (pure, tested on captured output) -----------------------------------------


@dataclass(frozen=True)
class Disk:
    mount: str
    filesystem: str
    size_kb: int
    used_kb: int
    percent: float


@dataclass(frozen=True)
class UnitState:
    name: str
    load: str
    active: str
    sub: str
    since_s: float | None  # seconds since it entered "active"
    restarts: int | None
    main_pid: int | None
    memory: int | None


@dataclass(frozen=True)
class Process:
    pid: int
    rss_kb: int
    elapsed_s: int
    comm: str
    args: str


@dataclass(frozen=True)
class HostSnapshot:
    host: str
    systemd: bool
    uptime_s: float
    load: tuple[float, float, float]
    cpu_percent: float | None
    mem_percent: float | None
    disks: tuple[Disk, ...]
    units: tuple[UnitState, ...] = ()
    processes: tuple[Process, ...] = ()
    cpu_sample: tuple[int, int] | None = None  # (busy, total) jiffies, for the next delta
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def split_sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@") and " " not in line:
            current = line[2:]
            out.setdefault(current, [])
        elif current:
            out[current].append(line)
    return out


def parse_cpu_line(line: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from ``/proc/stat``'s first line."""
    parts = line.split()
    if not parts or parts[0] != "cpu":
        return None
    values = [int(v) for v in parts[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def cpu_percent(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    if a is None or b is None or b[1] <= a[1]:
        return None
    return round(100.0 * (b[0] - a[0]) / (b[1] - a[1]), 1)


def parse_meminfo(lines: Sequence[str]) -> float | None:
    values: dict[str, int] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if rest.split():
            values[key] = int(rest.split()[0])
    total, avail = values.get("MemTotal"), values.get("MemAvailable")
    if not total or avail is None:
        return None
    return round(100.0 * (total - avail) / total, 1)


def parse_df(lines: Sequence[str]) -> tuple[Disk, ...]:
    """``df -P -k`` rows for real file systems (pseudo ones and tiny mounts left out)."""
    disks = []
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < 6 or not parts[1].isdigit():
            continue
        fs, size, used, avail = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
        mount = " ".join(parts[5:])
        if fs in _SKIP_FS or size < 1024 or mount.startswith(_SKIP_MOUNTS):
            continue
        # df's own Capacity rounds up and counts reserved blocks the way users expect.
        pct = parts[4].rstrip("%")
        percent = float(pct) if pct.isdigit() else round(100.0 * used / max(used + avail, 1), 1)
        disks.append(Disk(mount, fs, size, used, percent))
    return tuple(disks)


def _int_or_none(value: str) -> int | None:
    try:
        n = int(value)
    except ValueError:
        return None
    # systemd prints 2^64-1 for "not set" / infinity.
    return None if n >= (1 << 63) else n


def parse_systemctl_show(lines: Sequence[str], uptime_s: float) -> tuple[UnitState, ...]:
    """Blocks of ``KEY=value`` lines separated by blank lines, one per unit."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*lines, ""]:
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    units = []
    for b in blocks:
        if "Id" not in b:
            continue
        mono = _int_or_none(b.get("ActiveEnterTimestampMonotonic", ""))
        since = uptime_s - mono / 1e6 if mono and uptime_s else None
        pid = _int_or_none(b.get("MainPID", ""))
        units.append(
            UnitState(
                name=b["Id"],
                load=b.get("LoadState", ""),
                active=b.get("ActiveState", "unknown"),
                sub=b.get("SubState", ""),
                since_s=since if since is None or since >= 0 else None,
                restarts=_int_or_none(b.get("NRestarts", "")),
                main_pid=pid or None,
                memory=_int_or_none(b.get("MemoryCurrent", "")),
            )
        )
    return tuple(units)


def parse_ps(lines: Sequence[str]) -> tuple[Process, ...]:
    procs = []
    for line in lines:
        parts = line.split(None, 4)
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        procs.append(
            Process(
                pid=int(parts[0]),
                rss_kb=int(parts[1]) if parts[1].isdigit() else 0,
                elapsed_s=int(parts[2]) if parts[2].isdigit() else 0,
                comm=parts[3],
                args=parts[4] if len(parts) > 4 else "",
            )
        )
    return tuple(procs)


def parse_probe(
    host: str, text: str, previous_cpu: tuple[int, int] | None = None
) -> HostSnapshot:
    s = split_sections(text)
    if "loadavg" not in s or "stat" not in s:
        raise BackendError(
            f"{host} answered without /proc figures",
            "the cockpit reads Linux /proc; is this a Linux host with /bin/sh?",
        )
    uptime = float((s.get("uptime") or ["0"])[0].split()[0] or 0)
    load_parts = (s["loadavg"] or ["0 0 0"])[0].split()
    load = (float(load_parts[0]), float(load_parts[1]), float(load_parts[2]))
    samples = [parse_cpu_line(ln) for ln in s["stat"]]
    if len(samples) >= 2:
        cpu = cpu_percent(samples[0], samples[-1])
    else:
        cpu = cpu_percent(previous_cpu, samples[0] if samples else None)
    systemd = (s.get("systemd") or ["no"])[0].strip() == "yes"
    return HostSnapshot(
        host=host,
        systemd=systemd,
        uptime_s=uptime,
        load=load,
        cpu_percent=cpu,
        mem_percent=parse_meminfo(s.get("meminfo", [])),
        disks=parse_df(s.get("df", [])),
        units=parse_systemctl_show(s.get("units", []), uptime) if systemd else (),
        processes=parse_ps(s.get("ps", [])),
        cpu_sample=samples[-1] if samples else None,
    )


def process_name(unit: str) -> str:
    return unit.removesuffix(".service")


def matching_processes(snapshot: HostSnapshot, unit: str) -> list[Process]:
    """Processes a configured name stands for on a host without systemd (``ps | grep``)."""
    name = process_name(unit)
    out = []
    for p in snapshot.processes:
        argv0 = p.args.split(" ", 1)[0].rsplit("/", 1)[-1] if p.args else ""
        if p.comm == name or argv0 == name:
            out.append(p)
    return out


# --- rows and alarms (pure) ----------------------------------------------------------


# Thresholds lowered at run time, by host name then metric ("cpu", "memory", "disk /"): the
# lab's disk-full drill sets one so a disk alarm fires without filling a real disk to 80 %,
# and removes it when the drill ends. Both the alarm and the host row read it.
_THRESHOLD_OVERRIDES: dict[str, dict[str, float]] = {}


def override_threshold(host: str, metric: str, limit: float | None) -> None:
    """Set (``limit``) or remove (``None``) the threshold of one metric of one host."""
    if limit is None:
        _THRESHOLD_OVERRIDES.get(host, {}).pop(metric, None)
        if not _THRESHOLD_OVERRIDES.get(host, True):
            del _THRESHOLD_OVERRIDES[host]
    else:
        _THRESHOLD_OVERRIDES.setdefault(host, {})[metric] = float(limit)


def threshold_overrides(host: str) -> dict[str, float]:
    """The overrides in force for ``host`` (a copy)."""
    return dict(_THRESHOLD_OVERRIDES.get(host, {}))


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
) -> ServiceStatus:
    breaches = metric_breaches(snapshot, limits, threshold_overrides(snapshot.host))
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


def process_row(unit: str, snapshot: HostSnapshot, source: str) -> ServiceStatus:
    procs = matching_processes(snapshot, unit)
    oldest = max(procs, key=lambda p: p.elapsed_s, default=None)
    rss = sum(p.rss_kb for p in procs) * 1024
    return ServiceStatus(
        name=process_name(unit),
        backend="process",
        source=source,
        status=Severity.OK if procs else Severity.CRITICAL,
        status_text=("running (ps, no systemd)" if procs else "not running (ps, no systemd)"),
        # One service, however many worker processes it forks: 12/1 would read as over-scaled.
        running=1 if procs else 0,
        desired=1,
        deployment=f"{len(procs)} process{'es' if len(procs) != 1 else ''}",
        task_definition=(f"pid {oldest.pid} {human_bytes(rss)}" if oldest else ""),
        created_at=snapshot.taken_at - timedelta(seconds=oldest.elapsed_s) if oldest else None,
        cluster=snapshot.host,
    )


def service_rows(
    snapshot: HostSnapshot,
    units: Sequence[str],
    source: str,
    limits: Thresholds,
    history: tuple[tuple[str, tuple[float, ...]], ...] = (),
) -> list[ServiceStatus]:
    rows = [host_row(snapshot, source, limits, history)]
    if snapshot.systemd:
        seen = {u.name: u for u in snapshot.units}
        for unit in units:
            state = seen.get(unit) or seen.get(f"{unit}.service")
            if state is None:
                state = UnitState(unit, "not-found", "unknown", "", None, None, None, None)
            rows.append(unit_row(state, snapshot, source))
    else:
        rows += [process_row(u, snapshot, source) for u in units]
    return rows


# --- the host: transport + probe shared by its sources ---------------------------------


class Host:
    """One configured host: its transport and the probe its sources share."""

    def __init__(
        self,
        cfg: HostConfig,
        transport: Transport,
        *,
        tools: HostTools | None = None,
        max_age: float = 1.0,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.units = tuple(check_unit(u) for u in cfg.units)
        self.journal = tuple(check_unit(u) for u in cfg.journal)
        self.logs = tuple(check_path(p) for p in cfg.logs)
        self.checks = tuple((name, check_command(argv, f"check {name}")) for name, argv in cfg.checks)
        self.transport = transport
        self.tools = tools or HostTools()
        self.max_age = max_age  # a probe younger than this is shared, not repeated
        self._task: asyncio.Future[HostSnapshot] | None = None
        self._last: HostSnapshot | None = None
        self._last_at = 0.0
        self._error: BaseException | None = None
        self._users = 0
        self._history: dict[str, deque[float]] = {
            "cpu": deque(maxlen=HISTORY), "memory": deque(maxlen=HISTORY)
        }

    def history(self) -> tuple[tuple[str, tuple[float, ...]], ...]:
        """Recent cpu and memory % (oldest first), for the host row's sparklines."""
        return tuple((k, tuple(v)) for k, v in self._history.items() if v)

    def probe_command(self, pause: float) -> list[str]:
        return [
            "sh", "-c", PROBE_SCRIPT, "sh",
            self.tools.systemd_dir, self.tools.systemctl, f"{pause:g}", SHOW_PROPERTIES, *self.units,
        ]  # fmt: skip

    async def snapshot(self) -> HostSnapshot:
        """The host's figures, shared by concurrent callers and reused for ``max_age`` s."""
        if self._task is not None and not self._task.done():
            return await asyncio.shield(self._task)
        if time.monotonic() - self._last_at < self.max_age:
            if self._error is not None:
                raise self._error
            if self._last is not None:
                return self._last
        self._task = asyncio.ensure_future(self._probe())
        return await asyncio.shield(self._task)

    async def _probe(self) -> HostSnapshot:
        previous = self._last.cpu_sample if self._last else None
        try:
            # The first probe samples CPU twice; later ones compare with the previous probe.
            result = await self.transport.run(self.probe_command(0 if previous else 0.3))
            if result.returncode != 0:
                raise BackendError(
                    f"{self.name}: probe failed: {result.error_text or f'exit {result.returncode}'}",
                    "the cockpit runs /bin/sh, /proc, df and ps on the host",
                )
            snap = parse_probe(self.name, result.text, previous)
        except BaseException as e:
            self._error, self._last_at = e, time.monotonic()
            raise
        self._last, self._error, self._last_at = snap, None, time.monotonic()
        for key, value in (("cpu", snap.cpu_percent), ("memory", snap.mem_percent)):
            if value is not None:
                self._history[key].append(value)
        return snap

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            await self.transport.close()

    async def close(self) -> None:
        await self.transport.close()


class HostServicesSource:
    """A host's row, and one row per unit (or process), for the Services pane.

    Restartable (units on systemd hosts) and a DetailProvider (metrics, ``systemctl status``).
    """

    pane = PaneKind.SERVICES

    def __init__(self, host: Host, thresholds: Thresholds) -> None:
        self.host = host
        self.thresholds = thresholds
        self.id = f"hosts:{host.name}"
        self.title = f"host {host.name}"
        self.check_outputs: dict[str, CheckOutput] = {}  # the last run of each check
        host.acquire()

    async def fetch(self) -> list[ServiceStatus]:
        snap = await self.host.snapshot()
        return service_rows(snap, self.host.units, self.id, self.thresholds, self.host.history())

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
            procs = matching_processes(snap, record.name)
            sections.append(
                DetailSection(
                    f"processes named {record.name} (ps; {self.host.name} runs no systemd)",
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


def metrics_section(snap: HostSnapshot) -> DetailSection:
    rows = [
        ("load 1/5/15 min", " ".join(f"{v:.2f}" for v in snap.load)),
        ("cpu", "–" if snap.cpu_percent is None else f"{snap.cpu_percent:.1f} %"),
        ("memory", "–" if snap.mem_percent is None else f"{snap.mem_percent:.1f} %"),
        ("systemd", "yes" if snap.systemd else "no (processes from ps)"),
    ]
    rows += [(f"disk {d.mount}", f"{d.percent:.0f} % of {human_bytes(d.size_kb * 1024)}") for d in snap.disks]
    return DetailSection(f"host {snap.host}", columns=("metric", "value"), rows=tuple(rows))


class HostAlarmSource:
    """Threshold alarms of one host (CPU, memory, disk per mount) and "unreachable"."""

    pane = PaneKind.ALARMS

    def __init__(self, host: Host, thresholds: Thresholds) -> None:
        self.host = host
        self.thresholds = thresholds
        self.id = f"hosts:{host.name}:alarms"
        self.title = f"host {host.name}"
        self._since: dict[str, datetime] = {}
        host.acquire()

    async def fetch(self) -> list[Alarm]:
        now = datetime.now(UTC)
        try:
            snap = await self.host.snapshot()
        except CockpitError as e:
            # An unreachable host is itself the alarm an on-call wants to see.
            alarms = [
                Alarm(
                    name=f"{self.host.name} unreachable",
                    source=self.id,
                    severity=Severity.CRITICAL,
                    state="ALARM",
                    reason=e.message,
                    since=self._since.setdefault("unreachable", now),
                    resource=self.host.name,
                    threshold="reachable over ssh",
                )
            ]
            self._keep({"unreachable"})
            return alarms
        alarms = []
        breaches = metric_breaches(snap, self.thresholds, threshold_overrides(self.host.name))
        for metric, value, limit in breaches:
            alarms.append(
                Alarm(
                    name=f"{self.host.name} {metric}",
                    source=self.id,
                    severity=Severity.CRITICAL,
                    state="ALARM",
                    reason=f"{metric} at {value:.0f} % (above {limit:g} %)",
                    since=self._since.setdefault(metric, now),
                    resource=self.host.name,
                    threshold=f"{metric} > {limit:g} %",
                )
            )
        self._keep({m for m, _, _ in breaches})
        return alarms

    def _keep(self, firing: set[str]) -> None:
        for key in list(self._since):
            if key not in firing:
                del self._since[key]

    async def close(self) -> None:
        await self.host.release()


# --- logs -----------------------------------------------------------------------------


def _clock(t: datetime) -> str:
    return t.astimezone().strftime("%H:%M:%S")


class _Follower:
    """One long-lived command whose first marker line says it is connected."""

    def __init__(self, host: Host, id: str, title: str) -> None:
        self.host = host
        self.id = id
        self.title = title
        self.lost_at: datetime | None = None
        self.connected = False
        host.acquire()

    def command(self, marker: str) -> list[str]:
        raise NotImplementedError

    def on_marker(self, fields: list[str]) -> None:
        """The follower started; ``fields`` are what the script put after the marker."""

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        raise NotImplementedError

    def history_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        return self.on_line(raw, now)

    async def follow(self) -> AsyncIterator[list[LogRecord]]:
        marker = f"@@cockpit-{secrets.token_hex(6)}".encode()
        proc = await self.host.transport.spawn(self.command(marker.decode()))
        assert proc.stdout is not None and proc.stdin is not None
        self.connected = False
        buffer = b""
        try:
            while True:
                chunk = await proc.stdout.read(READ_CHUNK)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > MAX_LINE_CHARS * 4:  # a "line" that never ends: cut it
                    lines.append(buffer)
                    buffer = b""
                now = datetime.now(UTC)
                batch: list[LogRecord] = []
                was_connected = self.connected
                for raw in lines:
                    if not self.connected:
                        if raw.startswith(marker):
                            self.connected = True
                            self.on_marker(raw[len(marker):].decode(errors="replace").split())
                            if self.lost_at is not None:
                                batch.append(self._gap_record(now))
                            continue
                        record = self.history_line(raw, now)
                    else:
                        record = self.on_line(raw + b"\n", now)
                    if record is not None:
                        batch.append(record)
                if batch or (self.connected and not was_connected):
                    yield batch  # an empty one says "following again" (the pane drops its error)
            # EOF: the command or the connection ended; a follower never ends by itself.
            stderr = (await proc.stderr.read()).decode(errors="replace") if proc.stderr else ""
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.stdin.close()  # the script kills its follower when stdin closes
                try:
                    await asyncio.wait_for(proc.wait(), 2)
                except (TimeoutError, asyncio.CancelledError):
                    await terminate(proc)
        self._lost()
        failure = self.host.transport.describe_failure(Result(proc.returncode or 0, b"", stderr.encode()))
        if failure is not None:
            raise failure
        message = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
        raise BackendError(
            f"following {self.title} stopped: {message or f'exit status {proc.returncode}'}",
            "will reconnect",
        )

    def _lost(self) -> None:
        if self.connected and self.lost_at is None:
            self.lost_at = datetime.now(UTC)
        self.connected = False

    def _gap_record(self, now: datetime) -> LogRecord:
        assert self.lost_at is not None
        text = f"connection lost {_clock(self.lost_at)} – {_clock(now)}"
        rec = LogRecord(now, self.host.name, LogLevel.WARN, text, id=f"gap:{self.lost_at.timestamp()}")
        self.lost_at = None
        return rec

    async def close(self) -> None:
        await self.host.release()


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode(errors="replace")[:MAX_LINE_CHARS]


class FileLogSource(_Follower):
    """``tail -F FILE`` (follows rotation), resuming at the byte offset after a reconnect."""

    def __init__(self, host: Host, path: str, history: int = FILE_HISTORY_LINES) -> None:
        super().__init__(host, f"hosts:{host.name}:file:{path}", f"{host.name} {path}")
        self.path = check_path(path)
        self.history = history
        self.inode = ""  # "" never started, "?" unknown after a rotation
        self.offset = 0  # bytes of the followed file already yielded

    def command(self, marker: str) -> list[str]:
        return sudo(
            ["sh", "-c", FOLLOW_FILE_SCRIPT, "sh", self.path, str(self.offset), self.inode,
             str(self.history), marker],
            self.host.cfg.sudo,
        )  # fmt: skip

    def explain_command(self) -> list[str]:
        return self.host.transport.display(sudo(["tail", "-F", self.path], self.host.cfg.sudo))

    def on_marker(self, fields: list[str]) -> None:
        if len(fields) >= 2:
            self.inode, self.offset = fields[0], int(fields[1])

    def history_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        text = _text(raw)
        return LogRecord(now, self.host.name, parse_level(text), text)

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        if raw.startswith(b"tail: "):
            notice = _text(raw)
            # Rotation (mv + recreate) or truncation: tail reads the new file from its start.
            if any(w in notice for w in ("following new file", "has appeared", "file truncated")):
                self.inode, self.offset = "?", 0
                return None
            return LogRecord(now, self.host.name, LogLevel.WARN, notice)
        self.offset += len(raw)
        text = _text(raw)
        return LogRecord(now, self.host.name, parse_level(text), text)


_PRIORITY_LEVEL = {0: LogLevel.ERROR, 1: LogLevel.ERROR, 2: LogLevel.ERROR, 3: LogLevel.ERROR,
                   4: LogLevel.WARN, 5: LogLevel.INFO, 6: LogLevel.INFO, 7: LogLevel.DEBUG}  # fmt: skip


def parse_journal_entry(raw: bytes, host: str) -> tuple[LogRecord, str] | None:
    """A ``journalctl -o json`` line -> (record, cursor); None for anything else."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE", "")
    if isinstance(message, list):  # binary-safe form: a list of byte values
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode(errors="replace")
    try:
        when = datetime.fromtimestamp(int(entry["__REALTIME_TIMESTAMP"]) / 1e6, UTC)
    except (KeyError, ValueError, TypeError):
        when = datetime.now(UTC)
    try:
        level = _PRIORITY_LEVEL.get(int(entry.get("PRIORITY", 6)), LogLevel.INFO)
    except (TypeError, ValueError):
        level = LogLevel.INFO
    unit = entry.get("_SYSTEMD_UNIT") or entry.get("SYSLOG_IDENTIFIER") or ""
    cursor = str(entry.get("__CURSOR", ""))
    text = str(message)[:MAX_LINE_CHARS]
    return LogRecord(when, f"{host}/{unit}" if unit else host, level, text, id=cursor), cursor


class JournalLogSource(_Follower):
    """``journalctl -f -o json -u UNIT``; resumes ``--after-cursor`` the last entry shown."""

    def __init__(self, host: Host, unit: str) -> None:
        super().__init__(host, f"hosts:{host.name}:journal:{unit}", f"{host.name} {unit}")
        self.unit = check_unit(unit)
        self.cursor = ""

    def command(self, marker: str) -> list[str]:
        t = self.host.tools
        return sudo(
            ["sh", "-c", FOLLOW_JOURNAL_SCRIPT, "sh", t.systemd_dir, t.journalctl, self.unit,
             self.cursor, marker],
            self.host.cfg.sudo,
        )  # fmt: skip

    def explain_command(self) -> list[str]:
        return self.host.transport.display(
            sudo(["journalctl", "-f", "-u", self.unit], self.host.cfg.sudo)
        )

    def on_marker(self, fields: list[str]) -> None:
        if fields[:1] == ["nosystemd"]:
            raise BackendError(
                f"{self.host.name} runs no systemd, so there is no journal for {self.unit}",
                "follow its log file with logs: instead of journal:",
            )

    def on_line(self, raw: bytes, now: datetime) -> LogRecord | None:
        parsed = parse_journal_entry(raw, self.host.name)
        if parsed is None:
            text = _text(raw)
            return LogRecord(now, self.host.name, LogLevel.WARN, text) if text.strip() else None
        record, cursor = parsed
        if cursor:
            self.cursor = cursor
        return record


# --- building from a profile ----------------------------------------------------------


def make_transport(cfg: HostConfig, pool: Pool, timeout: float) -> Transport:
    if cfg.local:
        return LocalTransport(cfg.name, pool=pool, timeout=timeout)
    if not cfg.ssh:
        raise BackendError(f"host {cfg.name} has neither ssh: nor local: true", "fix profiles.yaml")
    return SshTransport(cfg.name, cfg.ssh, pool=pool, timeout=timeout)


def build_host_sources(
    profile: Profile,
    *,
    pool: Pool | None = None,
    transports: dict[str, Transport] | None = None,
    tools: HostTools | None = None,
) -> tuple[list[Any], list[Any]]:
    """Services + alarms sources per host, and a log source per file / journal unit.

    ``transports`` (by host name) replaces the ssh/local transport, for tests.
    """
    pool = pool or Pool()
    # Leave the hub's timeout room to report the transport's own, clearer error.
    timeout = max(1.0, profile.timeout * 0.8)
    sources: list[Any] = []
    logs: list[Any] = []
    for cfg in profile.hosts:
        transport = (transports or {}).get(cfg.name) or make_transport(cfg, pool, timeout)
        host = Host(cfg, transport, tools=tools, max_age=min(1.0, profile.refresh / 2))
        sources += [HostServicesSource(host, profile.thresholds), HostAlarmSource(host, profile.thresholds)]
        logs += [FileLogSource(host, p) for p in host.logs]
        logs += [JournalLogSource(host, u) for u in host.journal]
    return sources, logs
