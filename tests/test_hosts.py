"""Hosts backend against a private sshd: rows, metrics, alarms, restarts, followed logs.

This machine runs no systemd, so the process (``ps``) path is tested for real; the systemd
path runs against a ``systemctl`` stand-in (tests named ``standin``) and its parsing against
``systemctl show`` text in the format systemd 252 prints (tests/data/systemctl_show.txt);
tests/test_hosts_systemd_real.py runs against a real systemd host when one is configured.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.actions import HOST_RUN_CHECK, SERVICE_RESTART, ActionRunner, available_actions
from cockpit.audit import AuditLog
from cockpit.backends.hosts import (
    FileLogSource,
    HostAlarmSource,
    HostServicesSource,
    HostTools,
    JournalLogSource,
    build_host_sources,
    parse_df,
    parse_journal_entry,
    parse_systemctl_show,
)
from cockpit.backends.ssh import LocalTransport
from cockpit.config import load_text
from cockpit.errors import BackendError, ConfigError
from cockpit.lab.servers import SshdServer, start_sshd
from cockpit.model import LogLevel, LogRecord, PaneKind, ServiceStatus, Severity
from cockpit.profile import HostConfig, Profile, Thresholds, UnitConfig
from tests.conftest import skip_or_fail
from tests.helpers import wait_until
from tests.test_ssh import ssh_transport

pytestmark = pytest.mark.servers

# ``systemctl show --no-pager -p SHOW_PROPERTIES -- UNITS`` in the format systemd 252
# (Debian 12) prints: Service properties before Unit ones, one blank-line-separated block
# per unit, unset values as "[not set]" (older systemd: 2^64-1).
SHOW_OUTPUT = (Path(__file__).parent / "data" / "systemctl_show.txt").read_text()

STANDIN_SYSTEMCTL = """#!/bin/sh
# A stand-in for systemctl: no systemd runs on the test machines.
here=$(dirname "$0")
case "$1" in
  show) cat "$here/show.txt" ;;
  restart) echo "$*" >> "$here/calls.log" ;;
  status) echo "* $5 - Impactlink API"; echo "   Active: active (running)"; exit 3 ;;
  *) echo "stand-in: unexpected $*" >&2; exit 1 ;;
