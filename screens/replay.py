"""Replay and watch modes: the same panes fed from a recording or a driver's stream."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from cockpit.replay import SPEEDS, Player, State
from screens.main import CockpitScreen

if TYPE_CHECKING:
    from cockpit.app import CockpitApp

REJECT_NOTICE_EVERY_S = 5.0


class FrameApplier:
    """A driver's frames onto the app (socket and Redis watchers): a malformed frame is
    skipped, counted and said (at most every few seconds), never the end of the feed."""

    def __init__(self, app: CockpitApp, source: str = "") -> None:
        from cockpit.stream import StreamDecoder

        self.app = app
        self.decoder = StreamDecoder()
        self.source = source  # " from the driver": where the notice says the frames came from
        self._shown_at = 0.0

    def apply(self, event: Any, also_rejected: int = 0) -> None:
        out = self.decoder.feed(event)
        if out is not None:
            self.app.apply_stream_output(out)
            return
        self.app.rejected_frames = self.decoder.rejected + also_rejected
        if time.monotonic() - self._shown_at > REJECT_NOTICE_EVERY_S:
            self._shown_at = time.monotonic()
            self.app.notify(f"{self.app.rejected_frames} malformed frames{self.source} rejected so far;"
                            f" last: {self.decoder.last_rejection}", severity="warning", timeout=8)


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


class TimeBar(Static):
    DEFAULT_CSS = """
    TimeBar { dock: bottom; height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, player: Player, width: int = 30) -> None:
        span = max(player.end - player.start, 1e-9)
        done = min(max((player.display_time - player.start) / span, 0), 1)
        filled = int(done * width)
        state = "▶" if player.playing else "‖"
        # The count of skipped frames goes before the key help, which a narrow terminal cuts.
        skipped = f"⚠ {player.rejected} malformed frames skipped  " if player.rejected else ""
        self.update(Text(
            f"{state} {player.speed:g}x  {_hms(player.display_time)} UTC / {_hms(player.end)}  "
            f"[{'█' * filled}{'░' * (width - filled)}]  {skipped}space play/pause · 1 2 3 speed · "
            "←/→ seek 10 s · n next alarm/action · replay is read-only"
        ))


class ReplayScreen(CockpitScreen):
    BINDINGS = [
        Binding("space", "toggle_play", "Play/pause", priority=True, id="replay.play"),
        Binding("1", "speed(0)", "1x", show=False, id="replay.speed1"),
        Binding("2", "speed(1)", "10x", show=False, id="replay.speed10"),
        Binding("3", "speed(2)", "60x", show=False, id="replay.speed60"),
        Binding("left", "seek(-10)", "Back 10 s", priority=True, id="replay.back"),
        Binding("right", "seek(10)", "Forward 10 s", priority=True, id="replay.forward"),
        Binding("n", "next_mark", "Next alarm/action", id="replay.next"),
    ]

    def __init__(self, banner, player: Player) -> None:
        super().__init__(banner)
        self.player = player
        self.timebar = TimeBar(id="timebar")

    def compose(self):
        yield from super().compose()
        yield self.timebar

    def on_mount(self) -> None:
        super().on_mount()
        self.timebar.show(self.player)

    def tick(self) -> None:
        self.timebar.show(self.player)
        self.refresh_status()  # the headers carry the replay's clock (live_word)

    def live_word(self) -> str:
        """What a pane header says instead of "● live": this is a recording, at this moment."""
        state = "▶ replay" if self.player.playing else "‖ paused"
        return f"{state} {self.player.speed:g}x · {_hms(self.player.display_time)}"

    def action_toggle_play(self) -> None:
        self.player.toggle()
        self.tick()

    def action_speed(self, index: int) -> None:
        self.player.set_speed(SPEEDS[index])
        self.tick()

    def action_seek(self, seconds: float) -> None:
        target = min(max(self.player.display_time + seconds, self.player.start), self.player.end)
        self.show_state(self.player.state_at(target))

    def action_next_mark(self) -> None:
        mark = self.player.next_mark()
        if mark is None:
            self.app.notify("no later alarm or action in this recording")
            return
        self.show_state(self.player.state_at(mark))

    def show_state(self, state: State) -> None:
        for pane in self.panes.values():
            pane.updates.clear()
        self.logs.clear()
        for update in state.updates.values():
            self.apply(update)
        for batch in state.logs:
            self.add_logs(batch)
        self.refresh_status()
        self.tick()


def replay_feed(player: Player):
    async def feed(app: CockpitApp) -> None:
        screen: ReplayScreen = app.cockpit  # type: ignore[assignment]
        app.clock = lambda: player.display_time
        await player.run(app.apply_stream_output, on_tick=screen.tick)

    return feed


def attach_feed(target: Any):
    async def feed(app: CockpitApp) -> None:
        from cockpit.share import watch

        frames = FrameApplier(app, " from the driver")
        async for event in watch(target):
            kind = event.get("kind")
            if kind == "status":
                app.notify(f"{event.get('error')}\n{event.get('hint', '')}", severity="warning", timeout=6)
                continue
            if kind in ("dropped", "refused"):
                app.notify(f"the driver {kind} this watcher: {event.get('reason')}", severity="error",
                           timeout=15)
                continue
            frames.apply(event)

    return feed
