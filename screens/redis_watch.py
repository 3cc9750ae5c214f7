"""Watching a driver through Redis: the feed of ``cockpit attach redis://…`` and its screen,
whose pane headers say how far behind the driver the watcher is (``▲ 4 s behind the
driver``) or that it is reconnecting. With ``--drive`` the watcher also holds the driver
lease and may run actions through backends built from its profile, which poll nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from screens.main import CockpitScreen
from screens.replay import FrameApplier

if TYPE_CHECKING:
    from cockpit.app import CockpitApp

BEHIND_FROM_S = 2.0  # less is "live": a frame or two of the driver's own hold


class RedisWatchScreen(CockpitScreen):
    connected = False
    lag = 0.0
    lost_at: float | None = None

    def live_word(self) -> str:
        if not self.connected:
            behind = self.lag + (time.time() - self.lost_at if self.lost_at else 0.0)
            return f"▲ {behind:.0f} s behind the driver · reconnecting"
        if self.lag >= BEHIND_FROM_S:
            return f"▲ {self.lag:.0f} s behind the driver"
        return "● live"

    def set_link(self, connected: bool, lag: float) -> None:
        before = self.live_word()
        if connected:
            self.lost_at = None
            self.lag = lag
        elif self.connected or self.lost_at is None:
            self.lost_at = time.time()
        self.connected = connected
        if self.live_word() != before:
            self.refresh_status()


def redis_feed(target: Any, drive: Any = None):
    """The watcher's feed; ``drive``: a ``cockpit.poll.Drive`` that holds the lease."""

    async def feed(app: CockpitApp) -> None:
        from cockpit.redis_watch import RedisWatcher, Status

        if drive is not None:
            from cockpit.errors import CockpitError

            try:
                await drive.start(app)
            except CockpitError as e:  # another took the lease first: watch, read-only
                app.runner.read_only = True
                app.notify(f"{e.message}\n{e.hint}", severity="error", timeout=20)
        screen: Any = app.cockpit
        watcher = RedisWatcher(target)
        frames = FrameApplier(app)
        said = ""
        try:
            async for item in watcher.entries():
                if isinstance(item, Status):
                    if isinstance(screen, RedisWatchScreen):
                        screen.set_link(item.connected, item.lag)
                    if item.error and item.error != said:
                        app.notify(f"{item.error}\n{item.hint}", severity="warning", timeout=6)
                    said = item.error
                    continue
                for event in item.events:
                    frames.apply(event, also_rejected=watcher.rejected)
        finally:
            if drive is not None:
                await drive.stop()

    return feed
