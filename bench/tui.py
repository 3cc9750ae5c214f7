#!/usr/bin/env python3
"""Run a terminal program in a 160x48 pseudo-terminal and measure what its user pays.

    python bench/tui.py [--settle 10] [--duration 60] [--env K=V ...] -- COMMAND ...

Prints a readable table on stderr and one JSON line on stdout with:

- ``first_frame_s``: spawn -> first screen with any visible character;
- ``all_panes_s``: spawn -> every pane header (Services, Alarms, Logs, Queues, Database)
  has left its loading state (``⧗ …``) and at least one log line shows under Logs
  (``--no-log-line`` drops that last condition, for a paused log generator);
  ``panes`` holds each pane's first non-loading time and its last header text;
- idle, measured over ``--duration`` seconds after ``--settle`` seconds past all-panes
  (or past the first frame when the panes never load): ``bytes_per_min`` written to the
  terminal, CPU seconds per minute and % of one core for the cockpit process alone
  (``cpu_*``) and for its whole process tree (``tree_cpu_*``; the lab runs moto in a child),
  peak RSS (``VmHWM``) of the cockpit process;
- ``where``: the idle bytes broken down by pane and by screen row. Bytes are attributed
  by the cursor-move sequences (``ESC[row;colH``) the program writes before each run of
  cells, so a row that is repainted with identical text still counts; ``bursts`` counts
  the writes (a burst = output separated by ≥ 15 ms of silence, i.e. about one frame) and
  ``rows_rewritten_unchanged`` counts rows that were written although their text did not
  change (style-only changes count there too: the screen is compared as text).

Stdlib + pyte only (psutil is not needed: CPU and memory come from /proc). Everything is
bounded in time; the program runs in its own session and its whole process group is
killed at the end, then any descendant still alive is killed by pid.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyte

PANES = ("Services", "Alarms", "Logs", "Queues", "Database")
# A pane header reads "▶ Services  ● live · 2 services · every 5s": title, two spaces, a
# state glyph, then words separated by single spaces (two spaces end the state).
HEADER_RE = re.compile(r"(Services|Alarms|Logs|Queues|Database)  ([⧗●✖▲](?: ?[^ │┃])*)")
LOADING = "⧗"
LOG_LINE_RE = re.compile(r"\d\d:\d\d:\d\d")
CUP_RE = re.compile(rb"\x1b\[(\d+);(\d+)H")
BURST_GAP_S = 0.015
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ /proc readings


def _stat(pid: int, task: int | None = None) -> tuple[int, float] | None:
    """(ppid, utime+stime in seconds) of a live process (or one of its threads), None when gone."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        with open(path, "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (one /proc scan)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds of a process tree over a window.

    Sampled every second so a child that exits mid-window still counts up to its last
    sample; the root is reported on its own too.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.samples = 0
        self.threads_first: dict[int, float] = {}
        self.threads_last: dict[int, float] = {}

    def sample(self) -> None:
        self.samples += 1
        for pid in descendants(self.root):
            st = _stat(pid)
            if st is None:
                continue
            if pid not in self.first:
                # A process born inside the window counts from zero.
                self.first[pid] = st[1] if self.samples == 1 else 0.0
                self.names[pid] = cmdline(pid)[:80]
            self.last[pid] = st[1]
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{self.root}/task")]
        except OSError:
            tids = []
        for tid in tids:
            st = _stat(self.root, tid)
            if st is not None:
                self.threads_first.setdefault(tid, st[1] if self.samples == 1 else 0.0)
                self.threads_last[tid] = st[1]

    def threads(self) -> list[tuple[int, float]]:
        """(tid, CPU s) of the root's threads that used any CPU, busiest first."""
        rows = [(t, self.threads_last[t] - self.threads_first.get(t, 0.0)) for t in self.threads_last]
        return sorted((r for r in rows if r[1] > 0), key=lambda r: -r[1])

    def main_thread(self) -> float:
        """CPU of the root's main thread (the asyncio loop, for a Textual app)."""
        return self.threads_last.get(self.root, 0.0) - self.threads_first.get(self.root, 0.0)

    def used(self, pid: int | None = None) -> float:
        pids = [pid] if pid is not None else list(self.last)
        return sum(self.last.get(p, 0.0) - self.first.get(p, 0.0) for p in pids)

    def per_process(self) -> list[tuple[str, float]]:
        rows = [(self.names.get(p, "?") or f"pid {p}", self.used(p)) for p in self.last]
        return sorted(rows, key=lambda r: -r[1])


