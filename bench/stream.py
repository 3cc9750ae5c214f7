#!/usr/bin/env python3
"""What sharing costs: stream bytes per minute at idle, and the driver's CPU with watchers.

    python bench/stream.py [--duration 60] [--settle 5] [--only lab|quiet] [--no-attach] [--json PATH]

Starts the lab driver (``python -m cockpit.cli --share unix:PATH``) in a 160x48 pty with
bench/tui.py's ``Session`` (``XDG_STATE_HOME`` and ``XDG_RUNTIME_DIR`` in temp dirs), waits
until its five panes hold data, then runs phases of ``--duration`` seconds each on the same
driver:

- ``0 watchers``: the driver's CPU with nobody connected;
- ``1 raw``: one raw watcher (a plain Unix-socket reader counting bytes, no TUI). Its bytes
  are split into the initial full state (``hello`` + one ``full`` snapshot per source) and
  the steady part, which is what a watcher costs per minute once connected;
- ``10 raw``: ten raw watchers, each reading continuously;
- ``1 attach``: one real ``cockpit attach`` TUI in its own 160x48 pty (skipped with
  ``--no-attach``). Its own CPU and terminal bytes are reported for information.

Scenario ``lab`` runs the log generator at 1 line/s (``COCKPIT_LAB_LOG_RATE=1``), ``quiet``
pauses it (``=0``) and runs only the first two phases. CPU is utime+stime of the driver
process alone (``/proc/<pid>/stat``), not its lab children. Each phase starts ``--settle``
seconds after its watchers connected, so the full-state burst is not in the window.

Everything is bounded in time and on loopback (a Unix socket in a temp dir). The driver and
the attach TUI run in their own sessions; at the end their process groups get SIGTERM then
SIGKILL and any escaped descendant is killed by pid (bench/tui.py's ``Session.stop``).
Prints a table, and the figures as one JSON line with ``--json PATH``. Exit status 0, or 2
when the driver never became ready.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tui import LOADING, PANES, CpuMeter, Session, find_headers, log_lines  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


class RawWatcher(threading.Thread):
    """A watcher with no TUI: reads the driver's stream as fast as it comes, counting bytes.

    The first lines of a connection are ``hello`` and the ``full`` snapshots (the late
    joiner's state); every byte after the first other event counts as steady.
    """

    def __init__(self, path: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stop_event = stop
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.sock.settimeout(0.2)
        self.t_connect = time.monotonic()
        self.initial = 0
        self.initial_events = 0
        self.initial_done = False
        self.steady = 0
        self.kinds: Counter[str] = Counter()
        self.kind_bytes: Counter[str] = Counter()
        self.source_bytes: Counter[str] = Counter()  # "kind:source" -> bytes
        self.closed = ""
        self._buf = b""

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    data = self.sock.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError as e:
                    self.closed = f"error: {e}"
                    return
                if not data:
                    self.closed = "driver closed the stream"
                    return
                self._take(data)
        finally:
            self.sock.close()

    def _take(self, data: bytes) -> None:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            n = len(line) + 1
            try:
                event = json.loads(line)
            except ValueError:
                event = {"kind": "?"}
            kind = str(event.get("kind"))
            if not self.initial_done and (kind == "hello" or event.get("full") is True):
                self.initial += n
                self.initial_events += 1
                continue
            self.initial_done = True
            self.steady += n
            self.kinds[kind] += 1
            self.kind_bytes[kind] += n
            self.source_bytes[f"{kind}:{event.get('source', '')}"] += n
            if kind in ("dropped", "refused"):
                self.closed = f"{kind}: {event.get('reason')}"


def pump_all(sessions: list[Session], seconds: float) -> None:
    """Read every session's pty for ``seconds`` so none of them blocks on a full pty."""
    deadline = time.monotonic() + seconds
    while True:
        live = {s.master: s for s in sessions if not s.eof}
        left = deadline - time.monotonic()
        if not live or left <= 0:
            return
        ready, _, _ = select.select(list(live), [], [], min(left, 0.05))
        for fd in ready:
            s = live[fd]
            try:
                data = os.read(fd, 1 << 16)
            except OSError:  # EIO: every writer closed the pty
                data = b""
            if not data:
                s.eof = True
                continue
            s._take(time.monotonic(), data)


def wait_panes(s: Session, others: list[Session], timeout: float, need_log_line: bool) -> float | None:
    """Seconds until every pane header left its loading state (and a log line shows), or None."""
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    while time.monotonic() < deadline and not s.eof:
        pump_all([s, *others], 0.1)
        lines = s.lines()
        headers = find_headers(lines)
        if (
            len(headers) == len(PANES)
            and not any(h.state.startswith(LOADING) for h in headers.values())
            and (not need_log_line or log_lines(lines, headers) > 0)
        ):
            return round(time.monotonic() - t0, 2)
    return None


def window(driver: Session, others: list[Session], seconds: float, extra: int | None = None) -> dict[str, Any]:
    """CPU of the driver alone (and optionally of one more process) over ``seconds``."""
    cpu = CpuMeter(driver.proc.pid)
    cpu_extra = CpuMeter(extra) if extra else None
    for m in (cpu, cpu_extra):
        if m:
            m.sample()
    t0 = time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end and not driver.eof:
        pump_all([driver, *others], min(1.0, end - time.monotonic()))
        for m in (cpu, cpu_extra):
            if m:
                m.sample()
    took = time.monotonic() - t0
    out = {
        "window_s": round(took, 1),
        "cpu_s": round(cpu.used(driver.proc.pid), 2),
        "cpu_pct": round(100 * cpu.used(driver.proc.pid) / took, 2),
    }
    if cpu_extra and extra:
        out["watcher_cpu_pct"] = round(100 * cpu_extra.used(extra) / took, 2)
    return out


def base_env(tmp: Path, log_rate: str) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("LINES", "COLUMNS", "TMUX", "STY", "COLORTERM", "NO_COLOR", "FORCE_COLOR"):
        env.pop(k, None)
    (tmp / "state").mkdir()
    (tmp / "run").mkdir(mode=0o700)
    env.update(TERM="xterm-256color", LANG=env.get("LANG") or "C.UTF-8", XDG_STATE_HOME=str(tmp / "state"),
               XDG_RUNTIME_DIR=str(tmp / "run"), COCKPIT_LAB_LOG_RATE=log_rate)
    return env


def scenario(name: str, log_rate: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": name, "log_rate": log_rate, "duration_s": args.duration}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmpname:
        tmp = Path(tmpname)
        env = base_env(tmp, log_rate)
        sock = str(tmp / "run" / "share.sock")
        argv = [sys.executable, "-m", "cockpit.cli", "--share", f"unix:{sock}"]
        out["command"] = " ".join(["python", *argv[1:]])
        driver = Session(argv, env, args.cols, args.rows)
        attach: Session | None = None
        stop = threading.Event()
        watchers: list[RawWatcher] = []
        phases: dict[str, Any] = {}
        out["phases"] = phases
        try:
            ready = wait_panes(driver, [], args.timeout, need_log_line=log_rate != "0")
            if ready is None or not os.path.exists(sock):
                out["error"] = "driver not ready: " + " | ".join(line.rstrip() for line in driver.lines() if line.strip())[:400]
                return out
            out["all_panes_s"] = ready
            pump_all([driver], args.settle)

            phases["0 watchers"] = window(driver, [], args.duration)

            watchers.append(RawWatcher(sock, stop))
            watchers[0].start()
            pump_all([driver], args.settle)
            first = watchers[0]
            before = first.steady
            kinds_before = Counter(first.kind_bytes)
            sources_before = Counter(first.source_bytes)
            phases["1 raw"] = window(driver, [], args.duration)
            steady = first.steady - before
            per_min = 60 / phases["1 raw"]["window_s"]
            out["stream"] = {
                "initial_bytes": first.initial,
                "initial_events": first.initial_events,
                "steady_bytes_per_min": round(steady * per_min),
                "steady_by_kind_per_min": {k: round((v - kinds_before.get(k, 0)) * per_min)
                                           for k, v in sorted(first.kind_bytes.items())},
                "steady_by_source_per_min": {k: round((v - sources_before.get(k, 0)) * per_min)
                                             for k, v in first.source_bytes.most_common()},
                "first_minute_bytes": round(first.initial + steady * per_min),
            }

            if name == "lab":
                more = [RawWatcher(sock, stop) for _ in range(9)]
                for w in more:
                    w.start()
                watchers += more
                pump_all([driver], args.settle)
                marks = [w.steady for w in watchers]
                phases["10 raw"] = window(driver, [], args.duration)
                rates = [(w.steady - m) * 60 / phases["10 raw"]["window_s"] for w, m in zip(watchers, marks, strict=True)]
                phases["10 raw"]["per_watcher_bytes_per_min"] = round(statistics.median(rates))
                stop.set()
                for w in watchers:
                    w.join(2)
                out["raw_closed"] = sorted({w.closed for w in watchers if w.closed})

                if not args.no_attach:
                    pump_all([driver], args.settle)
                    attach = Session([sys.executable, "-m", "cockpit.cli", "attach", f"unix:{sock}"],
                                     env, args.cols, args.rows)
                    loaded = wait_panes(attach, [driver], args.timeout, need_log_line=True)
                    pump_all([driver, attach], args.settle)
                    start_bytes = attach.total
                    phases["1 attach"] = window(driver, [attach], args.duration, extra=attach.proc.pid)
                    phases["1 attach"]["watcher_panes_s"] = loaded
                    phases["1 attach"]["watcher_terminal_bytes_per_min"] = round(
                        (attach.total - start_bytes) * 60 / phases["1 attach"]["window_s"])
            out["driver_alive"] = driver.proc.poll() is None
        finally:
            stop.set()
            for w in watchers:
                w.join(2)
            left = []
            if attach is not None:
                left += attach.stop()
            left += driver.stop()
            out["left_behind"] = left
    return out


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| scenario | phase | driver CPU % of a core (s) | stream bytes/min per watcher | notes |",
            "|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['scenario']} | – | – | – | {r['error'][:120]} |")
            continue
        st = r.get("stream", {})
        for phase, p in r["phases"].items():
            cpu = f"{p['cpu_pct']:.2f} ({p['cpu_s']:.2f} s / {p['window_s']:.0f} s)"
            if phase == "1 raw":
                per, notes = f"{st['steady_bytes_per_min'] / 1000:.1f} KB", (
                    f"initial full state {st['initial_bytes'] / 1000:.1f} KB ({st['initial_events']} events)")
            elif phase == "10 raw":
                per, notes = f"{p['per_watcher_bytes_per_min'] / 1000:.1f} KB (median)", ""
            elif phase == "1 attach":
                per, notes = "–", (f"attach TUI: {p.get('watcher_cpu_pct')} % CPU, "
                                   f"{p['watcher_terminal_bytes_per_min'] / 1000:.1f} KB/min to its terminal, "
                                   f"panes loaded in {p['watcher_panes_s']} s")
            else:
                per, notes = "–", ""
            rows.append(f"| {r['scenario']} | {phase} | {cpu} | {per} | {notes} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=60, help="seconds per phase (default 60)")
    p.add_argument("--settle", type=float, default=5, help="seconds after start-up / connecting (default 5)")
    p.add_argument("--timeout", type=float, default=40, help="time limit for the panes to load (default 40)")
    p.add_argument("--only", choices=("lab", "quiet"))
    p.add_argument("--no-attach", action="store_true", help="skip the phase with a real `cockpit attach` TUI")
    p.add_argument("--json", metavar="PATH", help="write the figures as one JSON line")
    p.add_argument("--cols", type=int, default=160)
    p.add_argument("--rows", type=int, default=48)
    args = p.parse_args(argv)
    os.chdir(REPO)  # `python -m cockpit.cli` from the repository root, as bench/run does

    def _term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so the scenario's finally kills the driver

    signal.signal(signal.SIGTERM, _term)
    scenarios = [("lab", "1"), ("quiet", "0")]
    results = []
    for name, rate in scenarios:
        if args.only and args.only != name:
            continue
        print(f"bench/stream.py: {name} (COCKPIT_LAB_LOG_RATE={rate}), {args.duration:g} s per phase…",
              file=sys.stderr)
        results.append(scenario(name, rate, args))
    print(table(results))
    for r in results:
        if r.get("left_behind"):
            print(f"{r['scenario']}: killed left-behind processes {r['left_behind']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results) + "\n")
    return 2 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
