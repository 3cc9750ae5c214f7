"""A shell on a row, for real: the cockpit in a pty, `x` on a host, PostgreSQL and Redis.

One cockpit run against the private sshd, PostgreSQL and Redis of tests/fixtures: for each
row, `x`, the confirmation (its argv), the real client (ssh, psql, redis-cli) answering a
command typed into it, `exit`, and then the cockpit's screen must be the one before `x` and
equal a full repaint of its state (the integrity oracle, tests/oracle.py). The emulator has
no alternate screen, so whatever the shell printed is still in its cells unless the cockpit
repainted every one of them on resume. The terminal modes the cockpit gives up and takes
back (alternate screen, mouse, bracketed paste) are read from the emulator's modes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.lab.servers import SshdServer
from tests.oracle import OracleTerminal, cockpit_argv, cockpit_env
from tests.test_integrity import focus

pytestmark = pytest.mark.servers

RIGHT, ENTER, ESC, DOWN, HOME = b"\x1b[C", b"\r", b"\x1b", b"\x1b[B", b"\x1b[H"
SECRET = "pw-never-in-argv-7d1"
ALT_SCREEN, MOUSE, PASTE, CURSOR_KEYS = (m << 5 for m in (1049, 1000, 2004, 1))  # pyte's private modes
TAKEN = {ALT_SCREEN, MOUSE, PASTE}  # what the cockpit sets, gives up to a shell, and takes back


@pytest.fixture
def cockpit(tmp_path: Path, sshd_server: SshdServer, postgres_dsn: str, redis_url: str) -> Iterator[OracleTerminal]:
    # What a user's ~/.ssh/config says for the host, given to the real ssh by a wrapper (ssh
    # reads the passwd entry's home, not $HOME, so the test cannot use ~/.ssh/config itself).
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        f"Host app-1\n  HostName 127.0.0.1\n  Port {sshd_server.port}\n  User {sshd_server.user}\n"
        f"  IdentityFile {sshd_server.key_path}\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {ssh_config} "$@"\n')
    (bin_dir / "ssh").chmod(0o755)
    config = tmp_path / "profiles.yaml"
    # refresh 600: no refresh between the screen before `x` and the one after the shell.
    config.write_text(
        "default: t\nprofiles:\n  t:\n    refresh: 600\n    timeout: 20\n"
        "    hosts:\n      - {name: app-1, ssh: app-1}\n"
        "    databases:\n      - {name: main, dsn: 'env:T_PG_DSN'}\n"
        "    redis:\n      - {name: cache, url: 'env:T_REDIS_URL'}\n"
    )
    env = cockpit_env(tmp_path)
    # Trust authentication ignores the password, but psql must still get it from the env.
    env["T_PG_DSN"] = postgres_dsn.replace("postgres@", f"postgres:{SECRET}@", 1)
    env["T_REDIS_URL"] = redis_url
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    term = OracleTerminal(cockpit_argv(config, "t"), env, 160, 48)
    try:
        term.wait_for(lambda s: "app-1" in s and "main" in s and "cache" in s and "loading" not in s,
                      60, "every row")
        yield term
    finally:
        term.close()


def _argv_of_processes_with(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in argv:
                found.append(argv)
    return found


def _prompt_after_ctrl_c(text: str, prompt: str) -> bool:
    lines = text.splitlines()
    return any("^C" in line and prompt in after for line, after in zip(lines, lines[1:], strict=False))


def select_row(term: OracleTerminal, pane: str, row: str, rows: list[str]) -> None:
    """Focus ``pane`` and put its cursor on ``row`` (``rows``: the pane's rows, any order)."""
    focus(term, pane)
    term.send(HOME)
    text = term.text()
    order = sorted(rows, key=lambda name: text.find(f"   {name} "))
    term.send(DOWN * order.index(row))
    term.check(f"{row} selected in {pane}")


def open_shell(term: OracleTerminal, wanted: str) -> None:
    """`x` on the selected row; its confirmation must show ``wanted``; then Confirm."""
    term.send(b"x")
    term.wait_for(lambda s: "Confirm shell: open" in s and wanted in s, 15, f"the confirmation of {wanted}")
    term.send(RIGHT)  # from Cancel (the default) onto Confirm
    term.send(ENTER)


def shell_session(term: OracleTerminal, row: tuple[str, str, list[str]], wanted: str, ready: str, command: bytes,
                  answer: str, leave: bytes, interrupt: bytes = b"") -> None:
    pane, name, rows = row
    select_row(term, pane, name, rows)
    before = term.text()
    assert TAKEN <= term.screen.mode
    open_shell(term, wanted)
    term.wait_for(lambda s: ready in s, 30, f"{wanted} ready")
    # (Not paste mode: readline in psql and redis-cli turns bracketed paste on for itself.)
    off = {ALT_SCREEN, MOUSE} | ({PASTE} if wanted.startswith("ssh") else set())
    assert not off & term.screen.mode, "the shell got the cockpit's alternate screen, mouse or paste mode"
    if interrupt:
        term.send(interrupt)
        term.wait_for(lambda s: _prompt_after_ctrl_c(s, ready), 30, f"{wanted} ready again after Ctrl+C")
    term.send(command)
    term.wait_for(lambda s: answer in s, 30, f"{answer!r} from {wanted}")
    assert not _argv_of_processes_with(SECRET), "a password is in a process's arguments"
    term.send(leave)
    deadline = time.monotonic() + 30
    while term.text() != before:
        if time.monotonic() > deadline or not term.pump(0.05):
            raise AssertionError(f"the screen after {wanted} is not the one before:\n{term.text()}"
                                 f"\n--- before ---\n{before}")
    term.check(f"{pane} after {wanted} exited")
    assert TAKEN <= term.screen.mode, f"modes not taken back after {wanted}"
    # What a child may leave on (here the ssh session's last printf) is put back.
    assert CURSOR_KEYS not in term.screen.mode and term.screen.margins is None


def test_x_opens_ssh_psql_and_redis_cli_and_the_cockpit_comes_back_whole(cockpit, tmp_path):
    term = cockpit
    dbs = ["main", "cache"]
    shell_session(term, ("Services", "app-1", ["app-1"]), "ssh app-1", "$ ", b"echo shell-$((6*7))-ok\r",
                  "shell-42-ok",
                  b"printf '\\033[?1h\\033[5;10r\\033[?2004l'; exit\r")  # leaves cursor keys, margins on
    # Ctrl+C first: it reaches the cockpit too (one process group), which must let psql have it.
    shell_session(term, ("Database", "main", dbs), "psql ", "=#", b"select 'pg' || 6*7 as probe;\r", "pg42",
                  b"\\q\r", interrupt=b"select 'half typed\x03")
    shell_session(term, ("Database", "cache", dbs), "redis-cli ", "> ", b"PING\r", "PONG", b"exit\r")
    # Each shell: a started and a finished line, with the exit status; no password anywhere.
    import json

    audit = tmp_path / "state" / "cockpit" / "audit.jsonl"
    lines = [json.loads(x) for x in audit.read_text().splitlines()]
    ran = [(e["phase"], e["outcome"] if e["phase"] == "finished" else "", e.get("exit_status"), e["command"].split()[0])
           for e in lines if e.get("action") == "shell.open"]
    assert ran == [(phase, outcome, code, program) for program in ("ssh", "psql", "redis-cli")
                   for phase, outcome, code in (("started", "", None), ("finished", "ok", 0))]
    assert SECRET not in audit.read_text()
    assert os.environ.get("T_PG_DSN") is None  # the test's own env was not touched