# ------------------------------------------------------------------ the virtual terminal


class Screen(pyte.Screen):
    def set_mode(self, *modes: int, **kwargs: bool) -> None:
        # DECCOLM would resize pyte to 132 columns; a real terminal of this size keeps it.
        if kwargs.get("private"):
            modes = tuple(m for m in modes if m != pyte.modes.DECCOLM >> 5)
        super().set_mode(*modes, **kwargs)


@dataclass
class Burst:
    start: float
    raw: bytearray = field(default_factory=bytearray)
    changed_rows: set[int] = field(default_factory=set)


@dataclass
class Header:
    pane: str
    row: int
    col: int
    state: str


def find_headers(lines: list[str]) -> dict[str, Header]:
    found: dict[str, Header] = {}
    for row, line in enumerate(lines):
        for m in HEADER_RE.finditer(line):
            found.setdefault(m.group(1), Header(m.group(1), row, m.start(), m.group(2)))
    return found


def pane_at(headers: dict[str, Header], row: int, col: int) -> str:
    """Which pane holds a cell, for grids laid out in bands of panes (the cockpit's).

    The band is the lowest header row at or above ``row``; in it, the header starting
    closest at or left of ``col`` (headers start 2–3 cells in: padding and the focus marker).
    """
    above = [h for h in headers.values() if h.row <= row]
    if not above:
        return "banner" if row == 0 else "other"
    band = max(h.row for h in above)
    cands = [h for h in above if h.row == band and h.col <= col + 4]
    if not cands:
        cands = [min((h for h in above if h.row == band), key=lambda h: h.col)]
    return max(cands, key=lambda h: h.col).pane


def log_lines(lines: list[str], headers: dict[str, Header]) -> int:
    """Rows under the Logs header (up to the next band of headers) that hold a log line."""
    logs = headers.get("Logs")
    if logs is None:
        return 0
    below = [h.row for h in headers.values() if h.row > logs.row]
    end = min(below) if below else len(lines) - 1
    return sum(1 for row in range(logs.row + 1, end) if LOG_LINE_RE.search(lines[row]))


class LogLag:
    """How late new log lines show: when a line first appears under the Logs header, the
    wall clock minus the second its time column shows. An upper bound: the screen shows whole
    seconds, so a line's own time lies up to 1 s after that second."""

    def __init__(self, lines: list[str]) -> None:
        self.seen = set(self._shown(lines))
        self.lags: list[float] = []

    @staticmethod
    def _shown(lines: list[str]) -> list[str]:
        headers = find_headers(lines)
        logs = headers.get("Logs")
        if logs is None:
            return []
        below = [h.row for h in headers.values() if h.row > logs.row]
        end = min(below) if below else len(lines) - 1
        rows = (lines[row].strip() for row in range(logs.row + 1, end))
        return [r for r in rows if LOG_LINE_RE.match(r)]

    def update(self, lines: list[str], now: float) -> None:
        for text in self._shown(lines):
            if text in self.seen:
                continue
            self.seen.add(text)
            h, m, sec = (int(x) for x in text[:8].split(":"))
            shown = datetime.fromtimestamp(now).replace(hour=h, minute=m, second=sec, microsecond=0)
            if shown.timestamp() > now + 60:  # a line from before midnight
                shown -= timedelta(days=1)
            self.lags.append(now - shown.timestamp())

    def summary(self) -> dict:
        lags = sorted(self.lags)
        if not lags:
            return {"n": 0, "median": None, "max": None}
        return {"n": len(lags), "median": round(statistics.median(lags), 2), "max": round(lags[-1], 2)}


# ------------------------------------------------------------------ the session


