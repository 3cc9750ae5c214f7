"""The ssh / local transport against a private sshd: quoting, multiplexing, failures, cleanup."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cockpit.backends.hosts import Host, HostServicesSource, build_host_sources
from cockpit.backends.ssh import LocalTransport, Pool, SshTransport, check_path, check_unit
from cockpit.errors import BackendError, ConfigError
from cockpit.hub import Hub, SourceUpdate
from cockpit.lab.servers import SshdServer, free_port
from cockpit.profile import HostConfig, Profile
from cockpit.sources import build_sources
from tests.helpers import wait_until

pytestmark = pytest.mark.servers


def ssh_options(server: SshdServer) -> list[str]:
    """What a user's ~/.ssh/config would say for this host (no config file of ours)."""
    return [
        "-F", "/dev/null", "-p", str(server.port), "-i", str(server.key_path),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
    ]  # fmt: skip


def ssh_transport(server: SshdServer, name: str = "app-1", **kw: object) -> SshTransport:
    return SshTransport(name, f"{server.user}@127.0.0.1", options=ssh_options(server), **kw)  # type: ignore[arg-type]


@pytest.fixture
async def transport(sshd_server: SshdServer) -> AsyncIterator[SshTransport]:
    t = ssh_transport(sshd_server)
    yield t
    await t.close()


def established_to(port: int) -> int:
    """TCP connections from this machine to ``port`` (client side), from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        remote, state = parts[2], parts[3]
        if int(remote.split(":")[1], 16) == port and state == "01":
            count += 1
    return count


def ssh_processes_using(path: Path) -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(path) in cmdline:
                out.append(cmdline)
    return out


async def test_runs_argv_with_quoting_intact(transport: SshTransport) -> None:
    tricky = "a b; echo INJECTED $(id) `id` 'q' \"d\""
    result = await transport.run(["printf", "%s|", tricky, "two words"])
    assert result.returncode == 0
    assert result.text == f"{tricky}|two words|"  # one argument each, nothing ran


async def test_remote_exit_status_is_returned_not_raised(transport: SshTransport) -> None:
    result = await transport.run(["sh", "-c", "echo oops >&2; exit 3"])
    assert (result.returncode, result.error_text) == (3, "oops")


async def test_control_master_is_reused_and_cleaned_up(
    transport: SshTransport, sshd_server: SshdServer
) -> None:
    before = established_to(sshd_server.port)
    await transport.run(["true"])
    assert transport.master_running()
    control_dir = transport.control_dir
    assert len(str(control_dir / ("x" * 40))) < 100  # well below the unix socket limit
    assert established_to(sshd_server.port) == before + 1
    started = time.monotonic()
    for _ in range(5):
        assert (await transport.run(["echo", "again"])).text == "again\n"
    # The later commands rode the same TCP connection: no new one, and fast.
    assert established_to(sshd_server.port) == before + 1
    assert time.monotonic() - started < 2.0
    assert ssh_processes_using(control_dir)  # the master ("ssh: ... [mux]")

    await transport.close()
    assert not control_dir.exists()
    await wait_until(lambda: not ssh_processes_using(control_dir), 5)
    await wait_until(lambda: established_to(sshd_server.port) == before, 5)
    assert not transport.master_running()


async def test_closed_port_is_reported_with_ssh_message_and_hint() -> None:
    port = free_port()
    t = SshTransport("app-9", "nobody@127.0.0.1", options=["-F", "/dev/null", "-p", str(port)])
    try:
        with pytest.raises(BackendError) as err:
            await t.run(["true"])
    finally:
        await t.close()
    assert err.value.message.startswith("cannot reach app-9: ")
    assert "Connection refused" in err.value.message
    assert "ssh nobody@127.0.0.1" in err.value.hint and "BatchMode" in err.value.hint


async def test_refused_key_says_so_instead_of_prompting(sshd_server: SshdServer, tmp_path: Path) -> None:
    # No key of ours: with BatchMode ssh gives up rather than asking for a password.
    t = SshTransport(
        "app-1", f"{sshd_server.user}@127.0.0.1",
        options=["-F", "/dev/null", "-p", str(sshd_server.port), "-i", str(tmp_path / "none"),
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"],
    )  # fmt: skip
    try:
        with pytest.raises(BackendError) as err:
            await asyncio.wait_for(t.run(["true"]), 10)
    finally:
        await t.close()
    assert "Permission denied" in err.value.message


@pytest.fixture
def silent_listener() -> tuple[socket.socket, int]:
    """A host that accepts TCP and never says a word (a hung sshd or a black-holing proxy)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s, s.getsockname()[1]
    s.close()


async def test_hanging_host_times_out_while_others_keep_refreshing(
    sshd_server: SshdServer, silent_listener: tuple[socket.socket, int]
) -> None:
    _, hang_port = silent_listener
    profile = Profile(
        name="t",
        hosts=(HostConfig("good", ssh="x"), HostConfig("stuck", ssh="y")),
        timeout=3,
        refresh=0.2,
    )
    pool = Pool(2)
    transports = {
        "good": ssh_transport(sshd_server, "good", pool=pool),
        "stuck": SshTransport(
            "stuck", "nobody@127.0.0.1", pool=pool, timeout=2.5, connect_timeout=2,
            options=["-F", "/dev/null", "-p", str(hang_port)],
        ),
    }  # fmt: skip
    sources, _ = build_host_sources(profile, pool=pool, transports=transports)
    services = [s for s in sources if isinstance(s, HostServicesSource)]
    updates: list[SourceUpdate] = []
    hub = Hub(services, on_update=updates.append, on_logs=lambda b: None, interval=0.2, timeout=3)
    hub.start()
    try:
        await wait_until(
            lambda: any(u.source_id == "hosts:stuck" and u.error for u in updates), 10
        )
        stuck_error = next(u for u in updates if u.source_id == "hosts:stuck" and u.error)
        good = [u for u in updates if u.source_id == "hosts:good" and u.records]
        # While the stuck host used up its timeout, the good one refreshed again and again.
        assert len(good) >= 3
        assert stuck_error.error is not None and stuck_error.error.startswith("cannot reach stuck: ")
    finally:
        await hub.stop()
        for src in sources:
            if src not in services:
                await src.close()
    for t in transports.values():
        assert t._dir is None  # the last source of a host closes its master


