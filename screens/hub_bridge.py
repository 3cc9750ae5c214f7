"""The hub bridge: how source updates and log batches reach the panes and screens.

The hub calls the app on its own loop; a watcher's or a replay's decoded stream events come
as Textual messages. Both land here, are held briefly so that several make one frame
(``Throttle``), and go to the cockpit grid and to every open screen that follows its row.
Alarm transitions seen on the way are written to the audit log for the incident timeline.

``HubBridge`` is a mixin of ``cockpit.app.CockpitApp``; ``_Host`` says what it uses there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from textual.message import Message

from cockpit.hub import Hub, LogBatch, SourceUpdate, Throttle
from cockpit.model import Alarm, PaneKind

if TYPE_CHECKING:
    from cockpit.stream import StreamEncoder
    from screens.main import CockpitScreen

T = TypeVar("T", SourceUpdate, LogBatch)

# Log lines that trickle in wait this long at most for the next ones (see HubBridge._logs),
# well inside the two seconds from arrival to screen that issue 11 allows; this many waiting
# go at once.
LOG_HOLD = 1.5
LOG_PAINT_AT_ONCE = 20


class SourceUpdated(Message):
    def __init__(self, update: SourceUpdate) -> None:
        super().__init__()
        self.update = update

    def can_replace(self, message: Message) -> bool:
        # A queued older state of the same source is superseded by this one.
        return isinstance(message, SourceUpdated) and message.update.source_id == self.update.source_id


class LogsArrived(Message):
    def __init__(self, batch: LogBatch) -> None:
        super().__init__()
        self.batch = batch


@runtime_checkable
class FollowsSources(Protocol):
    """A screen that follows its row's source while it is open (a live detail)."""

    def source_updated(self, update: SourceUpdate) -> None: ...


class _Host(Protocol):
    """What the bridge uses of the app it is mixed into."""

    hub: Hub | None
    cockpit: CockpitScreen
    runner: Any  # cockpit.actions.ActionRunner
    profile: Any
    sinks: list[Any]
    alarm_tracker: Any
    follow_driver: bool
    _updates: Throttle[SourceUpdate]
    _shown_sources: set[str]
    _logs: Throttle[LogBatch]
    _last_paint_lines: int

    @property
    def encoder(self) -> StreamEncoder: ...

    @property
    def screen(self) -> Any: ...

    @property
    def screen_stack(self) -> Sequence[Any]: ...

    def post_message(self, message: Message) -> bool: ...

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = False) -> None: ...

    def publish(self, event: dict[str, Any] | None) -> None: ...

    def _handle_exception(self, error: Exception) -> None: ...

    def _started_up(self) -> None: ...

    def _apply_updates(self, updates: list[SourceUpdate]) -> None: ...

    def _paint_logs(self, batches: list[LogBatch]) -> None: ...

    def _from_hub(self, take: Callable[[T], None], item: T) -> None: ...

    def _take_update(self, update: SourceUpdate) -> None: ...

    def _take_logs(self, batch: LogBatch) -> None: ...

    def _apply_update(self, update: SourceUpdate) -> None: ...

    def _tell_screens(self, hook: str, *args: Any) -> None: ...

    def _follow_rows(self, update: SourceUpdate) -> None: ...

    def _record_alarm_transitions(self, update: SourceUpdate) -> None: ...


