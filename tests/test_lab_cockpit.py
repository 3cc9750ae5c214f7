"""The cockpit on the real embedded lab: what a user sees in the first seconds."""

from __future__ import annotations

import os

import pytest

from cockpit.app import CockpitApp
from cockpit.lab import start_lab
from cockpit.model import PaneKind
from cockpit.profile import Profile

from .helpers import wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.servers
async def test_lab_cockpit_shows_the_estate_live(postgres_server, redis_server):
    # The fixtures are requested only so that a machine without the servers fails (CI) or
    # skips here; the lab starts its own private PostgreSQL and Redis.
    labs = []

    def starter():
        labs.append(start_lab())
        return labs[-1]

    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1), start_lab=starter)
    async with app.run_test(size=(160, 48)) as pilot:
        panes = app.cockpit.panes
        services = panes[PaneKind.SERVICES]
        await wait_until(lambda: {"api", "worker"} <= {s.name for s in services.records.values()}, 30)
        api = next(s for s in services.records.values() if s.name == "api")
        assert (api.running, api.desired) == (2, 2)

        alarms = panes[PaneKind.ALARMS]
        await wait_until(lambda: any(a.state == "ALARM" for a in alarms.records.values()), 15)
        firing = [a.name for a in alarms.records.values() if a.state == "ALARM"]
        assert "api-5xx-error-rate" in firing

        queues = panes[PaneKind.QUEUES]
        await wait_until(lambda: any(q.name == "jobs" for q in queues.records.values()), 15)
        jobs = next(q for q in queues.records.values() if q.name == "jobs")
        assert jobs.dlq_name == "jobs-dlq" and jobs.dlq_depth and jobs.dlq_depth > 0
        assert jobs.depth > 0

        database = panes[PaneKind.DATABASE]
        await wait_until(lambda: any(d.backend == "postgres" and d.connections
                                     for d in database.records.values()), 20)
        await wait_until(lambda: any(d.backend == "redis" for d in database.records.values()), 20)
        await wait_until(lambda: any(q.backend == "redis" for q in queues.records.values()), 20)

        logs = app.cockpit.logs
        await wait_until(lambda: logs.view.total >= 3, 20)
        seen = logs.view.total
        await wait_until(lambda: logs.view.total > seen, 10)  # lines keep arriving

        logs.focus_body()
        await pilot.press("slash", *"worker")
        assert logs.view.lines
        assert all("worker" in (ln.text + ln.record.source) for ln in logs.view.lines)
        assert len(logs.view.lines) < logs.view.total
        await pilot.press("escape")
        assert len(logs.view.lines) == logs.view.total

        pid = labs[0].pid
        assert pid and _alive(pid)
        await pilot.press("q")
    await wait_until(lambda: not _alive(pid), 10)


async def test_api_row_carries_promql_error_rate_and_p95_from_the_lab():
    from cockpit.lab.promlab import binaries_missing

    from .conftest import skip_or_fail

    if binaries_missing():
        skip_or_fail("prometheus / prometheus-alertmanager are not installed")
    app = CockpitApp(Profile(name="lab", description="lab", lab=True, refresh=1),
                     start_lab=lambda: start_lab(with_servers=False))
    async with app.run_test(size=(160, 48)) as pilot:
        services = app.cockpit.panes[PaneKind.SERVICES]

        def api_metrics():
            api = next((s for s in services.records.values() if s.name == "api"), None)
            return dict(api.metrics) if api else {}

        await wait_until(lambda: {"error_rate", "p95_ms"} <= set(api_metrics()), 45)
        assert api_metrics()["p95_ms"][-1] > 0
        await pilot.press("q")
