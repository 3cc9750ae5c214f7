"""One poller for many viewers: ``cockpit poll`` runs a profile's backends headless and
publishes to Redis; ``Drive`` gives an attached cockpit the driver role (the lease in Redis,
its actions on backends that poll nothing); ``cockpit record export`` writes a stream's range
as a recording file.

The poller has no terminal and no UI: the hub's updates and log batches go through the
stream encoder to the Redis sink, and what the share says (Redis slow, unreachable, events
dropped) goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from cockpit.cli import _fail  # the CLI says an error one way (poll runs only from it)
from cockpit.errors import CockpitError


def main_poll(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cockpit poll", description="run a profile's backends headless and "
                                "publish the stream to Redis; engineers `cockpit attach` it")
    p.add_argument("--profile", help="profile name (default: the file's default)")
    p.add_argument("--config", metavar="PATH", help="profiles.yaml to use")
    p.add_argument("--share", required=True, metavar="URL",
                   help="redis://HOST:PORT/N?stream=NAME (or rediss://; password=env:X or file:P), "
                        "or `redis` for the profile's share.url")
    p.add_argument("--refresh", type=float, metavar="SECONDS", help="override the profile's refresh interval")
    args = p.parse_args(argv)
    from cockpit.config import find_config_path, load_config
    from cockpit.share_redis import is_redis, parse_redis_target

    try:
        config = load_config(find_config_path(args.config))
        profile = config.get(args.profile)
        if not is_redis(args.share):
            raise CockpitError("cockpit poll publishes to Redis only", "--share redis://HOST:PORT/0?stream=NAME")
        target = parse_redis_target(args.share, profile.name, profile.share)
    except CockpitError as e:
        return _fail(e)
    if args.refresh:
        import dataclasses

        profile = dataclasses.replace(profile, refresh=args.refresh)
    try:
        asyncio.run(Poller(profile, target).run())
    except KeyboardInterrupt:
        return 130
    except CockpitError as e:
        return _fail(e)
    return 0


class Poller:
    """The hub and the Redis sink, no UI. ``run`` returns on SIGINT/SIGTERM or ``stop()``."""

    def __init__(self, profile: Any, target: Any, *, sources_factory: Any = None, log: Any = None) -> None:
        self.profile = profile
        self.target = target
        self.sources_factory = sources_factory
        self.log = log or (lambda text: print(f"cockpit poll: {text}", file=sys.stderr, flush=True))
        self.share: Any = None
        self.hub: Any = None
        self._stop = asyncio.Event()
        self.started = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        from cockpit.hub import Hub
        from cockpit.share_redis import RedisShare
        from cockpit.sources import build_sources
        from cockpit.stream import StreamEncoder

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop.set)
        profile, lab, notes = self.profile, None, {}
        if profile.lab and self.sources_factory is None:
            from cockpit.lab import start_lab

            lab = await asyncio.to_thread(start_lab)
            profile, notes = lab.profile(profile), dict(lab.notes)
        encoder = StreamEncoder(profile.name, production=profile.production, lab=profile.lab,
                                estates=profile.several_estates)
        self.share = RedisShare(self.target, encoder.full_state, profile.share,
                                on_status=lambda text, ok: self.log(text))
        factory = self.sources_factory or build_sources
        sources = await asyncio.to_thread(factory, profile, notes)

        def on_update(update: Any) -> None:
            event = encoder.snapshot(update)
            if event is not None:
                self.share.publish(event)

        self.hub = Hub(sources.sources, sources.log_sources, on_update=on_update,
                       on_logs=lambda batch: self.share.publish(encoder.logs(batch)),
                       interval=profile.refresh, timeout=profile.timeout)
        await self.share.start()
        self.log(f"publishing {profile.name} on {self.target}; watchers: cockpit attach {self.target}")
        self.hub.start()
        self.started.set()
        try:
            await self._stop.wait()
        finally:
            await asyncio.wait_for(self.hub.stop(), 20)
            await self.share.stop()
            if lab is not None:
                await asyncio.to_thread(lab.stop)


class Drive:
    """``cockpit attach redis://… --drive``: the driver lease, and backends for actions only.

    Exactly one cockpit holds the lease; it runs actions (with their confirmations and audit,
    which names user@host), publishes them to the stream for the watchers, and turns
    read-only the moment the lease is lost.
    """

    def __init__(self, target: Any, profile: Any, *, sources_factory: Any = None) -> None:
        from cockpit.share_redis import DriverLease

        self.target = target
        self.profile = profile
        self.sources_factory = sources_factory
        self.lease = DriverLease(target, profile.share.lease_ttl)
        self.app: Any = None

    async def take(self) -> None:
        """The lease, or a CockpitError naming who drives now."""
        if not await self.lease.acquire():
            who = await self.lease.holder()
            await self.lease.release()
            raise CockpitError(f"{who or 'another cockpit'} drives {self.target} now",
                               "attach without --drive to watch; the lease lapses when they leave")

    async def start(self, app: Any) -> None:
        from cockpit.hub import Hub
        from cockpit.share_redis import RedisShare
        from cockpit.sources import build_sources

        self.app = app
        if not self.lease.held:
            await self.take()

        def lost(message: str) -> None:
            app.runner.read_only = True
            app.notify(message, severity="error", timeout=30)

        self.lease.on_lost = lost
        factory = self.sources_factory or build_sources
        sources = await asyncio.to_thread(factory, self.profile, {})
        # Not started: the backends answer actions and details; the poller polls.
        app.hub = Hub(sources.sources, sources.log_sources, on_update=lambda u: None,
                      on_logs=lambda b: None, interval=self.profile.refresh)
        share = RedisShare(self.target, app.encoder.full_state, self.profile.share, states=False,
                           on_status=lambda text, ok: app.notify(text, severity="information" if ok else "warning"))
        await share.start()
        app.sinks.append(share)
        self._note(f"driver lease on {self.target} taken by {self.lease.name}")
        app.notify(f"you drive {self.target}: actions run here, watchers see them", timeout=10)

    def _note(self, summary: str) -> None:
        with contextlib.suppress(Exception):  # the audit refusing a note does not stop the drive
            self.app.runner.audit.append({"type": "note", "profile": self.profile.name, "summary": summary,
                                          "driver": self.lease.name})

    async def stop(self) -> None:
        if self.lease.held and self.app is not None:
            self._note(f"driver lease on {self.target} released by {self.lease.name}")
        await self.lease.release()


def main_record(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cockpit record", description="recordings kept in Redis")
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a stream's range as a recording file (gzip JSON lines)")
    ex.add_argument("source", help="redis://HOST:PORT/N?stream=NAME[&from=ISO][&to=ISO]")
    ex.add_argument("file", help="the recording to write (as --record writes)")
    args = p.parse_args(argv)
    from cockpit.redis_watch import export
    from cockpit.share_redis import parse_redis_target

    try:
        count = export(parse_redis_target(args.source), args.file)
    except CockpitError as e:
        return _fail(e)
    except Exception as e:  # Redis unreachable, a wrong password, not a stream: said, not a traceback
        from cockpit.share_redis import _describe

        print(f"cockpit: cannot read the stream: {_describe(e)}", file=sys.stderr)
        return 2
    print(f"cockpit: {count} events written to {args.file}", file=sys.stderr)
    return 0
