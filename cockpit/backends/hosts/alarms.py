"""A host's Alarms source: threshold alarms (CPU, memory, disk per mount), damped so a figure
hovering around its limit is one alarm, and "unreachable" at once.
"""

from __future__ import annotations

from datetime import datetime

from cockpit.backends.hosts.host import Host
from cockpit.backends.hosts.rows import ThresholdOverrides, metric_breaches
from cockpit.damping import Clock, Damper, utc_now
from cockpit.errors import CockpitError
from cockpit.model import (
    Alarm,
    PaneKind,
    Severity,
)
from cockpit.profile import Thresholds


class HostAlarmSource:
    """Threshold alarms of one host (CPU, memory, disk per mount) and "unreachable".

    Threshold alarms are damped (``thresholds.hold``, cockpit/damping.py): a CPU hovering
    around its limit is one alarm, not a fire/clear pair on every refresh.
    """

    pane = PaneKind.ALARMS

    def __init__(
        self,
        host: Host,
        thresholds: Thresholds,
        clock: Clock = utc_now,
        *,
        overrides: ThresholdOverrides | None = None,
    ) -> None:
        self.host = host
        self.thresholds = thresholds
        self.overrides = overrides or ThresholdOverrides()  # shared with the services source
        self.id = f"hosts:{host.name}:alarms"
        self.title = f"host {host.name}"
        self.damper = Damper(thresholds.hold, clock)
        self._undamped = Damper(0, clock)
        self._unreachable_since: datetime | None = None
        host.acquire()

    async def fetch(self) -> list[Alarm]:
        try:
            snap = await self.host.snapshot()
        except CockpitError as e:
            # An unreachable host is itself the alarm an on-call wants to see, at once.
            self._unreachable_since = self._unreachable_since or self.damper.clock()
            return [
                Alarm(
                    name=f"{self.host.name} unreachable",
                    source=self.id,
                    severity=Severity.CRITICAL,
                    state="ALARM",
                    reason=e.message,
                    since=self._unreachable_since,
                    resource=self.host.name,
                    threshold="reachable over ssh",
                )
            ]
        self._unreachable_since = None
        overrides = self.overrides.current()
        breaches = {
            metric: Alarm(
                name=f"{self.host.name} {metric}",
                source=self.id,
                severity=Severity.CRITICAL,
                state="ALARM",
                reason=f"{metric} at {value:.0f} % (above {limit:g} %)",
                resource=self.host.name,
                threshold=f"{metric} > {limit:g} %",
            )
            for metric, value, limit in metric_breaches(snap, self.thresholds, overrides)
        }
        # A threshold lowered at run time (a drill) makes a deliberate condition, not a noisy
        # figure: it fires and clears on the next refresh.
        return self.damper.shown({k: v for k, v in breaches.items() if k not in overrides}) \
            + self._undamped.shown({k: v for k, v in breaches.items() if k in overrides})

    async def close(self) -> None:
        await self.host.release()
