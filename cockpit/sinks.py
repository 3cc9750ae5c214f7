"""The stream sinks: where the cockpit's event stream is recorded (``--record``, a profile's
``record: true``) and shared (``--share``), and how each event reaches them.

The encoder turns source updates, log batches, the focused row and action outcomes into
stream events; every sink gets each event, and a sink that fails is said once and dropped,
never blocking the screen. ``StreamSinks`` is a mixin of ``cockpit.app.CockpitApp`` and
imports nothing from Textual; ``_Host`` says what it uses there.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cockpit.stream import StreamEncoder


class _Host(Protocol):
    profile: Any  # cockpit.profile.Profile
    sinks: list[Any]
    share_server: Any
    _record_path: str | None
    _share_target: str | None

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    @property
    def encoder(self) -> StreamEncoder: ...

    def publish(self, event: dict[str, Any] | None) -> None: ...


async def _take_lease(host: Any, target: Any) -> None:
    """A cockpit sharing on Redis drives: it holds the stream's driver lease, or (another
    holds it) its actions are refused, as an attached cockpit's are without --drive."""
    from cockpit.share_redis import DriverLease

    def lost(message: str) -> None:
        host.runner.read_only = True
        host.notify(message, severity="error", timeout=30)

    lease = DriverLease(target, host.profile.share.lease_ttl, on_lost=lost)
    try:
        held = await lease.acquire()
        who = None if held else await lease.holder()
    except Exception as e:  # Redis away at start: the share retries; actions stay allowed
        host.notify(f"driver lease not taken ({e}); retrying with the share", severity="warning")
        return
    if held:
        host._lease = lease
        return
    await lease.release()
    lost(f"{who or 'another cockpit'} drives {target}: this cockpit's actions are refused "
         "(quit, or wait until they leave, and start again)")


class StreamSinks:
    _encoder: StreamEncoder | None = None
    profile: Any
    sinks: list[Any]
    share_server: Any
    _record_path: str | None
    _share_target: str | None

    def _init_sinks(self: _Host, profile: Any, record: str | None, share: str | None) -> None:
        # The event stream: recorded, shared, or (for watchers and replays) the only input.
        # Its hello names the profile and says production and lab, as a watcher shows them.
        self.sinks = []
        self._record_path = record
        self._share_target = share
        self.share_server = None

    @property
    def encoder(self) -> StreamEncoder:
        # Made when first used (a recording, a share, a watcher's clock), not before the
        # first frame: most cockpits never stream.
        if self._encoder is None:
            from cockpit.stream import StreamEncoder

            p = self.profile
            self._encoder = StreamEncoder(p.name, production=p.production, lab=p.lab,
                                          estates=p.several_estates)
        return self._encoder

    async def _open_sinks(self: _Host) -> None:
        if self.profile.record and not self._record_path:
            from cockpit.audit import default_audit_path

            stamp = time.strftime("%Y%m%d-%H%M%S")
            folder = default_audit_path(self.profile).parent / "recordings"
            self._record_path = str(folder / f"{self.profile.name}-{stamp}.cz")
            self.notify(f"recording to {self._record_path}", timeout=6)
        if self._record_path:
            from cockpit.record import Recorder

            recorder = Recorder(self._record_path)
            recorder.header = [self.encoder.hello()]
            recorder.publish(self.encoder.hello())
            self.sinks.append(recorder)
        if self._share_target is not None and (self._share_target == "redis" or self._share_target.startswith(("redis://", "rediss://"))):
            from cockpit.share_redis import RedisShare, parse_redis_target

            def said(text: str, ok: bool) -> None:  # Redis slow, away, back: the share's status
                self.notify(text, severity="information" if ok else "warning", timeout=10)

            target = parse_redis_target(self._share_target, self.profile.name, self.profile.share)
            self.share_server = RedisShare(target, self.encoder.full_state, self.profile.share, on_status=said)
            await self.share_server.start()
            self.sinks.append(self.share_server)
            self.notify(f"sharing on {target}\nwatchers: {self.share_server.watch_command}", timeout=20)
            await _take_lease(self, target)
        elif self._share_target is not None:
            from cockpit.share import ShareServer, parse_target

            server = ShareServer(parse_target(self._share_target, self.profile.name), self.encoder.full_state)
            address = await server.start()
            self.share_server = server
            self.sinks.append(server)
            self.notify(f"sharing on {address}\nwatchers: {server.watch_command}", timeout=20)

    async def _close_sinks(self: _Host) -> None:
        lease = getattr(self, "_lease", None)
        if lease is not None:
            await lease.release()
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            closer = getattr(sink, "stop", None) or getattr(sink, "close", None)
            result = closer() if closer else None
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, 5)

    def publish(self: _Host, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        for sink in self.sinks:
            try:
                sink.publish(event)
            except Exception as e:  # a broken sink is said once and dropped, never blocks
                self.sinks.remove(sink)
                self.notify(f"stream output stopped: {e}", severity="error")

    def publish_focus(self: _Host, pane: str, row: str | None) -> None:
        if self.sinks:
            self.publish(self.encoder.focus(pane, row))

    def publish_action(self: _Host, spec: Any, target: Any, outcome: Any) -> None:
        if self.sinks:
            self.publish(self.encoder.action({"action": spec.id, "title": spec.title,
                                              "target": getattr(target, "name", ""), "outcome": outcome.status,
                                              "message": outcome.message, "command": outcome.command}))
