"""HTTP health checks (``health:`` in the profile) -> one ``Alarm`` row per check.

All checks of a refresh run concurrently, each bounded by its own ``timeout``, so one hung
endpoint delays nothing else. A check is OK when it answers ``expect_status`` within the
profile's ``thresholds.p95_ms``; slower is a warning; a wrong status, a timeout or no
connection is critical. The row carries status, latency and the start of the body.

A failing check is damped (``thresholds.hold``, cockpit/damping.py): until it has failed
for that long its row stays OK and says so; once firing it stays until the check has passed
for as long, and says since when it has been failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

from cockpit.backends.httpclient import HttpClient, HttpConnectError, HttpRequestError, HttpTimeout
from cockpit.damping import Clock, Damper, utc_now
from cockpit.model import Alarm, PaneKind, Severity
from cockpit.profile import HealthCheck, Profile

BODY_EXCERPT = 200
GRACE_S = 0.5  # on top of a check's own timeout, for a server that trickles bytes


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:BODY_EXCERPT] + ("…" if len(flat) > BODY_EXCERPT else "")


def _coarse_ms(ms: float) -> str:
    """Latency to two significant figures: a reason that changes on every refresh by a
    millisecond repaints its row each time for nothing a reader would act on."""
    if ms < 10:
        return "<10 ms"
    digits = len(str(int(ms))) - 2
    return f"{round(ms, -digits):.0f} ms"


class HealthSource:
    # Load balancers probe every 10-30 s; asking more often only finds the same answer.
    min_interval = 10.0
    pane = PaneKind.ALARMS

    def __init__(
        self, checks: Sequence[HealthCheck], slow_ms: float, hold_s: float = 0,
        clock: Clock = utc_now,
    ) -> None:
        self.checks = tuple(checks)
        self.damper = Damper(hold_s, clock)
        self.slow_ms = slow_ms
        self.id = "health"
        self.title = "health checks"
        self._client: HttpClient | None = None

    def _http(self) -> HttpClient:
        if self._client is None:
            # Timeouts are per request (each check's own); no redirects: a health URL that
            # redirects to a login page is a finding, not a pass.
            self._client = HttpClient()
        return self._client

    async def fetch(self) -> list[Alarm]:
        rows = await asyncio.gather(*(self.check(c) for c in self.checks))
        held = self.damper.update({r.name: r for r in rows if r.severity is not Severity.OK})
        out = []
        for r in rows:
            h = held.get(r.name)
            if h is None:
                out.append(r)
            elif h.state == "pending":
                # Failing, not yet for long enough to fire: the row stays OK (one failed probe
                # is not an incident line) but does not hide what it saw.
                waited = (self.damper.clock() - h.alarm.since).total_seconds() if h.alarm.since else 0
                out.append(replace(r, severity=Severity.OK, state="OK", since=h.alarm.since,
                                   reason=f"{r.state} for {waited:.0f} s (an alarm after "
                                   f"{self.damper.hold_s:g} s): {r.reason}"))  # fmt: skip
            else:
                out.append(h.alarm)
        return out

    async def check(self, c: HealthCheck) -> Alarm:
        started = time.monotonic()
        threshold = f"HTTP {c.expect_status} within {self.slow_ms:.0f} ms (timeout {c.timeout:g} s)"

        def row(severity: Severity, state: str, reason: str) -> Alarm:
            return Alarm(
                name=f"health {c.name}",
                source=self.id,
                severity=severity,
                state=state,
                reason=reason,
                resource=c.url,
                threshold=threshold,
            )

        try:
            resp = await asyncio.wait_for(
                self._http().request("GET", c.url, timeout=c.timeout), c.timeout + GRACE_S
            )
        except (TimeoutError, HttpTimeout):
            return row(Severity.CRITICAL, "TIMEOUT", f"no answer from {c.url} in {c.timeout:g} s")
        except (HttpConnectError, HttpRequestError) as e:
            detail = str(e) or type(e).__name__
            return row(Severity.CRITICAL, "DOWN", f"cannot reach {c.url}: {detail}")
        ms = (time.monotonic() - started) * 1000
        body = _excerpt(resp.text)
        said = f"HTTP {resp.status_code} in {_coarse_ms(ms)}" + (f": {body}" if body else "")
        if resp.status_code != c.expect_status:
            return row(
                Severity.CRITICAL,
                f"HTTP {resp.status_code}",
                f"{said} (expected {c.expect_status})",
            )
        if ms > self.slow_ms:
            return row(Severity.WARNING, "SLOW", f"{said} (slower than {self.slow_ms:.0f} ms)")
        return row(Severity.OK, "OK", said)

    def explain_command(self) -> list[str]:
        c = self.checks[0] if self.checks else None
        if c is None:
            return []
        return ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}s\\n",
                "--max-time", f"{c.timeout:g}", c.url]  # fmt: skip

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def build_health_sources(profile: Profile) -> list[HealthSource]:
    """One source for all the profile's checks; none without ``health:``."""
    if not profile.health:
        return []
    return [HealthSource(profile.health, profile.thresholds.p95_ms, profile.thresholds.hold)]