class HubBridge:
    follow_driver = True  # a watcher follows the driver's focus until `F` turns it off
    _updates: Throttle[SourceUpdate]
    _shown_sources: set[str]
    _logs: Throttle[LogBatch]
    _last_paint_lines: int

    def _open_bridge(self: _Host, refresh: float, low_bandwidth: bool) -> None:
        # Source updates on their way to the screen (see on_source_updated): held two seconds
        # at most, and never near the staleness limit (three refreshes) of a fast profile.
        # Two, not one: with a log line about every second, an update held one second raced
        # the next line and made a frame of its own a third of the time.
        hold = min(2.0, refresh / 2)
        self._updates = Throttle(self._apply_updates, hold)
        self._shown_sources = set()
        # Log lines on their way to the screen: the first after a quiet spell at once, the
        # ones that trickle in after it wait up to LOG_HOLD and go together (a frame costs
        # the same for one line as for twenty: with the lab's line a second, each was a frame
        # of its own, the larger part of the idle cockpit's CPU). A flood or a burst is not
        # held back (_take_logs).
        self._logs = Throttle(self._paint_logs, 2.0 if low_bandwidth else LOG_HOLD)
        self._last_paint_lines = 0

    def _close_bridge(self: _Host) -> None:
        # Held lines and updates are dropped, not painted on screens that are going.
        self._logs.cancel()
        self._updates.cancel()

    def _hub_update(self: _Host, update: SourceUpdate) -> None:
        if self.sinks:
            self.publish(self.encoder.snapshot(update))
        self._from_hub(self._take_update, update)

    def _hub_logs(self: _Host, batch: LogBatch) -> None:
        if self.sinks:
            self.publish(self.encoder.logs(batch))
        self._from_hub(self._take_logs, batch)

    def _from_hub(self: _Host, take: Callable[[T], None], item: T) -> None:
        # Straight to the hold, not through the app's message queue: the hub runs on this
        # loop, and each message was a wake-up and a dispatch of its own (~210 a minute in
        # the idle lab) for what is mostly held anyway. A watcher's or a replay's updates
        # and lines still come as messages.
        if self.hub is None:  # shutting down: the screens may be going
            return
        try:
            take(item)
        except Exception as e:  # as a failing message handler would: shown, and the app ends
            self._handle_exception(e)

    def apply_stream_output(self: _Host, out: SourceUpdate | LogBatch | dict[str, Any]) -> None:
        """What a decoded stream event does on a watcher's or a replay's screen."""
        if isinstance(out, SourceUpdate):
            self.post_message(SourceUpdated(out))
        elif isinstance(out, LogBatch):
            self.post_message(LogsArrived(out))
        elif isinstance(out, dict) and out.get("kind") == "action":
            entry = out.get("entry", {})
            self.notify(f"{entry.get('title', entry.get('action'))} {entry.get('target', '')}: "
                        f"{entry.get('outcome')}", title="driver action", timeout=8)
        elif isinstance(out, dict) and out.get("kind") in ("hello", "detail"):
            from screens.follow import from_driver

            from_driver(self, out)
        elif isinstance(out, dict) and out.get("kind") == "focus" and self.follow_driver:
            pane = self.cockpit.panes.get(PaneKind(out.get("pane", "services")))
            if pane is not None and self.screen is self.cockpit:
                pane.focus_body()

    def action_toggle_follow_driver(self: _Host) -> None:
        self.follow_driver = not self.follow_driver
        self.notify("following the driver's focus" if self.follow_driver else "moving on my own")

    # An update goes to the screen at once after a quiet spell; the ones that follow within
    # update_hold wait and go together, or with the next log lines if those come first: the
    # lab's fifteen-odd sources refresh at their own moments, and each update was its own
    # frame (~125 a minute).
    @property
    def update_hold(self: _Host) -> float:
        return self._updates.interval

    @update_hold.setter
    def update_hold(self: _Host, seconds: float) -> None:
        self._updates.interval = seconds

    def on_source_updated(self: _Host, message: SourceUpdated) -> None:
        self._take_update(message.update)

    def _take_update(self: _Host, update: SourceUpdate) -> None:
        self._updates.add([update])
        if update.source_id not in self._shown_sources:
            # A source's first data is never held: at start-up the panes fill as fast as
            # their sources answer.
            self._shown_sources.add(update.source_id)
            self._updates.flush()
            if self.hub is not None and self._shown_sources >= {s.id for s in self.hub.sources}:
                self._started_up()

    def _apply_updates(self: _Host, updates: list[SourceUpdate]) -> None:
        for update in updates:
            self._apply_update(update)

    def _apply_update(self: _Host, update: SourceUpdate) -> None:
        if update.pane is PaneKind.SERVICES and update.records and self.hub is not None:
            # PromQL series (error rate, p95) join the rows they describe, for the sparklines.
            from dataclasses import replace as _replace

            from cockpit.enrich import merge_service_metrics

            providers = [s for s in self.hub.sources if hasattr(s, "service_metrics")]
            if providers:
                update = _replace(update, records=merge_service_metrics(update.records, providers))
        self.cockpit.apply(update)
        if self.hub is not None and update.pane is PaneKind.ALARMS:  # who is on call: the header
            from cockpit.backends.base import OnCallReader

            if isinstance(src := self.hub.source(update.source_id), OnCallReader):
                self.cockpit.incident_banner.set_oncall(src.oncall_text)
                for screen in self.screen_stack:  # the cockpit's header and any open detail's
                    if hasattr(banner := getattr(screen, "banner", None), "set_oncall"):
                        banner.set_oncall(src.oncall_text)
        self._follow_rows(update)
        # Only the driver records alarm transitions: watchers and replays have no estate.
        if (self.hub is not None and update.pane is PaneKind.ALARMS
                and update.records is not None and not update.error):
            self._record_alarm_transitions(update)

    def _tell_screens(self: _Host, hook: str, *args: Any) -> None:
        """Call ``hook`` on every screen of the stack that has it (live detail screens)."""
        for screen in self.screen_stack:
            method = getattr(screen, hook, None)
            if callable(method):
                method(*args)

    def _follow_rows(self: _Host, update: SourceUpdate) -> None:
        """Open details follow their row: each screen of the stack that follows sources."""
        for screen in self.screen_stack:
            if isinstance(screen, FollowsSources):
                screen.source_updated(update)

    def _record_alarm_transitions(self: _Host, update: SourceUpdate) -> None:
        """Alarm state changes go to the audit log, so the incident timeline can be rebuilt."""
        alarms = [a for a in update.records or () if isinstance(a, Alarm)]
        try:
            if self.alarm_tracker is None:
                from cockpit.audit import AlarmTracker

                self.alarm_tracker = AlarmTracker(self.runner.audit, self.profile.name)
            self.alarm_tracker.observe(update.source_id, alarms)
        except Exception as e:  # the cockpit keeps working; the loss is said, not hidden
            self.notify(f"alarm transition not audited: {e}", severity="warning")

    def on_logs_arrived(self: _Host, message: LogsArrived) -> None:
        self._take_logs(message.batch)

    def _take_logs(self: _Host, batch: LogBatch) -> None:
        self._logs.add([batch])
        # A screenful goes at once, and so does whatever follows one: the last few lines of
        # a flood are not held back (the followers' own batching paces a flood's frames).
        if self._logs.pending and max(self._last_paint_lines, sum(
                len(b.records) for b in self._logs.pending)) >= LOG_PAINT_AT_ONCE:
            self._logs.flush()

    def _paint_logs(self: _Host, batches: list[LogBatch]) -> None:
        self._last_paint_lines = sum(len(b.records) for b in batches)
        self._updates.flush()  # held updates go in the same frame as these lines
        for batch in batches:
            self.cockpit.add_logs(batch)
