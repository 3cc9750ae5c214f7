#!/usr/bin/env python3
"""Log flood: the cockpit following a local file that grows by N lines a second.

    python bench/flood.py [--rate 10000 --rate 50000] [--seconds 10] [--presses 10]

For each rate: a temp profiles.yaml whose one host (``local: true``) follows a temp file,
the cockpit (``python -m cockpit.cli --config … --profile flood``) in a 160x48 pty
(bench/tui.py's ``Session``), and a writer in a separate process that appends ``rate``
lines a second for ``--seconds`` (in batches every 10 ms; bounded in count and time).
Each line reads ``flood 0000042 <padding>``. Measured:

- ``lag_s``: from the writer's last write (its CLOCK_MONOTONIC stamp, shared across
  processes) to the chunk after which the last line's text is on the pyte screen;
  bounded by ``--lag-timeout`` (30 s). ``behind_at_stop`` is how far the newest line on
  screen was behind the last line written when the writer stopped; when the last line never
  shows, ``behind_lines`` is that distance at the time-out and ``catchup_lines_per_s`` the
  rate at which the screen advanced meanwhile; ``shown_after_focusing_logs`` whether it
  shows once Tab has put the focus on the Logs pane (ingested, but not scrolled to);
- ``cpu_pct``: the cockpit process's CPU (all its threads) over the flood, % of one core;
  ``tree_cpu_pct`` adds its children (the ``tail`` follower);
- ``rss_before_mb`` / ``rss_after_mb`` / ``peak_rss_mb`` (VmRSS before the flood and once
  the last line showed; VmHWM);
- ``screen_progress``: (seconds into the flood, newest line number on screen) each second;
  ``longest_stall_s``: the longest stretch in which that number did not move (the screen
  froze although lines kept coming);
- ``harness_cpu_pct``, ``terminal_kb_per_s``: what reading and rendering the cockpit's
  output cost this harness (it should stay far below a core), and ``load_avg_1m``;
- ``key_ms``: ``--presses`` Tab presses spread over the flood; each is timed from the key
  written to the chunk after which the focus marker ``▶`` sits on another pane header.

The harness reads and renders everything the cockpit writes (a terminal would), so it
competes for the 2 cores with the cockpit and the writer. Prints one JSON line per rate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from keys import focused_pane, pump_until, read_chunk, summary  # noqa: E402
from tui import CpuMeter, Session, find_headers, status_kb  # noqa: E402

COLS, ROWS = 160, 48
TAB = b"\t"
SEQ_RE = re.compile(r"flood (\d{7})")
PAD = "x" * 60  # a log line of typical length (~80 characters)


def write_flood(path: str, rate: int, seconds: float) -> None:
    """Child process: append ``rate`` lines/s for ``seconds``; print what was written."""
    batch = max(1, rate // 100)
    total = int(rate * seconds)
    t_start = time.monotonic()
    n = 0
    with open(path, "a", buffering=1 << 20) as f:
        while n < total:
            due = t_start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() > t_start + seconds + 5:  # cannot keep up: stop anyway
                break
            k = min(batch, total - n)
            f.write("".join(f"flood {i:07d} {PAD}\n" for i in range(n, n + k)))
            f.flush()
            n += k
    t_end = time.monotonic()
    print(json.dumps({"lines": n, "last": n - 1, "t_start": t_start, "t_end": t_end,
                      "achieved_rate": round(n / (t_end - t_start))}), flush=True)


def newest_seq(lines: list[str]) -> int | None:
    seqs = [int(m.group(1)) for line in lines for m in SEQ_RE.finditer(line)]
    return max(seqs) if seqs else None


def longest_stall(progress: list[tuple[float, int | None]]) -> float:
    """Longest stretch of the flood (1 s samples) in which the newest line on screen stood still."""
    best, since = 0.0, None
    for (t0, a), (t1, b) in zip(progress, progress[1:], strict=False):
        if a is not None and a == b:
            since = t0 if since is None else since
            best = max(best, t1 - since)
        else:
            since = None
    return round(best, 1)


def follow_file(work: Path, name: str) -> tuple[Path, list[str], dict[str, str]]:
    """A file with three lines (``before the <name> 0..2``) and the cockpit's argv and
    environment for a profile ``<name>`` whose one host (``local: true``) follows it."""
    log = work / f"{name}.log"
    log.write_text("".join(f"{time.strftime('%H:%M:%S')} before the {name} {i}\n" for i in range(3)))
    config = work / "profiles.yaml"
    config.write_text(
        f"default: {name}\nprofiles:\n  {name}:\n    refresh: 5\n    hosts:\n"
        f"      - {{name: this-machine, local: true, logs: [{log}]}}\n"
    )
    env = dict(os.environ)
    for k in ("LINES", "COLUMNS", "TMUX", "STY", "COLORTERM", "NO_COLOR", "FORCE_COLOR"):
        env.pop(k, None)
    env.update(TERM="xterm-256color", LANG=env.get("LANG") or "C.UTF-8", XDG_STATE_HOME=str(work / "state"))
    return log, [sys.executable, "-m", "cockpit.cli", "--config", str(config), "--profile", name], env


def run_rate(rate: int, args: argparse.Namespace) -> dict:
    work = tempfile.TemporaryDirectory(prefix="bench-flood-")
    log, argv, env = follow_file(Path(work.name), "flood")
    out: dict = {"rate": rate, "seconds": args.seconds,
                 "command": "python -m cockpit.cli --config profiles.yaml --profile flood"}
    s = Session(argv, env, COLS, ROWS)
    writer = None
    try:
        ready = pump_until(s, lambda lines: "before the flood 2" in "\n".join(lines), 30)
        if ready is None:
            out["error"] = "the log pane never showed the file" if not s.eof else "cockpit exited"
            out["screen"] = [line.rstrip() for line in s.lines() if line.strip()]
            return out
        out["ready_s"] = round(ready - s.t0, 2)
        s.pump(args.settle)
        pid = s.proc.pid
        out["rss_before_mb"] = round((status_kb(pid, "VmRSS") or 0) / 1024, 1)
        cpu = CpuMeter(pid)
        cpu.sample()
        writer = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--write", str(log),
             "--rate", str(rate), "--seconds", str(args.seconds)],
            stdout=subprocess.PIPE, text=True,
        )
        t_flood = time.monotonic()
        bytes0, harness0 = s.total, time.process_time()
        load0 = os.getloadavg()[0]
        presses: list[float] = []
        misses = 0
        period = args.seconds / (args.presses + 1)
        next_press = t_flood + period
        last_sample = t_flood
        expected = f"flood {int(rate * args.seconds) - 1:07d}"
        t_seen: float | None = None
        progress: list[tuple[float, int | None]] = []  # (s into the flood, newest line on screen)
        while writer.poll() is None and time.monotonic() < t_flood + args.seconds + 10:
            now = time.monotonic()
            if now - last_sample >= 1.0:
                cpu.sample()
                last_sample = now
                progress.append((round(now - t_flood, 1), newest_seq(s.lines())))
            if now >= next_press and len(presses) + misses < args.presses:
                next_press += period
                before = focused_pane(s.lines())
                t0 = time.monotonic()
                os.write(s.master, TAB)
                t = pump_until(s, lambda lines, b=before: focused_pane(lines) not in (b, None), 3.0)
                if t is None:
                    misses += 1
                else:
                    presses.append((t - t0) * 1000)
                continue
            if read_chunk(s, 0.02) is not None and t_seen is None and expected in "\n".join(s.lines()):
                t_seen = s.last_chunk_t  # the last line can show before the writer has exited
        if t_seen is None and expected in "\n".join(s.lines()):
            # Shown by a chunk read while a key press was being timed, and nothing came
            # after it (a quiet screen sends no later chunk): that chunk is the one.
            t_seen = s.last_chunk_t
        if writer.poll() is None:
            writer.kill()
            out["error"] = "the writer overran its time limit"
        w = json.loads((writer.communicate(timeout=5)[0] or "{}").strip().splitlines()[-1])
        cpu.sample()
        # What the harness paid to read and render the cockpit's output: when it nears a
        # full core, the harness (not the cockpit) sets the pace.
        out["harness_cpu_pct"] = round(100 * (time.process_time() - harness0) / (time.monotonic() - t_flood), 1)
        out["terminal_kb_per_s"] = round((s.total - bytes0) / 1000 / (time.monotonic() - t_flood), 1)
        out["load_avg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        at_stop = newest_seq(s.lines())
        out["screen_progress"] = progress
        out["longest_stall_s"] = longest_stall(progress)
        out["behind_at_stop"] = None if at_stop is None else w["last"] - at_stop
        flood_s = w["t_end"] - w["t_start"]
        own, tree = cpu.used(pid), cpu.used()
        out.update(
            written=w["lines"], achieved_rate=w["achieved_rate"],
            cpu_pct=round(100 * own / flood_s, 1),
            cpu_main_thread_pct=round(100 * cpu.main_thread() / flood_s, 1),
            tree_cpu_pct=round(100 * tree / flood_s, 1),
            key_ms=summary(presses), key_ms_each=[round(v, 1) for v in presses], key_misses=misses,
        )
        target = f"flood {w['last']:07d}"
        if target != expected or target not in "\n".join(s.lines()):
            t_seen = pump_until(s, lambda lines: target in "\n".join(lines), args.lag_timeout)
        if t_seen is None:
            newest = newest_seq(s.lines())
            out["lag_s"] = None
            out["screen_end"] = [line.rstrip() for line in s.lines() if line.strip()]
            # Diagnosis: was the line ingested and only not repainted? Move the focus to the
            # Logs pane (which repaints it) and look again.
            for _ in range(5):
                if focused_pane(s.lines()) == "Logs":
                    break
                before = focused_pane(s.lines())
                os.write(s.master, TAB)
                pump_until(s, lambda lines, b=before: focused_pane(lines) not in (b, None), 2.0)
            s.pump(1.0)
            out["shown_after_focusing_logs"] = target in "\n".join(s.lines())
            out["behind_lines"] = None if newest is None else w["last"] - newest
            if newest is not None and at_stop is not None:
                # How fast the cockpit drains its backlog: its ingest ceiling on this machine.
                out["catchup_lines_per_s"] = round((newest - at_stop) / args.lag_timeout)
        else:
            out["lag_s"] = round(max(0.0, t_seen - w["t_end"]), 3)
        s.pump(1.0)
        out["rss_after_mb"] = round((status_kb(pid, "VmRSS") or 0) / 1024, 1)
        out["peak_rss_mb"] = round((status_kb(pid, "VmHWM") or 0) / 1024, 1)
        out["logs_header"] = (find_headers(s.lines()).get("Logs") or type("H", (), {"state": None})).state
        out["cockpit_alive"] = s.proc.poll() is None
        return out
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
            writer.wait()
        out["left_behind"] = s.stop()
        work.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=int, action="append", help="lines per second (10000 and 50000)")
    p.add_argument("--seconds", type=float, default=10.0, help="flood length (10)")
    p.add_argument("--presses", type=int, default=10, help="Tab presses during the flood (10)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the file shows (3)")
    p.add_argument("--lag-timeout", type=float, default=30.0, help="max wait for the last line (30)")
    p.add_argument("--write", metavar="PATH", help=argparse.SUPPRESS)  # the writer child
    args = p.parse_args(argv)
    if args.write:
        write_flood(args.write, (args.rate or [10000])[0], args.seconds)
        return 0
    ok = True
    for rate in args.rate or [10000, 50000]:
        r = run_rate(rate, args)
        ok &= "error" not in r and not r.get("left_behind")
        print(json.dumps(r, ensure_ascii=False), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
