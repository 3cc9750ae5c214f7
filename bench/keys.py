#!/usr/bin/env python3
"""Keystroke-to-screen latency moving in a 1,000-row Services pane while sources refresh.

    python bench/keys.py [--services 1000] [--presses 50] [--gap 0.15] [--settle 5]

Starts the lab (``python -m cockpit.cli --profile lab``) with ``COCKPIT_LAB_SERVICES=N``
extra ECS services in a 160x48 pty (bench/tui.py's ``Session``: pty + pyte), then:

- ``first_frame_s``, ``first_rows_s`` (the Services header leaves ``⧗``),
  ``all_rows_s`` (the Services header counts ≥ N services), ``all_panes_s``;
- ``presses`` Down-arrow presses in the Services pane, ``--gap`` seconds apart. For each
  press: ``first_byte_ms`` (key written → next byte from the cockpit) and ``screen_ms``
  (key written → the last byte of the write after which the highlighted row differs on the
  pyte screen: another row, or the same row with other text once the table scrolls).
  Median and p90.

The highlighted row is the one row of the Services pane whose background differs from the
rest. A pty passes a write on in ~2 KB pieces: the harness reads the pieces that follow
within 0.5 ms before it parses any (``read_chunk``), so a frame's time is when its last
byte came. Until 2026-11-26 it parsed and checked the screen after each piece, which added
its own time (several ms) to every frame over 2 KB: a scrolling Down's. Everything is
bounded in time; the cockpit's process group is killed at the end. Prints one JSON line.

Helpers reused by bench/flood.py: ``read_chunk``, ``pump_until``, ``focused_pane``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from tui import PANES, Session, find_headers  # noqa: E402

COLS, ROWS = 160, 48
DOWN = b"\x1b[B"
CTRL_HOME = b"\x1b[1;5H"  # DataTable: cursor to the first row
COUNT_RE = re.compile(r"([\d,]+) services?")


# ------------------------------------------------------------------ shared helpers


# A pty hands a write on to its reader in pieces of ~2 KB, microseconds apart. Reading
# one piece and parsing it before the next (pyte, then the screen checks: several ms) made
# a frame larger than 2 KB look that much later: the harness's own time, not the program's.
DRAIN_S = 0.0005
DRAIN_MAX = 1 << 20


def read_chunk(s: Session, timeout: float) -> float | None:
    """Read what the program wrote in one go (feeding pyte); when its last byte came, None
    if nothing came. ``s.chunk_first_t`` is when its first byte came.

    ``Session.pump`` reads for a fixed time; a latency figure needs the time of the very
    write that changed the screen, so this reads one at a time: the first piece, then any
    that follows within ``DRAIN_S`` (the rest of the same write), before parsing any of it.
    """
    if s.eof:
        return None
    ready, _, _ = select.select([s.master], [], [], max(timeout, 0.0))
    if not ready:
        return None
    try:
        data = os.read(s.master, 1 << 16)
    except OSError:
        data = b""
    if not data:
        s.eof = True
        return None
    now = s.chunk_first_t = time.monotonic()
    while len(data) < DRAIN_MAX and select.select([s.master], [], [], DRAIN_S)[0]:
        try:
            more = os.read(s.master, 1 << 16)
        except OSError:
            more = b""
        if not more:
            break
        data += more
        now = time.monotonic()
    s._take(now, data)
    return now


def pump_until(s: Session, pred: Callable[[list[str]], bool], timeout: float) -> float | None:
    """Read until ``pred(screen lines)`` holds; the arrival time of the chunk that made it so."""
    deadline = time.monotonic() + timeout
    while not s.eof:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        t = read_chunk(s, min(left, 0.05))
        if t is not None and pred(s.lines()):
            return t
    return None


def focused_pane(lines: list[str]) -> str | None:
    """The pane whose header carries the focus marker ``▶``."""
    for h in find_headers(lines).values():
        if lines[h.row][max(0, h.col - 2) : h.col] == "▶ ":
            return h.pane
    return None


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 2)


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "median": round(statistics.median(values), 2) if values else None,
        "p90": pct(values, 0.9),
        "max": round(max(values), 2) if values else None,
    }


# ------------------------------------------------------------------ the Services pane


def services_region(lines: list[str]) -> tuple[int, int, int] | None:
    """(first body row, end row exclusive, last column) of the Services pane's table body."""
    headers = find_headers(lines)
    svc = headers.get("Services")
    if svc is None:
        return None
    below = [h.row for h in headers.values() if h.row > svc.row]
    end = min(below) if below else ROWS - 1
    right = [h.col for h in headers.values() if h.row == svc.row and h.col > svc.col]
    last_col = (min(right) - 3) if right else COLS - 1
    return svc.row + 2, end, last_col  # +2: the header line, then the column titles


def highlight(s: Session) -> tuple[int, str] | None:
    """(row, text) of the Services row drawn with a background no other row has."""
    region = services_region(s.lines())
    if region is None:
        return None
    first, end, last_col = region
    styles: dict[int, tuple] = {}
    for row in range(first, end):
        cells = s.screen.buffer[row]
        # Sample a few cells: the cursor row's background spans the whole row.
        styles[row] = tuple((cells[c].bg, cells[c].reverse) for c in (2, 20, 40) if c < last_col)
    counts = Counter(styles.values())
    odd = [row for row, st in styles.items() if counts[st] == 1 and len(counts) > 1]
    if len(odd) != 1:
        return None
    row = odd[0]
    return row, s.lines()[row][:last_col]


