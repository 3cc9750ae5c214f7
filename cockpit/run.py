"""`cockpit run ACTION TARGET`: one action, headless (scripts, cron), through ``ActionRunner``.

The profile's sources are built and refreshed once, without the UI (as ``cockpit check``
does), to find TARGET by name among their records; the runner then does what it does for a
palette hit (read-only, one action per target, write-ahead audit) with the confirmation
replaced by flags: ``--yes`` for a change, ``--confirm NAME`` (the target's name, typed) for
a destructive action or a change on a production profile. Exit 0 when it ran (or a dry run
showed it), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from cockpit.actions import ActionOutcome, ActionRunner, ActionSpec, ConfirmRequest, target_name
from cockpit.errors import CockpitError
from cockpit.model import Alarm, DatabaseSnapshot, PaneKind, QueueStatus, ServiceStatus
from cockpit.profile import Profile
from cockpit.text import sanitize

_PANE_OF = {ServiceStatus: PaneKind.SERVICES, Alarm: PaneKind.ALARMS, QueueStatus: PaneKind.QUEUES,
            DatabaseSnapshot: PaneKind.DATABASE}


class RunError(CockpitError):
    """What stops ``cockpit run`` before the runner is asked (no such action or target)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit run",
        description="Run one action (built-in or the profile's own) on the record named TARGET, "
        "through the same safety checks and audit as the cockpit. Exit 0 when it ran, 1 if not.",
    )
    p.add_argument("action", metavar="ACTION", help="action id, e.g. service.restart or dlq.drain")
    p.add_argument("target", metavar="TARGET", nargs="?", default="",
                   help="the name of the row it acts on (omit for an action on no row)")
    p.add_argument("--estate", metavar="NAME",
                   help="only the target of this estate (a profile of several AWS estates or contexts)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter (repeatable); others take their defaults")
    p.add_argument("--profile", help="profile name (default: the file's `default`)")
    p.add_argument("--config", metavar="PATH", help="profiles.yaml to use")
    p.add_argument("--yes", action="store_true", help="confirm a change")
    p.add_argument("--confirm", metavar="NAME",
                   help="confirm a destructive action (or a change on production): the target's name")
    p.add_argument("--dry-run", action="store_true", help="show and audit what would run; run nothing")
    p.add_argument("--read-only", action="store_true", help="refuse every change (as the cockpit's flag)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--lab-env", metavar="FILE", help="act on a lab started by `cockpit lab up`")
    return p


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise RunError(f"--param {pair!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


async def find_target(spec: ActionSpec, name: str, sources: list[Any], timeout: float,
                      estate: str | None = None) -> Any:
    """The one record ``spec`` applies to whose name (or typed-confirmation name) is ``name``
    (and whose estate is ``estate``, when given)."""
    pane = _PANE_OF.get(spec.target_type)
    wanted = [s for s in sources if pane is None or getattr(s, "pane", None) is pane]

    async def fetch(src: Any) -> list[Any]:
        try:
            return list(await asyncio.wait_for(src.fetch(), timeout))
        except Exception:  # a source that does not answer holds no target; said below if none
            return []

    found = [r for records in await asyncio.gather(*(fetch(s) for s in wanted)) for r in records]
    if estate is not None:
        found = [r for r in found if getattr(r, "estate", "") == estate]
    matches = [r for r in found if spec.applies_to(r) and name in (getattr(r, "name", None), target_name(r, spec))]
    if len(matches) == 1:
        return matches[0]
    if matches:
        where = ", ".join(sorted(str(getattr(r, "source", "?")) for r in matches))
        estates = sorted({str(getattr(r, "estate", "")) for r in matches} - {""})
        raise RunError(f"{name!r} names {len(matches)} records ({where})",
                       f"say which with --estate ({', '.join(estates)})" if len(estates) > 1
                       else "the name must be unique")
    names = sorted({target_name(r, spec) for r in found if spec.applies_to(r)})
    shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
    raise RunError(f"no {spec.target_type.__name__} named {name!r} for {spec.id}",
                   f"known: {shown}" if names else "no source answered with a record it applies to")


async def run_action(profile: Profile, notes: dict[str, str], args: argparse.Namespace
                     ) -> tuple[ActionSpec, str, ActionOutcome]:
    from cockpit.audit import AuditLog, default_audit_path
    from cockpit.custom_actions import NoTarget, no_target, profile_actions
    from cockpit.registry import get_action
    from cockpit.sources import build_sources

    extra = profile_actions(profile)
    try:
        spec = get_action(args.action, extra)
    except KeyError:
        from cockpit.registry import REGISTRY

        known = ", ".join(s.id for s in (*REGISTRY, *extra))
        raise RunError(f"no action {args.action!r}", f"actions: {known}") from None
    params = _params(args.param)
    sources = build_sources(profile, notes).sources
    try:
        if spec.target_type is NoTarget:
            target: Any = no_target(profile)
        else:
            if not args.target:
                raise RunError(f"{spec.id} needs a TARGET: the name of the row it acts on")
            target = await find_target(spec, args.target, sources, profile.timeout, args.estate)
        by_id = {s.id: s for s in sources}

        async def confirm(req: ConfirmRequest) -> bool | str:
            if req.typed:
                return args.confirm or False
            return args.confirm or args.yes

        runner = ActionRunner(
            profile=profile,
            audit=AuditLog(default_audit_path(profile), profile=profile.name),
            resolve_backend=lambda sid: by_id[sid],
            confirm=confirm,
            read_only=args.read_only or profile.read_only,
            dry_run=args.dry_run,
        )
        outcome = await runner.request(spec, target, params or None, origin="cli")
        return spec, target_name(target, spec), outcome
    finally:
        for src in sources:
            with contextlib.suppress(Exception):
                await src.close()


async def _detached(profile: Profile, notes: dict[str, str], args: argparse.Namespace) -> Any:
    from cockpit.check import _DaemonExecutor

    asyncio.get_running_loop().set_default_executor(_DaemonExecutor())
    return await run_action(profile, notes, args)


def main_run(argv: Sequence[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    args = _parser().parse_args(list(argv))
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    from cockpit.labenv import headless_profile

    try:
        with headless_profile(args.config, args.profile, args.lab_env) as (profile, notes):
            spec, name, outcome = asyncio.run(_detached(profile, notes, args))
    except CockpitError as e:
        if args.format == "json":
            out.write(json.dumps({"action": args.action, "target": args.target, "status": "error",
                                  "ok": False, "message": e.message, "hint": e.hint}) + "\n")
        else:
            print(f"cockpit run: {sanitize(e.message)}", file=err)
            if e.hint:
                print(f"  {sanitize(e.hint)}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130
    ran = outcome.status in ("ok", "dry-run")
    hint = ""
    if outcome.status == "cancelled":  # the confirmation was not given
        hint = (f"pass --confirm {name} (the target's name) to confirm" if
                spec.risk.value == "destructive" or profile.production else "pass --yes to confirm")
    if args.format == "json":
        out.write(json.dumps({"action": spec.id, "target": name, "status": outcome.status, "ok": ran,
                              "message": outcome.message, "command": outcome.command,
                              "duration_s": round(outcome.duration_s, 3), "audited": outcome.audited,
                              **({"hint": hint} if hint else {})}) + "\n")
    else:
        # The message can carry estate text (a command's output): already made safe.
        (out if ran else err).write(f"{outcome.status}: {outcome.message}\n")
        if outcome.command:
            (out if ran else err).write(f"command: {outcome.command}\n")
        if hint:
            err.write(f"  {hint}\n")
    (out if ran else err).flush()
    return 0 if ran else 1
