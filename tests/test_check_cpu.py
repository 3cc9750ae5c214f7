"""`cockpit check` measures a host's CPU over a window of its own, after every other source
has answered, so its own start-up (SDK imports, connects, a busy source) is not reported as
the host's load; and it reports what it measured (no damping: one refresh is not blind)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import cockpit.backends.hosts as hosts
import cockpit.sources
from cockpit.backends.hosts import PROBE_SCRIPT
from cockpit.backends.ssh import LocalTransport, Result
from cockpit.check import Finding, findings_for, run_check
from cockpit.model import PaneKind, ServiceStatus, Severity
from cockpit.profile import HostConfig, Profile, Thresholds


class Probes(LocalTransport):
    """This machine, noting when each probe starts and the CPU window it asks for."""

    started: list[tuple[float, float]] = []  # (monotonic start, window s)

    async def run(self, command: Sequence[str], *, timeout: float | None = None) -> Result:
        if len(command) > 6 and command[2] == PROBE_SCRIPT:
            Probes.started.append((time.monotonic(), float(command[6])))
        return await super().run(command, timeout=timeout)


class Busy:
    """A source whose refresh keeps both cores busy for a while, as the check's own
    start-up did (the lab, boto3 and kubernetes imports, connects)."""

    id, title, pane = "busy", "busy source", PaneKind.QUEUES
    ended = 0.0

    async def fetch(self) -> list[Any]:
        import asyncio

        stop = time.monotonic() + 1.5

        def spin() -> None:
            while time.monotonic() < stop:
                pass

        threads = [threading.Thread(target=spin) for _ in range(2)]
        for t in threads:
            t.start()
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        Busy.ended = time.monotonic()
        return []

    async def close(self) -> None:
        pass


async def test_check_measures_host_cpu_after_the_other_sources_and_reports_it_undamped(monkeypatch) -> None:
    Probes.started = []
    monkeypatch.setattr(hosts, "make_transport", lambda cfg, pool, timeout: Probes(cfg.name, pool=pool, timeout=timeout))
    build = cockpit.sources.build_sources

    def with_busy(profile: Profile, notes: dict[str, str] | None = None) -> Any:
        built = build(profile, notes)
        built.sources.append(Busy())
        return built

    monkeypatch.setattr(cockpit.sources, "build_sources", with_busy)
    # memory 0: always above; hold 60 s would hide it from a one-refresh check
    profile = Profile(name="t", hosts=(HostConfig("local-box", local=True),), timeout=20,
                      thresholds=Thresholds(memory=0, hold=60))  # fmt: skip
    report = await run_check(profile)

    assert "busy" in report.checked and not report.unchecked
    assert any(f.name == "local-box memory" for f in report.problems())  # not blind
    # Every probe began once the busy source was done, and measured CPU over a window of
    # its own (vmstat 1 2's second line), not over the check's busy start.
    assert Probes.started and all(start >= Busy.ended for start, _ in Probes.started)
    assert Probes.started[0][1] >= 1.0
    # The figure is printed, to compare with vmstat.
    assert [f.kind for f in report.findings if f.name == "local-box" and " cpu " in f.text] == ["service"]


def test_a_calm_hosts_figures_are_printed() -> None:
    row = ServiceStatus("box", "host", "hosts:box", Severity.OK, "up", 1, 1,
                        deployment="load 0.10 cpu 3% mem 40% disk 55% /")  # fmt: skip
    assert findings_for(row) == [Finding(Severity.OK, "host", "box", row.deployment, "hosts:box")]


async def test_the_measured_cpu_is_vmstats_over_the_same_second() -> None:
    import asyncio
    import shutil

    import pytest

    if shutil.which("vmstat") is None:
        pytest.skip("vmstat (procps) is not installed")
    (services, alarms), _ = hosts.build_host_sources(Profile(name="t", hosts=(HostConfig("box", local=True),)))
    try:
        vmstat = await asyncio.create_subprocess_exec("vmstat", "1", "2", stdout=asyncio.subprocess.PIPE)
        snap = await services.host.measure(1.0)  # type: ignore[attr-defined]
        out, _ = await vmstat.communicate()
    finally:
        await services.close()
        await alarms.close()
    fields = out.decode().splitlines()[-1].split()
    busy = 100 - int(fields[14]) - int(fields[15])  # not idle, not waiting for I/O
    assert snap.cpu_percent is not None and abs(snap.cpu_percent - busy) <= 20, (snap.cpu_percent, busy)