def service_count(lines: list[str]) -> int:
    h = find_headers(lines).get("Services")
    if h is None:
        return 0
    m = COUNT_RE.search(h.state)
    return int(m.group(1).replace(",", "")) if m else 0


# ------------------------------------------------------------------ the run


def measure(args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    for k in ("LINES", "COLUMNS", "TMUX", "STY", "COLORTERM", "NO_COLOR", "FORCE_COLOR"):
        env.pop(k, None)
    state = tempfile.TemporaryDirectory(prefix="bench-keys-")
    env.update(
        TERM="xterm-256color",
        LANG=env.get("LANG") or "C.UTF-8",
        XDG_STATE_HOME=state.name,
        COCKPIT_LAB_SERVICES=str(args.services),
    )
    argv = [sys.executable, "-m", "cockpit.cli", "--profile", "lab"]
    out: dict = {"command": f"COCKPIT_LAB_SERVICES={args.services} " + " ".join(argv[1:]),
                 "services": args.services}
    s = Session(argv, env, COLS, ROWS)
    try:
        marks: dict[str, float] = {}

        def start_up(lines: list[str]) -> bool:
            t = s.last_chunk_t - s.t0
            if "first_frame_s" not in marks and any(line.strip() for line in lines):
                marks["first_frame_s"] = t
            headers = find_headers(lines)
            svc = headers.get("Services")
            if svc and not svc.state.startswith("⧗"):
                marks.setdefault("first_rows_s", t)
            if service_count(lines) >= args.services:
                marks.setdefault("all_rows_s", t)
            if len(headers) == len(PANES) and not any(h.state.startswith("⧗") for h in headers.values()):
                marks.setdefault("all_panes_s", t)
            return "all_rows_s" in marks and "all_panes_s" in marks

        pump_until(s, start_up, args.timeout)
        out.update({k: round(v, 3) for k, v in marks.items()})
        out["services_shown"] = service_count(s.lines())
        if s.eof or "first_rows_s" not in marks:
            out["error"] = "Services never loaded" if not s.eof else f"cockpit exited {s.proc.poll()}"
            out["screen"] = [line.rstrip() for line in s.lines() if line.strip()]
            return out
        if "all_rows_s" not in marks:
            out["error"] = f"the Services pane never held {args.services} rows ({out['services_shown']})"
            out["screen"] = [line.rstrip() for line in s.lines() if line.strip()]
            return out
        s.pump(args.settle)
        if focused_pane(s.lines()) != "Services":
            out["error"] = f"focus is on {focused_pane(s.lines())}, not Services"
            return out

        # The cursor may sit anywhere after loading (the end, here): start from the top so
        # every Down moves, the first ~12 inside the view and the rest scrolling the table.
        os.write(s.master, CTRL_HOME)
        s.pump(1.0)
        region = services_region(s.lines())
        top = highlight(s)
        out["start_row"] = None if top is None or region is None else top[0] - region[0]
        first_byte: list[float] = []
        screen: list[float] = []
        misses = run_of_misses = 0
        # Bounded on its own, below bench/run's limit, so the cockpit is always stopped here.
        stop_at = time.monotonic() + args.presses * (args.gap + 0.5) + 10
        for _ in range(args.presses):
            if time.monotonic() > stop_at or run_of_misses >= 5:
                out["error"] = "presses stopped: " + ("time limit" if run_of_misses < 5 else "5 misses in a row")
                out["screen"] = [line.rstrip() for line in s.lines() if line.strip()]
                break
            s.pump(args.gap)  # let any refresh frame land first
            before = highlight(s)
            t0 = time.monotonic()
            os.write(s.master, DOWN)
            t_byte = read_chunk(s, 2.0)
            if t_byte is not None:
                first_byte.append((s.chunk_first_t - t0) * 1000)
            changed = (t_byte is not None and highlight(s) not in (before, None))
            t_screen = t_byte if changed else pump_until(
                s, lambda _lines, b=before: highlight(s) not in (b, None), 2.0)
            if t_screen is None:
                misses += 1
                run_of_misses += 1
            else:
                run_of_misses = 0
                screen.append((t_screen - t0) * 1000)
        out["first_byte_ms"] = summary(first_byte)
        out["screen_ms"] = summary(screen)
        out["screen_ms_each"] = [round(v, 1) for v in screen]
        out["misses"] = misses
        out["final_highlight"] = highlight(s)
        return out
    finally:
        out["left_behind"] = s.stop()
        state.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=1000, help="COCKPIT_LAB_SERVICES (1000)")
    p.add_argument("--presses", type=int, default=50, help="Down presses (50)")
    p.add_argument("--gap", type=float, default=0.15, help="seconds between presses (0.15)")
    p.add_argument("--settle", type=float, default=5.0, help="seconds after all rows before pressing (5)")
    p.add_argument("--timeout", type=float, default=90.0, help="max seconds for start-up (90)")
    args = p.parse_args(argv)
    r = measure(args)
    print(json.dumps(r, ensure_ascii=False))
    return 0 if "error" not in r and not r.get("left_behind") else 1


if __name__ == "__main__":
    sys.exit(main())