class Session:
    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            close_fds=True,
            # Make the pty our controlling terminal, as a login shell's would be.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.screen = Screen(cols, rows)
        # Answer what a terminal answers (device attributes, cursor position reports).
        self.screen.write_process_input = self._answer
        self.stream = pyte.ByteStream(self.screen)
        self.total = 0
        self.eof = False
        self.last_chunk_t = 0.0
        self.recording: list[Burst] | None = None
        self._before: list[str] = []

    def _answer(self, data: str) -> None:
        try:
            os.write(self.master, data.encode())
        except OSError:
            pass

    def lines(self) -> list[str]:
        return list(self.screen.display)

    def pump(self, seconds: float) -> None:
        """Read and render everything the program writes for ``seconds``."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if not ready:
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:  # EIO: every writer closed the pty
                data = b""
            if not data:
                self.eof = True
                return
            self._take(time.monotonic(), data)

    def _take(self, now: float, data: bytes) -> None:
        self.total += len(data)
        if self.recording is not None:
            if not self.recording or now - self.last_chunk_t >= BURST_GAP_S:
                self._close_burst()
                self.recording.append(Burst(now))
            self.recording[-1].raw += data
        self.last_chunk_t = now
        try:
            self.stream.feed(data)
        except Exception:  # noqa: BLE001 - a malformed sequence must not end the benchmark
            pass

    def _close_burst(self) -> None:
        # The screen as it stands now is the end state of the previous burst.
        now_lines = self.lines()
        if self.recording:
            burst = self.recording[-1]
            burst.changed_rows = {r for r, (a, b) in enumerate(zip(self._before, now_lines, strict=True)) if a != b}
        self._before = now_lines

    def start_recording(self) -> None:
        self.recording = []
        self._before = self.lines()

    def stop_recording(self) -> list[Burst]:
        bursts = self.recording or []
        self._close_burst()
        self.recording = None
        return bursts

    def stop(self) -> list[str]:
        """Kill the program's process group, then any descendant that escaped it."""
        tree = descendants(self.proc.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        left = []
        deadline = time.monotonic() + 5
        for pid in tree[1:]:
            while _stat(pid) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            if _stat(pid) is not None:
                left.append(f"{pid} {cmdline(pid)[:60]}")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        os.close(self.master)
        return left


# ------------------------------------------------------------------ measuring


SGR_RE = re.compile(rb"\x1b\[[0-9;:]*m")
OTHER_ESC_RE = re.compile(rb"\x1b(?:\[[0-9;?<=>$]*[ -/]*[@-~]|[^\[])")
BLANKS_RE = re.compile(rb" {2,}")


def breakdown(bursts: list[Burst], headers: dict[str, Header], rows: int) -> dict:
    """Attribute the recorded bytes to screen rows and panes via cursor moves.

    A cursor move followed directly by another one (the program parking its cursor) is
    counted under "cursor", not under the cell it points at.
    """
    by_row = [0] * rows
    by_pane: dict[str, int] = {}
    unplaced = 0
    written_rows = rewritten_same = written_twice = 0
    kinds = {"style (SGR)": 0, "cursor moves": 0, "other escapes": 0, "runs of blanks": 0, "text": 0}
    for burst in bursts:
        raw = bytes(burst.raw)
        moves = list(CUP_RE.finditer(raw))
        unplaced += moves[0].start() if moves else len(raw)
        runs: dict[int, int] = {}
        for i, m in enumerate(moves):
            end = moves[i + 1].start() if i + 1 < len(moves) else len(raw)
            row, col = int(m.group(1)) - 1, int(m.group(2)) - 1
            size = end - m.start()
            if end == m.end() or not 0 <= row < rows:
                pane = "cursor"
            else:
                pane = "footer" if row == rows - 1 else pane_at(headers, row, col)
                by_row[row] += size
                runs[row] = runs.get(row, 0) + 1
            by_pane[pane] = by_pane.get(pane, 0) + size
        written_rows += len(runs)
        rewritten_same += len(set(runs) - burst.changed_rows)
        # Two runs on one row in one write: the row (or a part of it) is drawn twice.
        written_twice += sum(1 for n in runs.values() if n > 1)
        sgr = sum(len(x) for x in SGR_RE.findall(raw))
        cup = sum(len(x.group(0)) for x in moves)
        esc = sum(len(x) for x in OTHER_ESC_RE.findall(raw)) - sgr - cup
        plain = SGR_RE.sub(b"", OTHER_ESC_RE.sub(b"", raw))
        blanks = sum(len(x) for x in BLANKS_RE.findall(plain))
        kinds["style (SGR)"] += sgr
        kinds["cursor moves"] += cup
        kinds["other escapes"] += max(esc, 0)
        kinds["runs of blanks"] += blanks
        kinds["text"] += len(plain) - blanks
    return {
        "by_pane": dict(sorted(by_pane.items(), key=lambda kv: -kv[1])),
        "by_row": {str(r + 1): n for r, n in enumerate(by_row) if n},
        "by_kind": kinds,
        "unplaced": unplaced,
        "bursts": len(bursts),
        "rows_written": written_rows,
        "rows_rewritten_unchanged": rewritten_same,
        "rows_with_several_runs": written_twice,
    }


def measure(args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    for k in ("LINES", "COLUMNS", "TMUX", "STY", "COLORTERM", "NO_COLOR", "FORCE_COLOR"):
        env.pop(k, None)
    env.update(TERM="xterm-256color", LANG=env.get("LANG") or "C.UTF-8")
    # Audit logs and any other state go to a throwaway directory unless --env says otherwise.
    state = tempfile.TemporaryDirectory(prefix="bench-state-")
    env["XDG_STATE_HOME"] = state.name
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    out: dict = {
        "command": " ".join(args.command),
        "env": args.env,
        "size": f"{args.cols}x{args.rows}",
        "settle_s": args.settle,
        "duration_s": args.duration,
    }
    s = Session(args.command, env, args.cols, args.rows)
    pane_first: dict[str, float] = {}
    try:
        # Phase 1: first frame and all panes, polling the screen every 20 ms.
        first = all_panes = None
        deadline = s.t0 + args.timeout
        headers: dict[str, Header] = {}
        births: dict[str, float] = {}
        next_scan = 0.0
        while time.monotonic() < deadline and not s.eof:
            s.pump(0.02)
            if time.monotonic() >= next_scan:  # when the children appear explains the wait
                next_scan = time.monotonic() + 0.1
                for pid in descendants(s.proc.pid)[1:]:
                    births.setdefault(cmdline(pid)[:60] or f"pid {pid}", round(time.monotonic() - s.t0, 2))
            lines = s.lines()
            t = s.last_chunk_t - s.t0
            if first is None and any(line.strip() for line in lines):
                first = t
            headers = find_headers(lines)
            for h in headers.values():
                if not h.state.startswith(LOADING) and h.pane not in pane_first:
                    pane_first[h.pane] = round(t, 3)
            if (
                len(headers) == len(PANES)
                and not any(h.state.startswith(LOADING) for h in headers.values())
                and (args.no_log_line or log_lines(lines, headers) > 0)
            ):
                all_panes = t
                break
        st = _stat(s.proc.pid)
        out["startup_cpu_s"] = None if st is None else round(st[1], 2)
        out["children_born_s"] = births
        out["first_frame_s"] = None if first is None else round(first, 3)
        out["all_panes_s"] = None if all_panes is None else round(all_panes, 3)
        if s.eof:
            out["exited"] = s.proc.poll()
            out["screen"] = [line.rstrip() for line in s.lines() if line.strip()]
            return out

        # Phase 2: settle, then record the idle window.
        s.pump(args.settle)
        cpu = CpuMeter(s.proc.pid)
        cpu.sample()
        start_bytes, t_start = s.total, time.monotonic()
        s.start_recording()
        end = t_start + args.duration
        lag = LogLag(s.lines())
        sampled = t_start
        while time.monotonic() < end and not s.eof:
            s.pump(min(0.1, end - time.monotonic()))
            lag.update(s.lines(), time.time())
            if time.monotonic() - sampled >= 1.0:
                cpu.sample()
                sampled = time.monotonic()
        cpu.sample()
        elapsed = time.monotonic() - t_start
        bursts = s.stop_recording()
        lines = s.lines()
        headers = find_headers(lines)
        per_min = 60.0 / elapsed
        own, tree = cpu.used(s.proc.pid), cpu.used()
        out.update(
            window_s=round(elapsed, 1),
            bytes=s.total - start_bytes,
            bytes_per_min=round((s.total - start_bytes) * per_min),
            cpu_s_per_min=round(own * per_min, 3),
            cpu_pct=round(100 * own / elapsed, 2),
            cpu_main_thread_s_per_min=round(cpu.main_thread() * per_min, 3),
            # Python 3.11 does not name native threads: the tid is all there is to tell them apart.
            cpu_threads=[
                {"tid": t, "main": t == s.proc.pid, "cpu_s": round(c, 2)} for t, c in cpu.threads()
            ],
            thread_count=len(cpu.threads_last),
            tree_cpu_s_per_min=round(tree * per_min, 3),
            tree_cpu_pct=round(100 * tree / elapsed, 2),
            tree_processes=[{"cmd": n, "cpu_s": round(c, 2)} for n, c in cpu.per_process()],
            peak_rss_mb=round((status_kb(s.proc.pid, "VmHWM") or 0) / 1024, 1),
            rss_mb=round((status_kb(s.proc.pid, "VmRSS") or 0) / 1024, 1),
            total_bytes=s.total,
            where=breakdown(bursts, headers, args.rows),
            log_lag_s=lag.summary(),
        )
        if args.dump_screen:
            with open(args.dump_screen, "w") as f:
                f.write("\n".join(line.rstrip() for line in lines) + "\n")
        if args.raw_log:
            with open(args.raw_log, "wb") as f:
                for b in bursts:
                    f.write(b.raw)
        return out
    finally:
        out["panes"] = {
            name: {"first_data_s": pane_first.get(name), "state": headers[name].state if name in headers else None}
            for name in PANES
        }
        out["left_behind"] = s.stop()
        state.cleanup()


def table(r: dict) -> str:
    def fmt(v: object, unit: str = "") -> str:
        return "–" if v is None else f"{v}{unit}"

    rows = [
        ("command", r["command"]),
        ("first frame", fmt(r.get("first_frame_s"), " s")),
        ("all five panes hold data", fmt(r.get("all_panes_s"), " s")),
        ("cockpit CPU until then", fmt(r.get("startup_cpu_s"), " s")),
    ]
    for child, t in r.get("children_born_s", {}).items():
        rows.append((f"  child at {t} s", child))
    if "bytes_per_min" in r:
        rows += [
            (f"idle window (after {r['settle_s']:g} s settle)", f"{r['window_s']} s"),
            ("bytes to the terminal", f"{r['bytes_per_min'] / 1000:.1f} KB/min"),
            ("cockpit CPU", f"{r['cpu_pct']} % of a core ({r['cpu_s_per_min']} s/min, "
             f"main thread {r['cpu_main_thread_s_per_min']} s/min)"),
            ("process tree CPU", f"{r['tree_cpu_pct']} % of a core ({r['tree_cpu_s_per_min']} s/min)"),
            ("cockpit peak RSS", f"{r['peak_rss_mb']} MB"),
            ("new log line on screen after", "{n} lines, median {median} s, max {max} s "
             "(upper bound: the screen shows whole seconds)".format(**r["log_lag_s"])),
        ]
        w = r["where"]
        rows.append(("writes (≈ frames)", f"{w['bursts']}; rows written {w['rows_written']}, of which text "
                     f"unchanged {w['rows_rewritten_unchanged']}, in several runs {w['rows_with_several_runs']}"))
        for pane, n in w["by_pane"].items():
            rows.append((f"  KB/min · {pane}", f"{n * 60 / r['window_s'] / 1000:.1f}"))
        for kind, n in w["by_kind"].items():
            rows.append((f"  KB/min · {kind}", f"{n * 60 / r['window_s'] / 1000:.1f}"))
    for name, p in r.get("panes", {}).items():
        rows.append((f"  {name}", f"{fmt(p['first_data_s'], ' s')}  {p['state'] or 'header not found'}"))
    if r.get("left_behind"):
        rows.append(("LEFT BEHIND (killed)", "; ".join(r["left_behind"])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See bench/README.md.")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after all panes hold data (10)")
    p.add_argument("--duration", type=float, default=60.0, help="idle window in seconds (60)")
    p.add_argument("--timeout", type=float, default=30.0, help="max seconds to wait for all panes (30)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment (repeatable)")
    p.add_argument("--no-log-line", action="store_true",
                   help="all panes = headers out of loading; no log line needed (a paused log generator)")
    p.add_argument("--cols", type=int, default=160)
    p.add_argument("--rows", type=int, default=48)
    p.add_argument("--dump-screen", metavar="PATH", help="write the last screen as text")
    p.add_argument("--raw-log", metavar="PATH", help="write every byte of the idle window")
    p.add_argument("--quiet", action="store_true", help="JSON line only")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = p.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        p.error("give the command after --")
    result = measure(args)
    if not args.quiet:
        print(table(result), file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result.get("all_panes_s") is not None and not result.get("left_behind") else 1


if __name__ == "__main__":
    sys.exit(main())
