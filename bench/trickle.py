#!/usr/bin/env python3
"""Log trickle: lines written one at a time, about a second apart, to a file the cockpit follows.

    python bench/trickle.py [--lines 40] [--seed 1] [--settle 3]

The setup is bench/flood.py's (a temp profiles.yaml whose one host, ``local: true``,
follows a temp file; the cockpit in a 160x48 pty). This harness appends the lines itself,
``trickle 0007 <padding>``, with random gaps of 0.2-1.8 s (mean 1 s, so some lines come
just after a paint and wait the longest), and times each from its write (flushed) to the
chunk after which its text is on the pyte screen. That is issue 11's "a new log line on
screen ≤ 2 s after it arrives", measured from the write: the follower's own delay (``tail
-F``) counts too. The lab's figure (bench/tui.py) starts at the line's timestamp instead,
which the lab sets up to a second before it writes the line, and which the screen shows
to the second.

Prints one JSON line: ``lag_s`` (n, median, p90, max of the per-line figures), ``missing``
(lines never seen), ``paints_per_min`` (chunks the cockpit wrote while lines came in).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from flood import COLS, PAD, ROWS, follow_file  # noqa: E402
from keys import pump_until, read_chunk, summary  # noqa: E402
from tui import Session  # noqa: E402

SEQ_RE = re.compile(r"trickle (\d{4})")


def run(args: argparse.Namespace) -> dict:
    work = tempfile.TemporaryDirectory(prefix="bench-trickle-")
    log, argv, env = follow_file(Path(work.name), "trickle")
    out: dict = {"lines": args.lines, "command": "python -m cockpit.cli --config profiles.yaml --profile trickle"}
    s = Session(argv, env, COLS, ROWS)
    try:
        if pump_until(s, lambda lines: "before the trickle 2" in "\n".join(lines), 30) is None:
            out["error"] = "the log pane never showed the file" if not s.eof else "cockpit exited"
            return out
        s.pump(args.settle)
        rng = random.Random(args.seed)
        written: dict[int, float] = {}
        seen: dict[int, float] = {}
        chunks = 0
        t_first = next_write = time.monotonic()
        deadline = t_first + 1.8 * args.lines + 10
        with open(log, "a") as f:
            while time.monotonic() < deadline and not s.eof:
                now = time.monotonic()
                if len(written) < args.lines and now >= next_write:
                    n = len(written)
                    f.write(f"trickle {n:04d} {PAD}\n")
                    f.flush()
                    written[n] = time.monotonic()
                    next_write = now + rng.uniform(0.2, 1.8)
                elif len(seen) == args.lines:
                    break
                wait = next_write - time.monotonic() if len(written) < args.lines else 0.1
                t = read_chunk(s, min(0.1, max(0.0, wait)))
                if t is None:
                    continue
                chunks += 1
                for m in SEQ_RE.finditer("\n".join(s.lines())):
                    k = int(m.group(1))
                    if k in written and k not in seen:
                        seen[k] = t
        elapsed = time.monotonic() - t_first
        lags = [seen[k] - written[k] for k in sorted(seen)]
        out.update(
            written=len(written), missing=len(written) - len(seen), lag_s=summary(lags),
            lag_each_s=[round(v, 2) for v in lags], paints_per_min=round(chunks * 60 / elapsed, 1),
        )
        if out["missing"]:
            out["error"] = f"{out['missing']} line(s) never showed"
        return out
    finally:
        out["left_behind"] = s.stop()
        work.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=40, help="lines to write (40)")
    p.add_argument("--seed", type=int, default=1, help="seed of the gaps between lines (1)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the file shows (3)")
    args = p.parse_args(argv)
    r = run(args)
    print(json.dumps(r, ensure_ascii=False), flush=True)
    return 1 if "error" in r or r.get("left_behind") else 0


if __name__ == "__main__":
    sys.exit(main())
