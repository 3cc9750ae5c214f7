"""The probe: one shell script per host and refresh, and the pure parsers of its output.

``PROBE_SCRIPT`` reads, in one round trip, whether systemd runs (``/run/systemd/system``),
load, CPU, memory, ``df -P`` and either one ``systemctl show`` for all configured units or,
without systemd, ``ps``; ``parse_probe`` turns its sections into a ``HostSnapshot``. The
parsers are tested on captured output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cockpit.errors import BackendError

SHOW_PROPERTIES = (
    "Id,LoadState,ActiveState,SubState,ActiveEnterTimestampMonotonic,"
    "NRestarts,MainPID,MemoryCurrent"
)
# Pseudo file systems that say nothing about disk space.
_SKIP_FS = {"tmpfs", "devtmpfs", "udev", "shm", "none", "proc", "sysfs", "cgroup", "cgroup2"}
_SKIP_MOUNTS = ("/dev", "/proc", "/sys", "/run")

# $1 systemd dir, $2 systemctl, $3 seconds between two CPU samples (0: one sample),
# $4 properties for systemctl show, $5 1 when units have rules (ps is needed even with
# systemd), $6 their pid files, one a line (paths hold no control characters), $7.. units
# The output is gathered and written once: a dozen small writes woke the cockpit a dozen
# times a probe, one pipe read each.
PROBE_SCRIPT = r"""
d=$1; sc=$2; pause=$3; props=$4; rules=$5; pidfiles=$6; shift 6
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
fi
if [ ! -d "$d" ] || [ "$rules" = 1 ]; then
  echo @@ps; ps -eo pid=,rss=,etimes=,args=
fi
if [ -n "$pidfiles" ]; then
  echo @@pidfiles
  printf '%s\n' "$pidfiles" | while IFS= read -r f; do
    p=; { read -r p < "$f"; } 2>/dev/null
    case $p in ''|*[!0-9]*) p=none ;; esac
    echo "$p $f"
  done
fi
)
printf '%s\n' "$out"
exit 0
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
    pidfiles: tuple[tuple[str, int | None], ...] = ()  # (path, the pid in it) per rule
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
    """``ps -eo pid=,rss=,etimes=,args=``: args last and whole (no comm column before it,
    whose spaces, as in "tmux: server", would shift every word after it)."""
    procs = []
    for line in lines:
        parts = line.split(None, 3)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        args = parts[3].strip() if len(parts) > 3 else ""
        procs.append(
            Process(
                pid=int(parts[0]),
                rss_kb=int(parts[1]) if parts[1].isdigit() else 0,
                elapsed_s=int(parts[2]) if parts[2].isdigit() else 0,
                comm=args.split(" ", 1)[0].rsplit("/", 1)[-1],
                args=args,
            )
        )
    return tuple(procs)


def parse_pidfiles(lines: Sequence[str]) -> tuple[tuple[str, int | None], ...]:
    out = []
    for line in lines:
        pid, _, path = line.partition(" ")
        if path:
            out.append((path, int(pid) if pid.isdigit() else None))
    return tuple(out)


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
        pidfiles=parse_pidfiles(s.get("pidfiles", [])),
        cpu_sample=samples[-1] if samples else None,
    )
