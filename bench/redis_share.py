#!/usr/bin/env python3
"""One poller, many watchers on one redis-server (issue 25): what each costs.

    .venv/bin/python bench/redis_share.py [--watchers 50] [--ttys 3] [--duration 30]
        [--settle 10] [--maxlen 1000] [--compare] [--json PATH]

Starts a private redis-server and ``cockpit poll --profile lab --share redis://…`` (the lab's
log generator at 1 line/s, the lab profile with ``share: {maxlen: N}``),
waits for its first state entry, then attaches ``--watchers`` watchers: ``--ttys`` of them real
``cockpit attach redis://…`` TUIs in 160x48 ptys (bench/tui.py's Session: bytes written to the
terminal), the rest headless attach clients (this script with ``--watcher``: RedisWatcher and
the stream decoder, no UI). Over the ``--duration`` window after ``--settle`` seconds it
measures the CPU of the poller (with the lab's children), of every watcher, the TUIs' bytes,
and Redis's ``used_memory`` and ``XLEN`` at both ends. ``--compare`` then runs a cockpit that
polls for itself (``cockpit --profile lab``) in a pty for the same window, for reference.
Every process is stopped at the end (process groups, then escaped descendants by pid).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))


def watcher_main(url: str) -> int:
    """A headless attach client: reads and decodes the stream until SIGTERM, then prints."""
    from cockpit.redis_watch import Entry, RedisWatcher
    from cockpit.share_redis import parse_redis_target
    from cockpit.stream import StreamDecoder

    counts = {"entries": 0, "events": 0, "bytes": 0}

    async def run() -> None:
        decoder = StreamDecoder()
        watcher = RedisWatcher(parse_redis_target(url))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        async def read() -> None:
            async for item in watcher.entries():
                if isinstance(item, Entry):
                    counts["entries"] += 1
                    for event in item.events:
                        counts["events"] += 1
                        counts["bytes"] += len(json.dumps(event))
                        decoder.feed(event)

        task = asyncio.create_task(read())
        await stop.wait()
        task.cancel()

    asyncio.run(run())
    print(json.dumps(counts), flush=True)
    return 0


def cpu_s(pid: int) -> float:
    from tui import _stat

    st = _stat(pid)
    return st[1] if st else 0.0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--watcher", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--watchers", type=int, default=50)
    p.add_argument("--ttys", type=int, default=3)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--settle", type=float, default=10)
    p.add_argument("--maxlen", type=int, default=1000)
    p.add_argument("--compare", action="store_true")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    if args.watcher:
        return watcher_main(args.watcher)

    import redis
    from tui import CpuMeter, Session

    from cockpit.lab.servers import start_redis

    tmp = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp / "state"), "XDG_RUNTIME_DIR": str(tmp / "run"),
           "TERM": "xterm-256color", "COCKPIT_LAB_LOG_RATE": "1"}
    (tmp / "run").mkdir(mode=0o700)
    server = start_redis(tmp / "redis")
    url = f"redis://127.0.0.1:{server.port}/0?stream=cockpit:bench"
    config = tmp / "profiles.yaml"
    text = (REPO / "cockpit" / "profiles.yaml").read_text()
    config.write_text(text.replace("  lab:\n", f"  lab:\n    share: {{maxlen: {args.maxlen}}}\n", 1))
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    sessions: list[Session] = []
    result: dict = {"watchers": args.watchers, "ttys": args.ttys, "window_s": args.duration}
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        poller = subprocess.Popen([py, "-m", "cockpit.cli", "poll", "--config", str(config), "--profile", "lab",
                                   "--share", url], env=env, cwd=REPO, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=open(tmp / "poll.log", "wb"))  # noqa: SIM115
        procs.append(poller)
        deadline = time.monotonic() + 90
        while not client.get("cockpit:bench:state"):
            if time.monotonic() > deadline or poller.poll() is not None:
                print((tmp / "poll.log").read_text()[-2000:], file=sys.stderr)
                return 2
            time.sleep(0.2)
        headless = [subprocess.Popen([py, str(HERE / "redis_share.py"), "--watcher", url], env=env, cwd=REPO,
                                     start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    for _ in range(args.watchers - args.ttys)]
        procs += headless
        sessions = [Session([py, "-m", "cockpit.cli", "attach", url], env, 160, 48) for _ in range(args.ttys)]

        def pump(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for s in sessions:
                    s.pump(0.02)

        pump(args.settle)
        meter = CpuMeter(poller.pid)
        meter.sample()
        cpu0 = {w.pid: cpu_s(w.pid) for w in headless} | {s.proc.pid: cpu_s(s.proc.pid) for s in sessions}
        bytes0 = [s.total for s in sessions]
        mem0, len0 = client.info("memory")["used_memory"], client.xlen("cockpit:bench")
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.duration:
            pump(1.0)
            meter.sample()
        window = time.monotonic() - t0
        per_min = 60 / window
        mem1, len1 = client.info("memory")["used_memory"], client.xlen("cockpit:bench")
        head_cpu = [100 * (cpu_s(w.pid) - cpu0[w.pid]) / window for w in headless]
        tty_cpu = [100 * (cpu_s(s.proc.pid) - cpu0[s.proc.pid]) / window for s in sessions]
        result |= {
            "poller_cpu_pct": round(100 * meter.used(poller.pid) / window, 2),
            "poller_tree_cpu_pct": round(100 * meter.used() / window, 2),
            "headless_cpu_pct_median": round(statistics.median(head_cpu), 2) if head_cpu else None,
            "headless_cpu_pct_max": round(max(head_cpu), 2) if head_cpu else None,
            "tty_cpu_pct": [round(c, 2) for c in tty_cpu],
            "tty_kb_per_min": [round((s.total - b) * per_min / 1000, 1) for s, b in zip(sessions, bytes0, strict=True)],
            "tty_panes_filled": [sum("⧗" not in line for line in s.lines()[:3]) > 0 for s in sessions],
            "redis_used_memory_mb": [round(mem0 / 1e6, 2), round(mem1 / 1e6, 2)],
            "xlen": [len0, len1],
            "maxlen": args.maxlen,
            "redis_clients": client.info("clients")["connected_clients"],
        }
        for w in headless:
            w.send_signal(signal.SIGTERM)
        outs = [json.loads(w.communicate(timeout=20)[0].decode().strip() or "{}") for w in headless]
        result["headless_entries_median"] = statistics.median(o.get("entries", 0) for o in outs) if outs else None
        if args.compare:
            for s in sessions:
                s.stop()
            sessions = []
            own = Session([py, "-m", "cockpit.cli", "--config", str(config), "--profile", "lab"], env, 160, 48)
            sessions = [own]
            pump(args.settle + 10)
            c0, b0, t0 = cpu_s(own.proc.pid), own.total, time.monotonic()
            pump(args.duration)
            window = time.monotonic() - t0
            result["self_polling_cpu_pct"] = round(100 * (cpu_s(own.proc.pid) - c0) / window, 2)
            result["self_polling_kb_per_min"] = round((own.total - b0) * 60 / window / 1000, 1)
    finally:
        for s in sessions:
            s.stop()
        for proc in procs:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(timeout=10)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        client.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for key, value in result.items():
        print(f"{key:28} {value}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
