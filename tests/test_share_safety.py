"""Sharing without handing things to other local users: tokens never in process arguments,
a runtime directory only we own, no file removed that is not our socket, and watchers that
cannot write into the operator's audit log."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cockpit import cli
from cockpit.app import CockpitApp
from cockpit.errors import CockpitError
from cockpit.model import PaneKind
from cockpit.profile import Profile
from cockpit.share import ShareServer, Target, parse_target, runtime_dir, watch
from cockpit.stream import StreamEncoder

from .fakes import FakeEstate
from .helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmp_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No XDG_RUNTIME_DIR: the fallback under the temp dir, here a test's own."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path / f"cockpit-{os.getuid()}"


# --- the runtime directory ---------------------------------------------------------------


def test_the_runtime_dir_is_made_0700_and_refused_unless_ours_and_0700(tmp_runtime: Path) -> None:
    assert runtime_dir() == tmp_runtime
    assert stat.S_IMODE(tmp_runtime.stat().st_mode) == 0o700
    tmp_runtime.chmod(0o755)  # planted, or loosened: others may have put a fake driver in it
    with pytest.raises(CockpitError, match=r"mode 0755"):
        runtime_dir()
    assert stat.S_IMODE(tmp_runtime.stat().st_mode) == 0o755  # refused, not "repaired"
    tmp_runtime.rmdir()
    real = tmp_runtime.with_name("elsewhere")
    real.mkdir(mode=0o700)
    tmp_runtime.symlink_to(real)
    with pytest.raises(CockpitError, match="not a directory"):
        runtime_dir()


@pytest.mark.skipif(os.getuid() != 0, reason="making a directory another user's needs root")
def test_a_runtime_dir_owned_by_another_user_is_refused(tmp_runtime: Path) -> None:
    tmp_runtime.mkdir(mode=0o700)
    os.chown(tmp_runtime, 65534, 65534)
    with pytest.raises(CockpitError, match="owned by uid 65534"):
        runtime_dir()


# --- the socket path ---------------------------------------------------------------------


async def test_share_never_removes_what_is_not_its_own_socket(tmp_path: Path) -> None:
    enc = StreamEncoder("lab")
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(CockpitError, match="not a socket"):
        await ShareServer(Target("unix", precious), enc.full_state).start()
    assert precious.read_text() == "keep me"

    sock = tmp_path / "s.sock"
    first = ShareServer(Target("unix", sock), enc.full_state)
    await first.start()
    with pytest.raises(CockpitError, match="already sharing"):  # a live driver is left alone
        await ShareServer(Target("unix", sock), enc.full_state).start()
    assert (await anext(watch(Target("unix", sock))))["kind"] == "hello"
    await first.stop()
    assert not sock.exists()

    stale = socket.socket(socket.AF_UNIX)  # a driver that died: its socket stays behind
    stale.bind(str(sock))
    stale.close()
    second = ShareServer(Target("unix", sock), enc.full_state)
    await second.start()
    assert (await anext(watch(Target("unix", sock))))["kind"] == "hello"
    sock.unlink()
    sock.write_text("someone else's now")  # replaced while we ran: not ours to remove
    await second.stop()
    assert sock.read_text() == "someone else's now"


# --- tokens ------------------------------------------------------------------------------


def test_the_watchers_command_carries_no_token(tmp_runtime: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = cli._share_target("tcp://127.0.0.1:7070", "lab")
    err = capsys.readouterr().err
    assert "token=" not in err and "token=" not in str(address)
    token_file = tmp_runtime / "share-tcp-7070.token"
    assert f"cockpit attach tcp://127.0.0.1:7070 --token-file {token_file}" in err
    with pytest.raises(CockpitError, match="ps"):
        parse_target("tcp://127.0.0.1:7070?token=s3cret")  # argv is readable by every local user


async def test_a_tcp_token_travels_in_a_0600_file_or_the_environment(
    tmp_runtime: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.share import watcher_token

    enc = StreamEncoder("lab")
    server = ShareServer(parse_target("tcp://127.0.0.1:0"), enc.full_state)
    await server.start()
    port = server.target.port
    token_file = tmp_runtime / f"share-tcp-{port}.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == server.target.token
    # the same user finds it; another is given it in a file of theirs or the environment
    target = parse_target(f"tcp://127.0.0.1:{port}")
    target.token = watcher_token(target)
    assert (await anext(watch(target)))["kind"] == "hello"
    theirs = tmp_path / "token"
    theirs.write_text(server.target.token + "\n")
    theirs.chmod(0o644)
    with pytest.raises(CockpitError, match="chmod 600"):
        watcher_token(target, str(theirs))
    theirs.chmod(0o600)
    assert watcher_token(target, str(theirs)) == server.target.token
    monkeypatch.setenv("COCKPIT_SHARE_TOKEN", "wrong")
    target.token = watcher_token(target)
    assert (await anext(watch(target)))["kind"] == "refused"
    await server.stop()
    assert not token_file.exists()


def _tree_cmdlines(pid: int) -> dict[int, str]:
    """The command lines of ``pid`` and all its descendants (serve's server has a session of its own)."""
    out: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            out[p] = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def test_cockpit_serve_keeps_tokens_out_of_process_arguments(tmp_path: Path) -> None:
    from cockpit.lab.servers import free_port

    port = free_port()
    env = {**os.environ, "COCKPIT_SERVE_TOKEN": "serve-t0ken-123", "COCKPIT_SHARE_TOKEN": "drv-t0ken-456"}
    proc = subprocess.Popen([sys.executable, "-m", "cockpit.cli", "serve", "tcp://127.0.0.1:9", "--port", str(port)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=ROOT)
    try:
        assert proc.stderr is not None
        printed = proc.stderr.readline().decode()
        token = re.search(r"\?token=(\S+)", printed)
        assert token, printed
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not listen"
                time.sleep(0.05)
        cmdlines = _tree_cmdlines(proc.pid)
        assert len(cmdlines) >= 2  # serve and its server process
        for secret in (token.group(1), "serve-t0ken-123", "drv-t0ken-456"):
            assert not [c for c in cmdlines.values() if secret in c], (secret, cmdlines)
        assert token.group(1) == "serve-t0ken-123"  # the visitors' token came by the environment
        server = next(pid for pid in cmdlines if pid != proc.pid)
        # the driver's token reaches each visitor's `cockpit attach` by the environment too
        assert b"COCKPIT_SHARE_TOKEN=drv-t0ken-456\0" in Path(f"/proc/{server}/environ").read_bytes()
        from cockpit.serve import serve_command

        assert "token" not in serve_command("tcp://127.0.0.1:9")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    refused = subprocess.run([sys.executable, "-m", "cockpit.cli", "serve", "--token", "t0ken"],
                             capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert refused.returncode == 2 and "COCKPIT_SERVE_TOKEN" in refused.stderr


# --- watchers and the audit --------------------------------------------------------------


async def test_a_watcher_cannot_write_notes_into_the_operators_audit(tmp_path: Path, _private_state: Path) -> None:
    from screens.incident import IncidentStartScreen
    from screens.replay import attach_feed

    estate = FakeEstate()
    sock = str(tmp_path / "drv.sock")
    driver = CockpitApp(Profile(name="lab", refresh=0.2), sources_factory=estate.factory, share=sock)
    watcher = CockpitApp(Profile(name="watcher", read_only=True), read_only=True,
                         feed=attach_feed(parse_target(sock)))
    audit = _private_state / "cockpit" / "audit.jsonl"
    async with driver.run_test(size=(160, 48)):
        await wait_until(lambda: driver.share_server is not None, 5)
        async with watcher.run_test(size=(160, 48)) as pilot:
            await wait_until(lambda: watcher.cockpit.panes[PaneKind.SERVICES].row_count() == 2, 10)
            said: list[str] = []
            real_notify = watcher.notify

            def notify(message: str, **kw: object) -> None:
                said.append(str(message))
                real_notify(message, **kw)  # type: ignore[arg-type]

            watcher.notify = notify  # type: ignore[method-assign]
            watcher.action_incident_start()
            await wait_until(lambda: isinstance(watcher.screen, IncidentStartScreen)
                             or any("watcher" in m for m in said), 5)
            if isinstance(watcher.screen, IncidentStartScreen):
                await pilot.press(*"fake outage", "enter")
                await wait_until(lambda: watcher.cockpit.incident_banner.incident is not None, 5)
            watcher.action_incident_resolve()
            await pilot.pause()
            notes = [json.loads(x) for x in audit.read_text().splitlines()] if audit.exists() else []
            assert not [n for n in notes if n.get("type") == "note"], notes
            assert not isinstance(watcher.screen, IncidentStartScreen)
