#!/usr/bin/env python3
"""Time the cockpit's first frame on a one-host profile, many runs, and say the median.

    python bench/first_frame.py [--runs 9] [--profile PATH --name NAME]

The profile (unless one is given) is the smallest a user writes: one host, this machine
(`local: true`), following one file. Each run is `bench/tui.py --settle 0 --duration 1`
in a 160x48 pty: spawn to the first screen with a visible character. Start-up is a burst
of CPU on a shared machine, so one run says little: the median of nine, beside the min
and max, is the figure.

The cockpit's bytecode is compiled first, as an install does (the README's, or pip's for a
regular install); `--as-is` measures the tree as it is. Either way it says how many of its
modules had no fresh bytecode: Python compiles those at every start, and a machine with
PYTHONDONTWRITEBYTECODE=1 never keeps what it compiled.

Prints a table on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PROFILE = """\
profiles:
  one:
    hosts:
      - name: web-1
        local: true
        logs: [{log}]
"""


PACKAGES = ("cockpit", "widgets", "screens", "themes")


def without_bytecode() -> int:
    """How many of the cockpit's own modules have no fresh bytecode (compiled at each start)."""
    stale = 0
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            cached = Path(importlib.util.cache_from_source(str(source)))
            stale += not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime
    return stale


def one_run(config: Path, name: str) -> float | None:
    cmd = [sys.executable, str(BENCH / "tui.py"), "--quiet", "--settle", "0", "--duration", "1",
           "--timeout", "20", "--no-log-line", "--",
           sys.executable, "-m", "cockpit.cli", "--config", str(config), "--profile", name]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1]).get("first_frame_s")
    except (IndexError, json.JSONDecodeError):
        print(f"tui.py exited {proc.returncode}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--profile", type=Path, help="a profiles.yaml (default: one local host)")
    p.add_argument("--name", default="one", help="the profile in it to open (one)")
    p.add_argument("--as-is", action="store_true",
                   help="measure the tree as it is; by default its bytecode is compiled first, as an install does")
    args = p.parse_args()
    if not args.as_is:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="cockpit-ff-") as tmp:
        config = args.profile
        if config is None:
            log = Path(tmp) / "app.log"
            log.write_text("".join(f"2026-12-07T08:00:{i:02d}Z INFO request {i} done\n" for i in range(50)))
            config = Path(tmp) / "profiles.yaml"
            config.write_text(PROFILE.format(log=log))
        stale = without_bytecode()
        times = [t for t in (one_run(config, args.name) for _ in range(args.runs)) if t is not None]
    if not times:
        print(json.dumps({"error": "no run showed a frame"}))
        return 2
    result = {
        "first_frame_s": round(statistics.median(times), 3),
        "first_frame_min_s": min(times), "first_frame_max_s": max(times),
        "runs": times, "modules_without_bytecode": stale, "load_average": os.getloadavg()[0],
    }
    print(f"first frame, median of {len(times)}: {result['first_frame_s']} s "
          f"(min {min(times)}, max {max(times)}); modules without bytecode: {stale}; "
          f"load average {result['load_average']:.2f}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
