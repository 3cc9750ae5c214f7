"""The hosts backend against a real systemd host, when one is configured.

Set ``COCKPIT_TEST_SYSTEMD_HOST`` to an ssh target (a ``~/.ssh/config`` alias or user@host;
the user's own ssh config, agent and keys are used, in BatchMode) and optionally
``COCKPIT_TEST_SYSTEMD_UNITS`` (comma-separated, default ``systemd-journald.service``, which
runs wherever systemd does). Only reads: units, metrics, ``systemctl status`` and one
``uptime`` check; nothing is restarted. Without a host these tests skip with a plain
``pytest.skip``: CI has no systemd host, so this is not a missing private server.

These are the tests that keep ``tests/data/systemctl_show.txt`` honest: the real host's
``systemctl show`` blocks must carry the same properties the fixture does.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.backends.hosts import (
    SHOW_PROPERTIES,
    HostServicesSource,
    build_host_sources,
    parse_systemctl_show,
)
from cockpit.model import Severity
from cockpit.profile import HostConfig, Profile

TARGET = os.environ.get("COCKPIT_TEST_SYSTEMD_HOST", "")
UNITS = tuple(
    u.strip()
    for u in os.environ.get("COCKPIT_TEST_SYSTEMD_UNITS", "systemd-journald.service").split(",")
    if u.strip()
)
FIXTURE = Path(__file__).parent / "data" / "systemctl_show.txt"


def _blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return blocks


@pytest.fixture
async def services() -> AsyncIterator[HostServicesSource]:
    if not TARGET:
        pytest.skip("COCKPIT_TEST_SYSTEMD_HOST is not set: no real systemd host to test against")
    cfg = HostConfig("systemd-host", ssh=TARGET, units=UNITS, checks=(("uptime", ("uptime",)),))
    profile = Profile(name="real", hosts=(cfg,), refresh=2, timeout=20)
    (source, alarms), _ = build_host_sources(profile)
    assert isinstance(source, HostServicesSource)
    yield source
    await source.close()
    await alarms.close()


async def test_real_host_runs_systemd_and_its_units_are_rows(services: HostServicesSource) -> None:
    rows = {r.name: r for r in await services.fetch()}
    host = rows.pop("systemd-host")
    assert host.backend == "host" and host.task_definition == "systemd"
    assert rows, "no unit rows"
    for unit in UNITS:
        row = rows.get(unit) or rows[f"{unit}.service"]
        assert row.backend == "systemd" and row.cluster == "systemd-host"
        assert row.status_text != "unit not found", f"{unit} is not installed on {TARGET}"
        # journald (the default unit) runs as long as systemd does.
        if unit == "systemd-journald.service":
            assert (row.status, row.status_text, row.running) == (Severity.OK, "active/running", 1)
            assert row.task_definition.startswith("pid ") and row.created_at is not None
            assert row.deployment.startswith("restarts ")


async def test_real_host_metrics(services: HostServicesSource) -> None:
    snap = await services.host.snapshot()
    assert snap.systemd is True
    assert snap.uptime_s > 0 and snap.load[0] >= 0
    assert snap.cpu_percent is not None and 0 <= snap.cpu_percent <= 100
    assert snap.mem_percent is not None and 0 < snap.mem_percent < 100
    assert any(d.mount == "/" for d in snap.disks), [d.mount for d in snap.disks]
    assert all(0 <= d.percent <= 100 for d in snap.disks)


async def test_real_systemctl_show_has_the_fixtures_format(services: HostServicesSource) -> None:
    result = await services.host.transport.run(
        ["systemctl", "show", "--no-pager", "-p", SHOW_PROPERTIES, "--", *UNITS]
    )
    assert result.returncode == 0, result.error_text
    real = _blocks(result.text)
    assert len(real) == len(UNITS)
    fixture_keys = {frozenset(b) for b in _blocks(FIXTURE.read_text())}
    assert fixture_keys == {frozenset(SHOW_PROPERTIES.split(","))}
    # MainPID and NRestarts are service properties: a .timer or .socket has fewer.
    services_only = [b for b in real if b.get("Id", "").endswith(".service")]
    assert all(set(b) == set(SHOW_PROPERTIES.split(",")) for b in services_only), real
    uptime = float((await services.host.transport.run(["cat", "/proc/uptime"])).text.split()[0])
    parsed = parse_systemctl_show(result.text.splitlines(), uptime)
    assert {u.name for u in parsed} == {b["Id"] for b in real}


async def test_real_unit_status_detail_and_a_check(services: HostServicesSource) -> None:
    rows = await services.fetch()
    unit_row = next(r for r in rows if r.backend == "systemd")
    host_row = next(r for r in rows if r.backend == "host")
    detail = await services.detail(unit_row)
    assert detail[1].title == f"systemctl status {unit_row.name}"
    assert any("Active:" in line for line in detail[1].lines)
    text = await services.run_check(host_row, "uptime")
    assert "load average" in text
    assert services.run_check_command(host_row, "uptime") == ["ssh", TARGET, "uptime"]
