"""``cockpit drill list`` and ``cockpit drill run NAME``: a drill on the lab `cockpit lab up`
runs (or a private one), waiting for its goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from cockpit.audit import AuditLog, default_audit_path
from cockpit.errors import CockpitError
from cockpit.lab.drills.catalogue import DRILLS
from cockpit.lab.drills.session import DrillSession, describe_summary, headless_runner


def _list(out: TextIO) -> int:
    for d in DRILLS.values():
        mark = f"  [not available yet: {d.unavailable}]" if d.unavailable else ""
        mark = mark or ("  [in the cockpit only: palette drill: start]" if d.in_cockpit_only else "")
        out.write(f"{d.name:<12} {d.title}{mark}\n             goal: {d.goal_text}\n")
    return 0


async def _run(session: DrillSession, timeout: float | None, interval: float, out: TextIO) -> int:
    drill = session.drill
    outcome = await session.start(origin="cli")
    if not outcome.ok:  # refused (read-only), or a dry run: audited, and nothing was broken
        out.write(f"drill {drill.name}: {outcome.message}\n")
        return 0 if outcome.status == "dry-run" else 2
    out.write(f"drill {drill.name}: {drill.description}\ngoal: {drill.goal_text}\n")
    out.write("waiting for the goal (Ctrl+C gives up)…\n")
    out.flush()
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while not await session.check():
            if deadline is not None and time.monotonic() > deadline:
                await session.abort()
                out.write(describe_summary(session.summary()) + "\n")
                return 1
            await asyncio.sleep(interval)
    except asyncio.CancelledError:
        await session.abort()
        raise
    out.write(describe_summary(session.summary()) + "\n")
    out.write(json.dumps(session.summary(), indent=2) + "\n")
    return 0


def _running_lab(env_file: str | None, name: str, err: TextIO) -> Any:
    """The lab `cockpit lab up` runs, found through its lab-env file; None (said on ``err``,
    with the commands to use) when there is none: a second, private lab would not be the one
    the trainee watches."""
    from cockpit.lab import LabError
    from cockpit.labenv import attach_lab, default_env_path

    path = env_file or str(default_env_path())
    try:
        lab = attach_lab(path)
    except LabError as e:
        print(f"cockpit drill: no running lab to drill on: {e.message}", file=err)
        print("  start it in another shell with `cockpit lab up`, watch it with "
              f"`cockpit --lab-env {path}`, then run the drill again; in a cockpit on its own "
              f"lab, start it from the palette (drill: start {name}); `--own-lab` starts a "
              "private lab instead", file=err)
        return None
    print(f"using the running lab from {path}", file=err, flush=True)
    return lab


def main_drill(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cockpit drill", description="Practise incidents on the lab.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the drills and their goals")
    run = sub.add_parser("run", help="inject a drill into the running lab, wait for its goal")
    run.add_argument("name", choices=sorted(DRILLS))
    run.add_argument("--profile", default="lab", help="a lab profile (default lab)")
    run.add_argument("--config", metavar="PATH", help="profiles.yaml to use")
    run.add_argument("--lab-env", metavar="FILE",
                     help="the lab-env file of the lab `cockpit lab up` runs (default: the file it writes by default)")
    run.add_argument("--own-lab", action="store_true", help="start a private lab for this drill instead")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    run.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    run.add_argument("--read-only", action="store_true", help="refuse (and audit) the drill start")
    run.add_argument("--dry-run", action="store_true", help="show and audit the drill start; break nothing")
    args = parser.parse_args(list(argv))
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if args.command == "list":
        return _list(out)

    drill = DRILLS[args.name]
    if drill.unavailable:
        print(f"cockpit drill: {drill.name} is not available yet: {drill.unavailable}", file=err)
        return 2
    if drill.in_cockpit_only:
        print(f"cockpit drill: {drill.name} runs only in the cockpit: {drill.in_cockpit_only}", file=err)
        return 2
    from cockpit.config import find_config_path, load_config

    lab: Any = None
    try:
        profile = load_config(find_config_path(args.config)).get(args.profile)
        if not profile.lab:
            print(f"cockpit drill: profile {profile.name} is not a lab; drills only run on the lab",
                  file=err)
            return 2
        if not args.own_lab:
            lab = _running_lab(args.lab_env, drill.name, err)
            if lab is None:
                return 2
        else:
            from cockpit.lab import start_lab
            from cockpit.labenv import format_env, lab_environment

            print("starting the lab…", file=err, flush=True)
            lab = start_lab(with_servers=True)
            env = {k: v for k, v in lab_environment(lab).items() if not k.startswith("COCKPIT_")}
            out.write("# the lab for this drill; resolve it from another shell with:\n")
            out.write(format_env(env))
        audit = AuditLog(default_audit_path(profile))
        runner = headless_runner(profile, audit, lab, read_only=args.read_only, dry_run=args.dry_run)
        session = DrillSession(drill, lab, audit, profile, runner=runner)
        return asyncio.run(_run(session, args.timeout, args.interval, out))
    except CockpitError as e:
        print(f"cockpit drill: {e.message}", file=err)
        if e.hint:
            print(f"  {e.hint}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if lab is not None:
            lab.stop()
