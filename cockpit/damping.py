"""Damping for the threshold alarms the cockpit computes itself (hosts, Prometheus
thresholds, health checks).

A condition fires only once it has held for ``hold`` seconds, and a firing alarm clears only
once its condition has been gone for as long: Prometheus' ``for:`` and ``keep_firing_for``.
A CPU hovering around its threshold is one alarm that stays up, not a fire/clear pair on
every refresh (each pair is two lines in the incident timeline).

An alarm's ``since`` is when its condition began (the first breach seen, or an earlier time
the backend knows, such as the first point above the threshold in a Prometheus series), and
it is kept across refreshes for as long as the alarm lives.

``hold`` 0 reports what was measured, as it was measured: ``cockpit check`` (one refresh)
uses it, so a one-shot check is never blind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from cockpit.model import Alarm

Clock = Callable[[], datetime]
HeldState = Literal["pending", "firing", "clearing"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Held:
    """One tracked condition: ``alarm`` carries the kept ``since``; a ``clearing`` one is the
    last breach's alarm, its reason saying since when the figure has been back."""

    state: HeldState
    alarm: Alarm

    @property
    def shown(self) -> bool:
        return self.state != "pending"


@dataclass
class _Track:
    began: datetime
    last: Alarm
    firing: bool = False
    gone_since: datetime | None = None


class Damper:
    """Per-key fire/clear damping of threshold conditions (keys are the caller's)."""

    def __init__(self, hold_s: float, clock: Clock = utc_now) -> None:
        self.hold_s = max(0.0, float(hold_s))
        self.clock = clock
        self._tracks: dict[str, _Track] = {}

    def update(self, breaches: Mapping[str, Alarm]) -> dict[str, Held]:
        """``breaches``: the conditions true now, by key (an alarm's ``since``, if set, is
        when the backend saw it begin). Returns every condition still tracked."""
        now = self.clock()
        out: dict[str, Held] = {}
        for key, alarm in breaches.items():
            track = self._tracks.get(key)
            if track is None:
                began = min(alarm.since, now) if alarm.since else now
                track = self._tracks[key] = _Track(began, alarm)
            track.last, track.gone_since = alarm, None
            if not track.firing and (now - track.began).total_seconds() >= self.hold_s:
                track.firing = True
            state: HeldState = "firing" if track.firing else "pending"
            out[key] = Held(state, replace(alarm, since=track.began))
        for key in [k for k in self._tracks if k not in breaches]:
            track = self._tracks[key]
            if not track.firing:
                del self._tracks[key]  # it did not hold long enough: it never fired
                continue
            gone = track.gone_since = track.gone_since or now
            if (now - gone).total_seconds() >= self.hold_s:
                del self._tracks[key]
                continue
            back = gone.astimezone().strftime("%H:%M:%S")
            reason = f"{track.last.reason} (back within the threshold since {back}; " \
                     f"clears after {self.hold_s:g} s)"  # fmt: skip
            out[key] = Held("clearing", replace(track.last, since=track.began, reason=reason))
        return out

    def shown(self, breaches: Mapping[str, Alarm]) -> list[Alarm]:
        """``update`` and keep the alarms to report: firing, or clearing but not yet cleared."""
        return [h.alarm for h in self.update(breaches).values() if h.shown]

    def tracked(self, key: str) -> bool:
        return key in self._tracks

    def firing(self, key: str) -> bool:
        track = self._tracks.get(key)
        return track is not None and track.firing
