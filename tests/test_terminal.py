"""The cockpit in a real pseudo-terminal: keys read by its own input driver reach the app."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parent.parent
COLS, ROWS = 120, 36


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
            start_new_session=True, close_fds=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(COLS, ROWS)
        self.screen.write_process_input = lambda data: os.write(master, data.encode())
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    return predicate(self.text())
                self.stream.feed(data)
        return False

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)
        os.close(self.master)


def test_keys_reach_the_cockpit_and_a_lone_escape_is_an_escape(tmp_path):
    config = tmp_path / "profiles.yaml"
    config.write_text("default: empty\nprofiles:\n  empty:\n    description: nothing to watch\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLUMNS", "LINES", "TEXTUAL_DRIVER")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8", HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    term = Terminal([sys.executable, "-m", "cockpit.cli", "--config", str(config)], env)
    try:
        assert term.wait_for(lambda s: "Services" in s and "Quit" in s), term.text()
        term.send(b"?")
        assert term.wait_for(lambda s: "ops cockpit — keys" in s), term.text()
        # A lone Esc is only known as one once the parser's wait for a sequence runs out:
        # the input thread must wake for that although no other byte comes.
        term.send(b"\x1b")
        assert term.wait_for(lambda s: "ops cockpit — keys" not in s), term.text()
        term.send(b"\t")
        assert term.wait_for(lambda s: "▶ Alarms" in s), term.text()
        term.send(b"q")
        assert term.proc.wait(15) == 0
    finally:
        term.close()