async def test_local_transport_runs_the_same_argv() -> None:
    t = LocalTransport("here")
    result = await t.run(["printf", "%s|", "a b", "$(id)"])
    assert result.text == "a b|$(id)|"
    assert t.display(["systemctl", "restart", "x"]) == ["systemctl", "restart", "x"]


def test_display_is_what_a_user_can_paste() -> None:
    t = SshTransport("app-1", "app-1")
    assert t.display(["sudo", "-n", "systemctl", "restart", "impactlink-api"]) == [
        "ssh", "app-1", "sudo", "-n", "systemctl", "restart", "impactlink-api",
    ]  # fmt: skip
    # ssh joins words with spaces, so a word with a space is quoted once more for the remote.
    assert t.display(["tail", "-F", "/var/log/my app.log"]) == [
        "ssh", "app-1", "tail -F '/var/log/my app.log'",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name", ["api; rm -rf /", "api$(id)", "my api", "api`id`", "-api", "api|x", "api>f", ""]
)
def test_unit_names_with_metacharacters_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError):
        check_unit(name)
    with pytest.raises(ConfigError):
        Host(HostConfig("h", local=True, units=(name,)), LocalTransport("h"))


def test_valid_names_and_paths_pass() -> None:
    assert check_unit("impactlink-api.service") == "impactlink-api.service"
    assert check_unit("getty@tty1.service") == "getty@tty1.service"
    assert check_path("/var/log/my app/error.log") == "/var/log/my app/error.log"
    for bad in ("/var/log/$(id)", "/x;y", "-f", "/a`b`"):
        with pytest.raises(ConfigError):
            check_path(bad)


def test_bad_host_entry_becomes_a_notice_and_others_still_build() -> None:
    profile = Profile(name="t", hosts=(HostConfig("h", local=True, units=("a;b",)),))
    built = build_sources(profile)
    notice = next(s for s in built.sources if s.id == "hosts:setup")
    assert "not allowed" in notice.message  # type: ignore[attr-defined]
    assert "hosts:pending" not in [s.id for s in built.sources]


def _strict_transport(server: SshdServer, known_hosts: Path) -> SshTransport:
    """A user's ssh with StrictHostKeyChecking=yes and their own known_hosts file."""
    return SshTransport(
        "app-1", f"{server.user}@127.0.0.1",
        options=["-F", "/dev/null", "-p", str(server.port), "-i", str(server.key_path),
                 "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"],
    )  # fmt: skip


def _hinted_command(hint: str, program: str) -> list[str]:
    """The `program ...` command the hint tells the user to type, as argv."""
    import shlex

    found = [part for part in hint.split("`")[1::2] if part.startswith(program + " ")]
    assert found, f"no `{program} ...` in the hint: {hint}"
    return shlex.split(found[0].partition(">>")[0])  # the file it appends to is ours, below


async def _failure(server: SshdServer, known_hosts: Path) -> BackendError:
    t = _strict_transport(server, known_hosts)
    try:
        with pytest.raises(BackendError) as err:
            await asyncio.wait_for(t.run(["true"]), 15)
    finally:
        await t.close()
    return err.value


async def test_unknown_host_key_hints_at_known_hosts_not_passwords(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    """Issue 22 item 5: `Host key verification failed.` came with the password-prompt hint."""
    import subprocess

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    err = await _failure(sshd_server, known_hosts)
    assert "Host key verification failed" in err.message
    assert "password" not in err.hint
    assert "known_hosts" in err.hint and "fingerprint" in err.hint
    # What the hint says to type (into our known_hosts file instead of ~/.ssh's) fixes it.
    scan = _hinted_command(err.hint, "ssh-keyscan")
    assert "-H" in scan and scan[-1] == "127.0.0.1" and str(sshd_server.port) in scan
    keys = subprocess.run(scan, capture_output=True, text=True, timeout=15, check=True).stdout
    known_hosts.write_text(keys)
    t = _strict_transport(sshd_server, known_hosts)
    try:
        assert (await t.run(["echo", "ok"])).text == "ok\n"
    finally:
        await t.close()


async def test_changed_host_key_says_so_and_how_to_remove_the_stale_one(
    sshd_server: SshdServer, tmp_path: Path
) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True, capture_output=True)  # fmt: skip
    kind, key = (tmp_path / "other.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_server.port} {kind} {key}\n")
    err = await _failure(sshd_server, known_hosts)
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in err.message
    assert "password" not in err.hint
    assert "verify" in err.hint.lower() and "SHA256:" in err.hint  # the fingerprint to check
    remove = _hinted_command(err.hint, "ssh-keygen")
    assert "-R" in remove and remove[remove.index("-R") + 1] == f"[127.0.0.1]:{sshd_server.port}"
    subprocess.run(remove, capture_output=True, timeout=15, check=True)
    assert key not in known_hosts.read_text()  # the stale key is gone: now it is just unknown
    err = await _failure(sshd_server, known_hosts)
    assert "REMOTE HOST IDENTIFICATION" not in err.message and "ssh-keyscan" in err.hint
