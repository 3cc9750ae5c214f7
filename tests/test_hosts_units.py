"""Units on hosts without systemd are found by the rule the profile states (a pid file or the
exact command line), never by a bare process name (issue 22 item 2: `redis-server 1/1 running`
was another user's server while the profile's own one was dead).

This machine runs no systemd, so these run real processes through the local transport.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.backends.hosts import HostServicesSource, build_host_sources
from cockpit.config import load_text
from cockpit.errors import ConfigError
from cockpit.model import ServiceStatus, Severity
from cockpit.profile import HostConfig, Profile, Thresholds

SLEEPER = """#!/bin/sh
# a service the way an init script starts one: in the background, its pid in a file
sleep "$2" &
echo $! > "$1"
wait
"""


def _other_user() -> dict[str, object]:
    """Popen arguments that run a process as someone else (when we may), like a second user's."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)


def _start(procs: list[subprocess.Popen[bytes]], argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    procs.append(p)
    return p


def _wait_for_pid(path: Path, proc: subprocess.Popen[bytes]) -> int:
    import time

    deadline = time.monotonic() + 10
    while True:
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit() and Path(f"/proc/{text}").exists():
            return int(text)
        assert proc.poll() is None, "the sleeper script exited"
        assert time.monotonic() < deadline, f"no pid in {path}"
        time.sleep(0.02)


async def _rows(cfg: HostConfig) -> dict[str, ServiceStatus]:
    profile = Profile(name="t", hosts=(cfg,), refresh=1, timeout=8, thresholds=Thresholds())
    (services, alarms), _ = build_host_sources(profile)
    assert isinstance(services, HostServicesSource)
    try:
        return {r.name: r for r in await services.fetch()}
    finally:
        await services.close()
        await alarms.close()  # type: ignore[attr-defined]


def _host(text: str, tmp_path: Path) -> HostConfig:
    yaml = f"profiles:\n  p:\n    hosts:\n      - name: this-machine\n        local: true\n{text}"
    return load_text(yaml, tmp_path / "profiles.yaml").profiles["p"].hosts[0]


async def test_a_bare_name_without_systemd_is_not_matched_by_name(
    procs: list[subprocess.Popen[bytes]],
) -> None:
    """The issue: a same-named process of someone else made the profile's unit look running."""
    _start(procs, ["sleep", "3001"], **_other_user())
    rows = await _rows(HostConfig("this-machine", local=True, units=("sleep",)))
    row = rows["sleep"]
    assert row.running == 0 and row.status is not Severity.OK
    assert "pidfile" in row.status_text and "cmdline" in row.status_text  # says how to fix it


async def test_pidfile_and_cmdline_rules_match_only_the_profiles_own_process(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    script = tmp_path / "sleeper.sh"
    script.write_text(SLEEPER)
    script.chmod(0o755)
    pidfile = tmp_path / "sleeper.pid"
    own = _start(procs, [str(script), str(pidfile), "3002"])
    own_pid = _wait_for_pid(pidfile, own)
    own_cmd = _start(procs, ["sleep", "3003"])
    # Another user's processes: the same name, and for the pid file rule the same command line.
    _start(procs, ["sleep", "3002"], **_other_user())
    _start(procs, ["sleep", "30030"], **_other_user())
    cfg = _host(
        "        units:\n"
        f"          - {{name: sleeper, pidfile: {pidfile}}}\n"
        "          - {name: sleeper-cmd, cmdline: sleep 3003}\n",
        tmp_path,
    )
    rows = await _rows(cfg)
    for name, pid in (("sleeper", own_pid), ("sleeper-cmd", own_cmd.pid)):
        row = rows[name]
        assert (row.status, row.running, row.backend) == (Severity.OK, 1, "process"), row
        assert row.status_text.startswith("running") and row.deployment == "1 process"
        assert row.task_definition.startswith(f"pid {pid} "), row.task_definition

    os.kill(own_pid, signal.SIGKILL)
    own.wait(10)
    os.killpg(own_cmd.pid, signal.SIGKILL)
    own_cmd.wait(10)
    rows = await _rows(cfg)
    for name in ("sleeper", "sleeper-cmd"):
        row = rows[name]
        assert (row.status, row.running) == (Severity.CRITICAL, 0), row
        assert row.status_text.startswith("not running")
    assert str(own_pid) in rows["sleeper"].status_text  # the stale pid file's pid is gone


def test_unit_items_are_strings_or_rules(tmp_path: Path) -> None:
    cfg = _host("        units: [api, {name: redis, pidfile: /run/redis/redis.pid},"
                " {name: worker, cmdline: /usr/bin/python3 -m worker --queue jobs}]\n", tmp_path)
    api, redis, worker = cfg.units
    assert api == "api"  # a systemd unit, as before
    assert (redis.name, redis.pidfile, redis.cmdline) == ("redis", "/run/redis/redis.pid", None)  # type: ignore[union-attr]
    assert worker.cmdline == "/usr/bin/python3 -m worker --queue jobs"  # type: ignore[union-attr]
    for item, message in (
        ("{name: redis}", "pidfile or cmdline"),
        ("{name: redis, pidfile: run/redis.pid}", "absolute"),
        ("{name: redis, pidfile: /run/$(id).pid}", "metacharacters"),
        ("{name: 'a b', cmdline: x}", "space"),
        ("{name: redis, cmdline: ''}", "empty"),
        ("{name: redis, pidfle: /x}", "did you mean 'pidfile'"),
    ):
        with pytest.raises(ConfigError) as err:
            _host(f"        units: [{item}]\n", tmp_path)
        assert "hosts[0].units[0]" in err.value.message, err.value.message
        assert message in f"{err.value.message} {err.value.hint}", err.value.message
