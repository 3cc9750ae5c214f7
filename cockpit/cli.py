"""`cockpit`, `cockpit profiles`, `cockpit timeline`, `cockpit --check-config`: parsing only."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

from cockpit import __version__
from cockpit.errors import CockpitError

SUBCOMMANDS = ("profiles", "timeline")
WATCH_COMMANDS = ("replay", "attach")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cockpit",
        description="A live, safe terminal cockpit: services, alarms, logs, queues, database.",
        epilog="Subcommands: `cockpit profiles` lists profiles; "
        "`cockpit timeline --since 2h --format md|json` prints the incident timeline; "
        "`cockpit check`, `cockpit run ACTION TARGET`, `cockpit drill list|run NAME`, `cockpit lab up` "
        "(see their --help).",
    )
    p.add_argument("--profile", help="profile name (default: the file's `default`, normally lab)")
    p.add_argument("--config", metavar="PATH", help="profiles.yaml to use (else $COCKPIT_CONFIG, "
                   "./profiles.yaml, $XDG_CONFIG_HOME/cockpit/profiles.yaml, the bundled file)")
    p.add_argument("--read-only", action="store_true", help="refuse every change and destructive action")
    p.add_argument("--dry-run", action="store_true", help="show and audit what actions would run; run nothing")
    p.add_argument("--theme", help="cockpit-dark (default), cockpit-light or war-room")
    p.add_argument("--war-room", action="store_true", help="start in war-room mode (high contrast, large panes)")
    p.add_argument("--refresh", type=float, metavar="SECONDS", help="override the profile's refresh interval")
    p.add_argument("--low-bandwidth", action="store_true",
                   help="for slow links: 10 frames/s at most, logs drawn every 2 s a page at a time, "
                        "sources refreshed every 10 s or slower")
    p.add_argument("--record", metavar="FILE", help="record the event stream to FILE (gzip JSON lines, rotated)")
    p.add_argument("--share", nargs="?", const="", metavar="TARGET",
                   help="share the live stream: a Unix socket (default, mode 0600), tcp://127.0.0.1:PORT, "
                        "or redis://HOST:PORT/N?stream=NAME (rediss://; password=env:X|file:P)")
    p.add_argument("--check-config", action="store_true", help="validate profiles.yaml and exit")
    p.add_argument("--lab-env", metavar="FILE", help="open the lab `cockpit lab up` runs (its env file)")
    p.add_argument("--version", action="version", version=f"cockpit {__version__}")
    return p


def _fail(err: CockpitError) -> int:
    print(f"cockpit: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"  {err.hint}", file=sys.stderr)
    return 2


# Global options that take a value: what follows them is not a subcommand.
_VALUED = frozenset({"--profile", "--config", "--theme", "--refresh", "--record", "--lab-env"})
_DISPATCHED = (*SUBCOMMANDS, "check", "lab", "drill", "serve", "poll", "record", *WATCH_COMMANDS)


def _subcommand_first(argv: list[str]) -> list[str]:
    """`cockpit --config X profiles` as `cockpit profiles --config X`: global options may come
    before the subcommand, which then parses them (profiles, timeline and check take
    --config and --profile)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        takes_value = argv[i] in _VALUED or (argv[i] == "--share" and i + 1 < len(argv)
                                              and argv[i + 1] not in _DISPATCHED)
        i += 2 if takes_value else 1
    if 0 < i < len(argv) and argv[i] in _DISPATCHED:
        return [argv[i], *argv[:i], *argv[i + 1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _subcommand_first(list(sys.argv[1:] if argv is None else argv))
    if argv and argv[0] == "timeline":
        from cockpit.timeline import main_timeline

        return main_timeline(argv[1:])
    if argv and argv[0] == "check":
        from cockpit.check import main_check

        return main_check(argv[1:])
    if argv and argv[0] == "lab":
        from cockpit.labenv import main_lab

        return main_lab(argv[1:])
    if argv and argv[0] == "drill":
        from cockpit.lab.drills import main_drill

        return main_drill(argv[1:])
    if argv and argv[0] == "run":
        from cockpit.run import main_run

        return main_run(argv[1:])
    if argv and argv[0] == "serve":
        from cockpit.serve import main_serve

        return main_serve(argv[1:])
    if argv and argv[0] in ("poll", "record"):
        from cockpit.poll import main_poll, main_record

        return (main_poll if argv[0] == "poll" else main_record)(argv[1:])
    if argv and argv[0] in WATCH_COMMANDS:
        return _watch(argv[0], argv[1:])
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else None
    args = _parser().parse_args(argv)
    if args.refresh is not None and args.refresh <= 0:
        print("cockpit: --refresh must be a positive number of seconds", file=sys.stderr)
        return 2
    from cockpit.config import find_config_path, load_config

    try:
        path = find_config_path(args.config, environ=os.environ)
        config = load_config(path)
        if command == "profiles":
            for name, prof in config.profiles.items():
                mark = "*" if name == config.default else " "
                flags = " [production]" if prof.production else ""
                print(f"{mark} {name:<16} {prof.description}{flags}")
            print(f"(from {path})")
            return 0
        profile = config.get(args.profile)
        if args.check_config:
            print(f"{path}: OK ({len(config.profiles)} profiles, default {config.default})")
            return 0
    except CockpitError as e:
        return _fail(e)

    _fewer_malloc_arenas()
    if args.low_bandwidth:
        # Textual reads its frame cap once, at import: set it before the app is imported.
        os.environ.setdefault("TEXTUAL_FPS", "10")
    # The cyclic collector ran ~140 times while the app's modules and the first screen were
    # built, over objects that live all shift: ~45 ms of the first frame. The app turns it
    # back on once that frame is on screen (CockpitApp.boot).
    gc.disable()
    try:
        from cockpit.app import CockpitApp
    except CockpitError as e:  # widgets/textual_pin.py: not the Textual release verified
        gc.enable()
        return _fail(e)

    lab_kw: dict[str, Any] = {}
    if args.lab_env:
        # The app starts a lab for `lab` profiles through this hook; attaching is one.
        import dataclasses

        from cockpit.labenv import attach_lab

        profile = dataclasses.replace(profile, lab=True)
        lab_kw["start_lab"] = lambda: attach_lab(args.lab_env)
    while True:
        app = CockpitApp(
            profile, read_only=args.read_only, dry_run=args.dry_run, theme=args.theme, refresh=args.refresh,
            war_room=args.war_room, low_bandwidth=args.low_bandwidth, record=args.record,
            share=_share_target(args.share, profile),
            **lab_kw,
        )
        app.profile_names = tuple(config.profiles)  # for `:profile NAME` (screens/habits.py)
        try:
            result = app.run()
        except KeyboardInterrupt:
            result = 130
        next_profile = getattr(app, "next_profile", None)
        if not next_profile or result == 130:
            break
        # `:profile NAME`: this cockpit has stopped its sources and lab; open the other one.
        profile, lab_kw = config.get(next_profile), {}
    _exit_now_if_sdk_calls_hang(int(result or 0))
    return int(result or 0)


def _exit_now_if_sdk_calls_hang(code: int) -> None:
    """Quit at once even when boto3 or kubernetes calls are still blocked in a read.

    The app has stopped its sources, the lab and the audit by now; only threads stuck on an
    endpoint that never answers remain, and the interpreter would wait for their read
    timeouts (up to a minute) before the shell comes back.
    """
    from cockpit.backends.pools import in_flight

    if in_flight():
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fewer_malloc_arenas() -> None:
    """Two malloc arenas instead of glibc's eight per core.

    The cockpit runs a few dozen mostly idle threads (boto3 calls, Kubernetes watches and
    log streams); with an arena each, their freed memory stays scattered and the resident
    size grows by 10-15 MB for nothing (bench/README.md). Must run before those threads
    start. A no-op where glibc's mallopt is not available or MALLOC_ARENA_MAX is set.
    """
    if sys.platform != "linux" or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _share_target(share: str | None, prof: Any) -> str | None:
    """Resolve --share before the screen is taken, and print where watchers connect.

    The TCP token is not printed in the watchers' command: it goes in a 0600 file the driver
    writes (or comes from $COCKPIT_SHARE_TOKEN), because command lines are public (ps).
    """
    if share is None:
        return None
    from cockpit.share import claim_socket_path, parse_target, token_file
    from cockpit.share_redis import is_redis, parse_redis_target

    profile = prof if isinstance(prof, str) else prof.name  # a Profile, or (tests) its name
    try:
        if is_redis(share):
            redis_target = parse_redis_target(share, profile, getattr(prof, "share", None))
            print(f"cockpit: sharing on {redis_target}\n  watchers: cockpit attach {redis_target}", file=sys.stderr)
            return share
        target = parse_target(share, profile)
        if target.kind == "tcp":
            if not target.port:
                print("cockpit: --share tcp:// needs a port, e.g. tcp://127.0.0.1:7070", file=sys.stderr)
                raise SystemExit(2)
            where = token_file(target.port)
            print(f"cockpit: sharing on {target} (its token: {where}, mode 0600)\n"
                  f"  watchers: cockpit attach {target} --token-file {where}\n"
                  "  other users: give them the token in a file of theirs, or in $COCKPIT_SHARE_TOKEN",
                  file=sys.stderr)
        else:
            assert target.path is not None
            claim_socket_path(target.path)
            print(f"cockpit: sharing on {target}\n  watchers: cockpit attach {target}", file=sys.stderr)
    except CockpitError as e:
        raise SystemExit(_fail(e)) from None
    return str(target)


def _watch(command: str, argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog=f"cockpit {command}")
    if command == "replay":
        p.add_argument("file", help="a recording made with --record, or redis://…?stream=NAME&from=ISO&to=ISO")
    else:
        p.add_argument("target", nargs="?", default="",
                       help="the driver's address: a socket path (default: your lab driver's) or tcp://127.0.0.1:PORT")
        p.add_argument("--profile", default="lab", help="the driver's profile, for the default socket")
        p.add_argument("--token-file", metavar="PATH",
                       help="a 0600 file holding a TCP driver's token (else $COCKPIT_SHARE_TOKEN, else the "
                            "token file of your own driver on that port); never give the token as an argument")
        p.add_argument("--drive", action="store_true",
                       help="redis:// only: take the driver role (a lease in Redis; one driver at a time) "
                            "and run actions with the backends of --profile")
        p.add_argument("--config", metavar="PATH", help="profiles.yaml (for --drive)")
    p.add_argument("--theme")
    args = p.parse_args(argv)
    from cockpit.app import CockpitApp
    from cockpit.profile import Profile
    from cockpit.share_redis import is_redis

    try:
        if command == "replay":
            from cockpit.replay import Player
            from screens.replay import ReplayScreen, replay_feed

            player = _redis_player(args.file) if is_redis(args.file) else Player.open(args.file)
            profile = Profile(name=player.profile or "replay", description=f"replay of {args.file}",
                              read_only=True)
            app = CockpitApp(profile, theme=args.theme, read_only=True, feed=replay_feed(player),
                             screen_factory=lambda banner: ReplayScreen(banner, player))
        elif is_redis(args.target):
            app = _redis_attach(args)
        else:
            from cockpit.share import parse_target, watcher_token
            from screens.replay import attach_feed

            target = parse_target(args.target, args.profile)
            target.token = watcher_token(target, args.token_file)
            profile = Profile(name="watcher", description=f"watching {target} (read-only)", read_only=True)
            app = CockpitApp(profile, theme=args.theme, read_only=True, feed=attach_feed(target))
    except CockpitError as e:
        return _fail(e)
    except ValueError as e:
        print(f"cockpit: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # Redis unreachable or refusing (replay, --drive): said, not a traceback
        if not is_redis(getattr(args, "file", None) or getattr(args, "target", None)):
            raise
        from cockpit.share_redis import _describe

        print(f"cockpit: cannot use Redis: {_describe(e)}", file=sys.stderr)
        return 2
    return int(app.run() or 0)


def _redis_player(source: str) -> Any:
    """A replay of a Redis stream's range: XRANGE from the last state before `from`."""
    import asyncio

    from cockpit.redis_watch import parse_time, read_range
    from cockpit.replay import Player
    from cockpit.share_redis import parse_redis_target

    target = parse_redis_target(source)
    events = asyncio.run(read_range(target, parse_time(target.query.get("from")), parse_time(target.query.get("to"))))
    return Player(events)


def _redis_attach(args: argparse.Namespace) -> Any:
    """A watcher of a Redis stream; with --drive, the driver (lease, actions, audit)."""
    from cockpit.app import CockpitApp
    from cockpit.profile import Profile
    from cockpit.share_redis import parse_redis_target
    from screens.redis_watch import RedisWatchScreen, redis_feed

    if not args.drive:
        target = parse_redis_target(args.target)
        profile = Profile(name="watcher", description=f"watching {target} (read-only)", read_only=True)
        return CockpitApp(profile, theme=args.theme, read_only=True, feed=redis_feed(target),
                          screen_factory=RedisWatchScreen)
    import asyncio

    from cockpit.config import find_config_path, load_config
    from cockpit.poll import Drive

    profile = load_config(find_config_path(args.config, environ=os.environ)).get(
        None if args.profile == "lab" else args.profile)
    target = parse_redis_target(args.target, profile.name, profile.share)
    drive = Drive(target, profile)

    async def check() -> None:  # said before the screen is taken; the app takes it again
        await drive.take()
        await drive.lease.release()

    asyncio.run(check())
    drive = Drive(target, profile)
    return CockpitApp(profile, theme=args.theme, feed=redis_feed(target, drive), screen_factory=RedisWatchScreen)


if __name__ == "__main__":
    sys.exit(main())