esac
"""


def profile(*hosts: HostConfig, **thresholds: float) -> Profile:
    # hold 0: alarms as measured, on the first refresh (damping: tests/test_damping.py)
    limits = Thresholds(**{"hold": 0, **thresholds})  # type: ignore[arg-type]
    return Profile(name="t", hosts=hosts, refresh=1, timeout=8, thresholds=limits)


@pytest.fixture
def user_dir(sshd_server: SshdServer) -> Iterator[Path]:
    """A directory the throwaway ssh user can read (pytest's tmp dirs are root-only)."""
    d = sshd_server.workdir / f"t-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def standin(user_dir: Path) -> HostTools:
    script = user_dir / "systemctl"
    script.write_text(STANDIN_SYSTEMCTL)
    script.chmod(0o755)
    (user_dir / "show.txt").write_text(SHOW_OUTPUT)
    (user_dir / "calls.log").touch(mode=0o666)
    (user_dir / "calls.log").chmod(0o666)
    # Any existing directory stands for /run/systemd/system.
    return HostTools(systemctl=str(script), systemd_dir=str(user_dir))


async def build(
    server: SshdServer, cfg: HostConfig, tools: HostTools | None = None, **thresholds: float
) -> tuple[HostServicesSource, HostAlarmSource, list]:
    sources, logs = build_host_sources(
        profile(cfg, **thresholds), transports={cfg.name: ssh_transport(server, cfg.name)}, tools=tools
    )
    services, alarms = sources
    assert isinstance(services, HostServicesSource) and isinstance(alarms, HostAlarmSource)
    return services, alarms, logs


async def close_all(*sources: object) -> None:
    for s in sources:
        await s.close()  # type: ignore[attr-defined]


# --- parsing --------------------------------------------------------------------------


def test_systemctl_show_parsing() -> None:
    units = {u.name: u for u in parse_systemctl_show(SHOW_OUTPUT.splitlines(), uptime_s=65.0)}
    api = units["impactlink-api.service"]
    assert (api.active, api.sub, api.restarts, api.main_pid, api.memory) == (
        "active", "running", 2, 4242, 52428800,
    )  # fmt: skip
    assert api.since_s == pytest.approx(60.0)
    worker = units["impactlink-worker.service"]
    assert (worker.active, worker.main_pid, worker.memory, worker.since_s) == ("failed", None, None, None)
    assert units["ghost.service"].load == "not-found" and units["ghost.service"].memory is None


def test_df_parsing_skips_pseudo_file_systems() -> None:
    text = """Filesystem 1024-blocks Used Available Capacity Mounted on
devtmpfs 12334460 0 12334460 0% /dev
tmpfs 24684084 2104 24681980 1% /dev/shm
/dev/vda 264212084 23991516 82399396 23% /
/dev/vdb1 1000000 900000 100000 90% /srv/my data
model_tools 4 0 4 0% /mnt/x"""
    disks = parse_df(text.splitlines())
    assert [(d.mount, d.percent) for d in disks] == [("/", 23.0), ("/srv/my data", 90.0)]


def test_journal_entry_parsing() -> None:
    line = (
        b'{"__CURSOR":"s=abc;i=12","__REALTIME_TIMESTAMP":"1700000000000000","PRIORITY":"3",'
        b'"_SYSTEMD_UNIT":"impactlink-api.service","MESSAGE":"boom \\u001b[31mred"}'
    )
    parsed = parse_journal_entry(line, "app-1")
    assert parsed is not None
    record, cursor = parsed
    assert cursor == "s=abc;i=12" and record.id == cursor
    assert record.level is LogLevel.ERROR and record.source == "app-1/impactlink-api.service"
    assert record.text == "boom red"  # made safe in the record: colour dropped
    assert record.time.year == 2023
    binary = b'{"__CURSOR":"c","MESSAGE":[104,105]}'
    assert parse_journal_entry(binary, "h")[0].text == "hi"  # type: ignore[index]
    assert parse_journal_entry(b"-- No entries --", "h") is None


# --- rows, metrics, alarms over ssh ---------------------------------------------------


async def test_process_rows_on_a_host_without_systemd(sshd_server: SshdServer, user_dir: Path) -> None:
    pidfile = user_dir / "sshd.pid"  # the private sshd's pid, readable by the ssh user
    pidfile.write_text(f"{sshd_server.pid}\n")
    cfg = HostConfig("app-1", ssh="x", units=(
        UnitConfig("sshd", pidfile=str(pidfile)),
        UnitConfig("impactlink-api", pidfile=str(user_dir / "api.pid")),
        "impactlink-worker.service",
    ))  # fmt: skip
    services, alarms, _ = await build(sshd_server, cfg)
    try:
        rows = {r.name: r for r in await services.fetch()}
    finally:
        await close_all(services, alarms)
    host = rows["app-1"]
    assert host.backend == "host" and host.task_definition == "no systemd: processes from ps"
    assert "load" in host.deployment and "disk" in host.deployment
    assert dict(host.metrics).keys() == {"cpu", "memory"}  # sparkline history
    sshd = rows["sshd"]  # the private sshd itself, found by its pid file
    assert sshd.backend == "process" and sshd.status is Severity.OK and sshd.running == 1
    assert sshd.status_text == "running (pid file)"
    assert sshd.task_definition.startswith(f"pid {sshd_server.pid} ")
    api = rows["impactlink-api"]
    assert (api.status, api.running, api.status_text) == (
        Severity.CRITICAL, 0, f"not running: no pid in {user_dir / 'api.pid'}",
    )  # fmt: skip
    # A systemd unit where no systemd runs: not guessed from a process name.
    worker = rows["impactlink-worker"]
    assert (worker.status, worker.running) == (Severity.UNKNOWN, 0)
    assert "pidfile or cmdline" in worker.status_text
    assert all(r.source == "hosts:app-1" and r.cluster == "app-1" for r in rows.values())


async def test_metrics_match_this_machine(sshd_server: SshdServer) -> None:
    services, alarms, _ = await build(sshd_server, HostConfig("app-1", ssh="x"))
    try:
        snap = await services.host.snapshot()
        section = (await services.detail((await services.fetch())[0]))[0]
    finally:
        await close_all(services, alarms)
    df = subprocess.run(["df", "-P", "-k", "/"], capture_output=True, text=True, check=True)
    root_pct = float(df.stdout.splitlines()[1].split()[4].rstrip("%"))
    root = next(d for d in snap.disks if d.mount == "/")
    assert abs(root.percent - root_pct) <= 1
    assert snap.cpu_percent is not None and 0 <= snap.cpu_percent <= 100
    assert snap.mem_percent is not None and 0 < snap.mem_percent < 100
    assert snap.load[0] >= 0 and snap.uptime_s > 0 and snap.systemd is False
    assert dict(section.rows)["systemd"] == "no (processes from ps)"


async def test_threshold_alarms(sshd_server: SshdServer) -> None:
    services, alarms, _ = await build(sshd_server, HostConfig("app-1", ssh="x"), memory=0, disk=0)
    try:
        fired = {a.name: a for a in await alarms.fetch()}
        rows = await services.fetch()  # shares the probe: no second round trip needed
    finally:
        await close_all(services, alarms)
    assert "app-1 memory" in fired and "app-1 disk /" in fired
    mem = fired["app-1 memory"]
    assert (mem.severity, mem.state, mem.resource, mem.threshold) == (
        Severity.CRITICAL, "ALARM", "app-1", "memory > 0 %",
    )  # fmt: skip
    assert alarms.pane is PaneKind.ALARMS
    assert rows[0].status is Severity.CRITICAL and "memory" in rows[0].status_text

    quiet, quiet_alarms, _ = await build(sshd_server, HostConfig("app-1", ssh="x"), memory=99.9, disk=99.9)
    try:
        assert not [a for a in await quiet_alarms.fetch() if "cpu" not in a.name]
    finally:
        await close_all(quiet, quiet_alarms)


# --- the systemd path, against a systemctl stand-in -----------------------------------


async def test_standin_systemctl_unit_rows_and_status_detail(
    sshd_server: SshdServer, standin: HostTools
) -> None:
    cfg = HostConfig("app-1", ssh="x", units=("impactlink-api.service", "impactlink-worker.service", "ghost.service"))
    services, alarms, _ = await build(sshd_server, cfg, standin)
    try:
        rows = {r.name: r for r in await services.fetch()}
        detail = await services.detail(rows["impactlink-api.service"])
    finally:
        await close_all(services, alarms)
    assert rows["app-1"].task_definition == "systemd"
    api = rows["impactlink-api.service"]
    assert (api.backend, api.status, api.status_text, api.running, api.deployment) == (
        "systemd", Severity.OK, "active/running", 1, "restarts 2",
    )  # fmt: skip
    assert api.task_definition == "pid 4242 50.0MB" and api.created_at is not None
    worker = rows["impactlink-worker.service"]
    assert (worker.status, worker.status_text, worker.running) == (Severity.CRITICAL, "failed/failed", 0)
    assert rows["ghost.service"].status_text == "unit not found"
    assert detail[1].title == "systemctl status impactlink-api.service"
    assert "Active: active (running)" in "\n".join(detail[1].lines)


async def test_standin_systemctl_restart_through_the_action_runner(
    sshd_server: SshdServer, standin: HostTools, tmp_path: Path
) -> None:
    cfg = HostConfig("app-1", ssh="x", units=("impactlink-api.service",))
    services, alarms, _ = await build(sshd_server, cfg, standin)
    asked: list[str] = []

    async def confirm(req):  # type: ignore[no-untyped-def]
        asked.append(req.command)
        return True

    runner = ActionRunner(
        profile=profile(cfg), audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: {services.id: services}[sid], confirm=confirm,
    )  # fmt: skip
    try:
        row = next(r for r in await services.fetch() if r.backend == "systemd")
        outcome = await runner.request(SERVICE_RESTART, row)
        host_row = next(r for r in await services.fetch() if r.backend == "host")
        refused = await runner.request(SERVICE_RESTART, host_row)
    finally:
        await close_all(services, alarms)
    target = f"{sshd_server.user}@127.0.0.1"
    expected = f"ssh {target} {standin.systemctl} restart impactlink-api.service"
    assert outcome.ok, outcome.message
    assert outcome.command == expected and asked == [expected]
    assert outcome.message == "restarted impactlink-api.service on app-1"
    calls = (Path(standin.systemctl).parent / "calls.log").read_text().splitlines()
    assert calls == ["restart impactlink-api.service"]
    assert refused.status == "refused" and "not a systemd unit" in refused.message
    assert '"action": "service.restart"' in (tmp_path / "audit.jsonl").read_text()


def test_restart_command_is_the_users_ssh_command() -> None:
    for sudo_flag, expected in (
        (False, ["ssh", "app-1", "systemctl", "restart", "impactlink-api"]),
        (True, ["ssh", "app-1", "sudo", "-n", "systemctl", "restart", "impactlink-api"]),
    ):
        cfg = HostConfig("app-1", ssh="app-1", units=("impactlink-api",), sudo=sudo_flag)
        (services, _alarms), _ = build_host_sources(profile(cfg))
        row = ServiceStatus("impactlink-api", "systemd", services.id, Severity.OK, "", 1, 1, cluster="app-1")
        assert services.restart_command(row) == expected  # type: ignore[attr-defined]


async def test_standin_sudo_that_cannot_run_says_so(sshd_server: SshdServer, standin: HostTools) -> None:
    cfg = HostConfig("app-1", ssh="x", units=("impactlink-api.service",), sudo=True)
    services, alarms, _ = await build(sshd_server, cfg, standin)
    try:
        row = next(r for r in await services.fetch() if r.backend == "systemd")
        with pytest.raises(BackendError) as err:
            await services.restart(row)
    finally:
        await close_all(services, alarms)
    # No sudo on the test machine; with one, "a password is required" is reported the same way.
    assert err.value.message.startswith("systemctl restart impactlink-api.service on app-1: ")
    assert "sudo" in err.value.message


# --- host: run check -------------------------------------------------------------------


async def test_run_check_through_the_runner_shows_output_and_keeps_it_in_detail(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    cfg = HostConfig(
        "app-1", ssh="x",
        checks=(("disk", ("df", "-h", "/")), ("missing", ("ls", "/no such dir"))),
    )  # fmt: skip
    services, alarms, _ = await build(sshd_server, cfg)
    asked: list[object] = []

    async def confirm(req):  # type: ignore[no-untyped-def]
        asked.append(req)
        return False

    # Read-only: a check only reads, so it runs, unconfirmed, and is still audited.
    runner = ActionRunner(
        profile=Profile(name="t", hosts=(cfg,), read_only=True),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        resolve_backend=lambda sid: {services.id: services}[sid], confirm=confirm,
    )  # fmt: skip
    try:
        host_row = next(r for r in await services.fetch() if r.backend == "host")
        assert available_actions(host_row, services).count(HOST_RUN_CHECK) == 1
        assert HOST_RUN_CHECK.resolve_params(services, host_row, None) == {"check": "disk"}  # the first
        outcome = await runner.request(HOST_RUN_CHECK, host_row)
        failed = await runner.request(HOST_RUN_CHECK, host_row, {"check": "missing"})
        unknown = await runner.request(HOST_RUN_CHECK, host_row, {"check": "nope"})
        detail = await services.detail(host_row)
    finally:
        await close_all(services, alarms)
    target = f"{sshd_server.user}@127.0.0.1"
    assert outcome.ok, outcome.message
    assert asked == []
    assert outcome.command == f"ssh {target} df -h /"
    df = subprocess.run(["df", "-h", "/"], capture_output=True, text=True, check=True).stdout
    shown = outcome.message.splitlines()
    assert shown[0] == "check disk on app-1:"
    assert shown[1] == df.splitlines()[0] and shown[-1].split()[-1] == "/"

    # A failing check says so with its exit status and what it printed.
    assert failed.status == "failed" and "exited with status 2" in failed.message
    assert "No such file or directory" in failed.message
    # ssh joins its words for the remote shell: a word that needs quotes is quoted once more.
    ls_command = shlex.join(["ssh", target, "ls '/no such dir'"])
    assert failed.command == ls_command
    assert unknown.status == "refused" and "no check named 'nope'" in unknown.message

    by_title = {d.title.split(" (")[0]: d for d in detail}
    table = by_title["checks"]
    assert [r[:2] for r in table.rows] == [("disk", "df -h /"), ("missing", "ls '/no such dir'")]
    assert table.rows[0][2].startswith("exit 0 at ")
    disk = by_title[f"check disk: ssh {target} df -h /"]
    assert disk.lines[0].startswith("Filesystem") and disk.lines[-1].split()[-1] == "/"
    missing = by_title[f"check missing: {ls_command}"]
    assert "No such file or directory" in "\n".join(missing.lines)

    audit = AuditLog(tmp_path / "audit.jsonl").read()  # started lines folded into finished
    assert [(e["action"], e["outcome"], e["params"]["check"]) for e in audit] == [
        ("host.run_check", "ok", "disk"),
        ("host.run_check", "failed", "missing"),
        ("host.run_check", "refused", "nope"),
    ]


async def test_run_check_is_for_the_host_row_and_needs_configured_checks(
    sshd_server: SshdServer,
) -> None:
    cfg = HostConfig("app-1", ssh="x", units=("sshd",))
    services, alarms, _ = await build(sshd_server, cfg)
    try:
        rows = {r.name: r for r in await services.fetch()}
        with pytest.raises(BackendError, match="no checks configured"):
            services.run_check_command(rows["app-1"], "")
        with pytest.raises(BackendError, match="works on the host row app-1, not on sshd"):
            services.run_check_command(rows["sshd"], "disk")
        assert HOST_RUN_CHECK.resolve_params(services, rows["app-1"], None) == {"check": ""}
    finally:
        await close_all(services, alarms)


async def test_lab_host_runs_its_checks_locally(tmp_path: Path) -> None:
    from cockpit.lab import Lab

    # The lab's profile is built without starting anything: nothing here needs its servers.
    lab = Lab("http://127.0.0.1:9", None, None, {}, tmp_path)
    lab_profile = lab.profile(Profile(name="lab", lab=True))
    [cfg] = lab_profile.hosts
    assert cfg.name == "this-machine" and cfg.local
    assert [name for name, _ in cfg.checks] == ["disk", "uptime"]
    (services, alarms), _ = build_host_sources(profile(cfg))
    try:
        row = next(r for r in await services.fetch() if r.backend == "host")  # type: ignore[attr-defined]
        assert services.run_check_command(row, "disk") == ["df", "-h", "/"]  # type: ignore[attr-defined]
        text = await services.run_check(row, "uptime")  # type: ignore[attr-defined]
    finally:
        await close_all(services, alarms)
    assert text.startswith("check uptime on this-machine:\n") and "load average" in text


async def test_long_check_output_is_cut_in_the_result_and_kept_whole_in_detail() -> None:
    cfg = HostConfig("this-machine", local=True, checks=(("count", ("seq", "1", "3000")),))
    (services, alarms), _ = build_host_sources(profile(cfg))
    try:
        row = next(r for r in await services.fetch() if r.backend == "host")  # type: ignore[attr-defined]
        text = await services.run_check(row, "count")  # type: ignore[attr-defined]
        detail = await services.detail(row)  # type: ignore[attr-defined]
    finally:
        await close_all(services, alarms)
    assert len(text) < 4200 and text.endswith("more characters on the host row's detail screen)")
    [output] = [d for d in detail if d.title.startswith("check count: seq 1 3000")]
    assert output.lines == tuple(str(i) for i in range(1, 3001))


def test_check_with_metacharacters_is_refused_with_file_and_line() -> None:
    base = "profiles:\n  p:\n    hosts:\n      - name: app-1\n        ssh: app-1\n        checks:\n"
    good = load_text(base + '          disk: "df -h /"\n          api-health: curl -fsS http://localhost:8080/health\n',
                     Path("profiles.yaml"))  # fmt: skip
    assert good.profiles["p"].hosts[0].checks == (
        ("disk", ("df", "-h", "/")),
        ("api-health", ("curl", "-fsS", "http://localhost:8080/health")),
    )
    for command in ('"df -h / | tail -1"', '"echo $(id)"', '"ls /var/log/*.log"', "'cat a; rm b'"):
        with pytest.raises(ConfigError) as err:
            load_text(base + f"          disk: df\n          bad: {command}\n", Path("profiles.yaml"))
        assert err.value.message.startswith("profiles.yaml:8: profiles.p.hosts[0].checks.bad: ")
        assert "shell metacharacters" in err.value.message
    for bad_name in ("a b", "$x"):
        with pytest.raises(ConfigError, match=r"profiles.yaml:7: .*checks.*expected a name"):
            load_text(base + f'          "{bad_name}": uptime\n', Path("profiles.yaml"))
    with pytest.raises(ConfigError, match="profiles.yaml:7: .*checks.q: cannot split"):
        load_text(base + "          q: \"echo 'unclosed\"\n", Path("profiles.yaml"))
    # A profile built in code is checked too, when its host is built.
    with pytest.raises(ConfigError, match="check bad"):
        build_host_sources(profile(HostConfig("h", local=True, checks=(("bad", ("df", "/;id")),))))


# --- logs -------------------------------------------------------------------------------


class Collector:
    """Runs one ``follow()`` and keeps what it yields, and how it ended."""

    def __init__(self, source: FileLogSource | JournalLogSource) -> None:
        self.records: list[LogRecord] = []
        self.error: BaseException | None = None
        self.task = asyncio.create_task(self._run(source))

    async def _run(self, source: FileLogSource | JournalLogSource) -> None:
        try:
            async for batch in source.follow():
                self.records += batch
        except BackendError as e:
            self.error = e

    def texts(self) -> list[str]:
        return [r.text for r in self.records]

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def append(path: Path, *lines: str) -> None:
    with open(path, "a") as f:
        f.write("".join(f"{ln}\n" for ln in lines))


async def test_tail_follows_rotation_without_losing_or_repeating(
    sshd_server: SshdServer, user_dir: Path
) -> None:
    log = user_dir / "my app.log"  # a path with a space: quoted, not split
    append(log, *(f"old {i}" for i in range(150)))
    cfg = HostConfig("app-1", ssh="x", logs=(str(log),))
    services, alarms, logs = await build(sshd_server, cfg)
    (source,) = logs
    c = Collector(source)
    try:
        await wait_until(lambda: len(c.records) >= 100, 10)
        assert c.texts() == [f"old {i}" for i in range(50, 150)]  # the last 100 lines
        append(log, "new 0", "ERROR new 1")
        await wait_until(lambda: len(c.records) >= 102, 10)
        log.rename(user_dir / "my app.log.1")  # logrotate: mv, then a fresh file
        append(user_dir / "my app.log.1", "late write to the old file")
        append(log, "rotated 0", "rotated 1")
        await wait_until(lambda: "rotated 1" in c.texts(), 15)
        append(log, "rotated 2")
        await wait_until(lambda: "rotated 2" in c.texts(), 10)
    finally:
        await c.stop()
        await close_all(services, alarms, source)
    followed = [t for t in c.texts()[100:] if not t.startswith("tail: ")]
    assert len(followed) == len(set(followed))  # nothing twice
    # A write to the old file right after the mv may or may not be read before tail switches
    # (as with tail -F by hand); every line of the new file must arrive, in order.
    assert [t for t in followed if not t.startswith("late")] == [
        "new 0", "ERROR new 1", "rotated 0", "rotated 1", "rotated 2",
    ]  # fmt: skip
    assert c.records[101].level is LogLevel.ERROR
    assert c.error is None
    assert source.explain_command() == [
        "ssh", f"{sshd_server.user}@127.0.0.1", f"tail -F {shlex.quote(str(log))}",
    ]  # fmt: skip


async def test_journal_on_a_host_without_systemd_says_so(sshd_server: SshdServer) -> None:
    cfg = HostConfig("app-1", ssh="x", journal=("impactlink-api.service",))
    services, alarms, logs = await build(sshd_server, cfg)
    (source,) = logs
    c = Collector(source)
    try:
        await asyncio.wait_for(c.task, 10)
    finally:
        await close_all(services, alarms, source)
    assert isinstance(c.error, BackendError) and "runs no systemd" in c.error.message


async def test_local_host_follows_and_probes_without_ssh(tmp_path: Path) -> None:
    log = tmp_path / "local.log"
    log.write_text("one\n")
    pidfile = tmp_path / "pytest.pid"
    pidfile.write_text(str(os.getpid()))
    cfg = HostConfig("this-machine", local=True, units=(UnitConfig("pytest", pidfile=str(pidfile)),),
                     logs=(str(log),))  # fmt: skip
    (services, alarms), (source,) = build_host_sources(profile(cfg))
    assert isinstance(services.host.transport, LocalTransport)  # type: ignore[attr-defined]
    c = Collector(source)  # type: ignore[arg-type]
    try:
        rows = {r.name: r for r in await services.fetch()}  # type: ignore[attr-defined]
        await wait_until(lambda: c.texts() == ["one"], 10)
        append(log, "two")
        await wait_until(lambda: c.texts() == ["one", "two"], 10)
    finally:
        await c.stop()
        await close_all(services, alarms, source)
    assert rows["this-machine"].backend == "host"
    assert rows["pytest"].running == 1 and rows["pytest"].task_definition.startswith(f"pid {os.getpid()} ")


# --- a host that goes away and comes back ---------------------------------------------


def _kill_user_processes(user: str) -> None:
    uid = pwd.getpwnam(user).pw_uid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def own_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """An sshd of this test's own: it is stopped and started again."""
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        skip_or_fail("OpenSSH server is not installed")
    server = start_sshd(tmp_path_factory.mktemp("own-sshd"))
    yield server
    server.stop()


async def _port_state(port: int, open_: bool) -> None:
    async def probe() -> bool:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        w.close()
        return True

    deadline = asyncio.get_running_loop().time() + 10
    while (await probe()) != open_:
        assert asyncio.get_running_loop().time() < deadline, f"port {port} did not {'open' if open_ else 'close'}"
        await asyncio.sleep(0.05)


async def test_host_going_away_and_coming_back(own_sshd: SshdServer) -> None:
    home = own_sshd.workdir
    log = home / "api.log"
    append(log, "before 0")
    log.chmod(0o666)
    cfg = HostConfig("app-1", ssh="x", units=("sshd",), logs=(str(log),))
    services, alarms, logs = await build(own_sshd, cfg)
    (source,) = logs
    restarted: subprocess.Popen[bytes] | None = None
    c = Collector(source)
    try:
        assert await services.fetch()
        await wait_until(lambda: c.texts() == ["before 0"], 10)
        append(log, "before 1")
        await wait_until(lambda: c.texts() == ["before 0", "before 1"], 10)

        # The host goes away: sshd stops and its connections die.
        os.kill(own_sshd.pid, signal.SIGTERM)  # type: ignore[arg-type]
        _kill_user_processes(own_sshd.user)
        await _port_state(own_sshd.port, open_=False)
        await asyncio.wait_for(c.task, 15)
        assert isinstance(c.error, BackendError) and c.error.message.startswith("cannot reach app-1")
        await asyncio.sleep(services.host.max_age)  # let the last good probe age out
        with pytest.raises(BackendError) as err:
            await services.fetch()
        assert err.value.message.startswith("cannot reach app-1: ")
        assert "BatchMode" in err.value.hint
        down = await alarms.fetch()
        assert [a.name for a in down] == ["app-1 unreachable"]
        append(log, "during gap 0", "during gap 1")

        # It comes back on the same address: the next refresh and follow() recover.
        config = own_sshd.key_path.parent / "sshd_config"
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        restarted = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        await _port_state(own_sshd.port, open_=True)
        await asyncio.sleep(services.host.max_age)
        rows = await services.fetch()
        assert rows[0].name == "app-1" and rows[0].running == 1
        assert not [a for a in await alarms.fetch() if a.name == "app-1 unreachable"]

        c2 = Collector(source)
        await wait_until(lambda: len(c2.records) >= 3, 15)
        append(log, "after 0")
        await wait_until(lambda: "after 0" in c2.texts(), 10)
        await c2.stop()
    finally:
        await c.stop()
        await close_all(services, alarms, source)
        if restarted is not None:
            os.killpg(restarted.pid, signal.SIGTERM)
            restarted.wait(10)
    gap, *rest = c2.records
    assert gap.level is LogLevel.WARN and gap.text.startswith("connection lost ") and " – " in gap.text
    # Nothing lost, nothing repeated: the gap's lines come once, after the marker.
    assert [r.text for r in rest] == ["during gap 0", "during gap 1", "after 0"]
