"""The integrity oracle's harness: the real cockpit in a pty, its bytes on a pyte screen.

``OracleTerminal.check(step)`` asks the app (SIGUSR1, ``COCKPIT_TEST_HOOKS=1``) for the
screen a full unoptimised repaint of its current state would show (widgets/reference.py),
feeds the emulator every byte written before the reference's in-band marker, and compares
the two cell by cell: character, foreground, background, bold, reverse. A difference is an
AssertionError that shows both screens and the first cells that differ.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pyte

ROOT = Path(__file__).resolve().parent.parent
_MARKER = re.compile(rb"\x1b\]7777;(\d+)\x07")
_MARKER_START = re.compile(rb"\x1b(?:\](?:7(?:7(?:7(?:7(?:;\d*)?)?)?)?)?)?")  # cut by a read


def cockpit_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TMUX", "STY", "COLUMNS", "LINES", "TEXTUAL_DRIVER", "NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", LANG="C.UTF-8", HOME=str(tmp),
               XDG_STATE_HOME=str(tmp / "state"), COCKPIT_TEST_HOOKS="1", COCKPIT_TEST_HOOKS_DIR=str(tmp))
    return env


class OracleTerminal:
    def __init__(self, argv: list[str], env: dict[str, str], cols: int, rows: int) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
            start_new_session=True, close_fds=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.hooks_dir = Path(env["COCKPIT_TEST_HOOKS_DIR"])
        self.screen = pyte.Screen(cols, rows)
        self.screen.write_process_input = lambda data: os.write(master, data.encode())
        self.stream = pyte.ByteStream(self.screen)
        self._held = b""  # bytes that may be the start of a marker
        self._markers: set[int] = set()
        self._asked = 0
        self.checks = 0

    # --- reading ----------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        data = self._held + data
        self._held = b""
        while True:
            found = _MARKER.search(data)
            if found is None:
                break
            self.stream.feed(data[:found.start()])
            self._markers.add(int(found.group(1)))
            data = data[found.end():]
        start = data.rfind(b"\x1b")
        if start != -1 and _MARKER_START.fullmatch(data[start:]):
            self._held = data[start:]
            data = data[:start]
        self.stream.feed(data)

    def pump(self, timeout: float) -> bool:
        """Read what the app wrote within ``timeout``; False once the pty is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:
            data = b""
        if not data:
            return False
        self._feed(data)
        return True

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.text()):
            if time.monotonic() > deadline or not self.pump(0.05):
                raise AssertionError(f"timed out waiting for {what or predicate}:\n{self.text()}")

    # --- driving ----------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def resize(self, cols: int, rows: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        # Bytes still in flight were painted for the old size: take them first.
        while self.pump(0):
            if not select.select([self.master], [], [], 0)[0]:
                break
        self.screen.resize(rows, cols)
        os.killpg(self.proc.pid, signal.SIGWINCH)

    # --- the oracle -------------------------------------------------------------------

    def reference(self, timeout: float = 20.0) -> dict:
        self._asked += 1
        number = self._asked
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while number not in self._markers:
            if time.monotonic() > deadline or not self.pump(0.05):
                raise AssertionError(f"no reference {number} from the app:\n{self.text()}")
        return json.loads((self.hooks_dir / f"ref-{number}.json").read_text())

    def check(self, step: str) -> None:
        """The emulated screen equals the full repaint of the same state, or fail."""
        ref = self.reference()
        deadline = time.monotonic() + 20
        while ref["size"] != [self.screen.columns, self.screen.lines] and time.monotonic() < deadline:
            ref = self.reference()  # a resize not handled yet
        self.checks += 1
        problem = compare(self.screen, ref)
        # A screen being replaced can look settled to the app for a moment (the new one's
        # ScreenResume not posted yet): ask again. Stale paint stays: the app sees nothing
        # left to paint, so every later reference still differs.
        for _ in range(2):
            if not problem:
                return
            if not compare(self.screen, self.reference()):
                return
        if problem:
            raise AssertionError(f"stale paint after {step!r}: {problem}")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        os.close(self.master)


def _norm(color: str) -> str | None:
    return None if color == "default" else color.lower()


def compare(screen: pyte.Screen, ref: dict) -> str:
    """'' when equal, else both screens and the first differing cells."""
    cols, rows = ref["size"]
    if (screen.columns, screen.lines) != (cols, rows):
        return f"the app painted {cols}x{rows}, the terminal is {screen.columns}x{screen.lines}"
    diffs: list[str] = []
    bad_rows: set[int] = set()
    for y, cells in enumerate(ref["rows"][:rows]):
        line = screen.buffer[y]
        for x in range(cols):
            want = cells[x] if x < len(cells) else [" ", None, None, False, False]
            got = line[x]
            have = [got.data, _norm(got.fg), _norm(got.bg), bool(got.bold), bool(got.reverse)]
            # An unset colour in the reference is the terminal's default either way.
            if have[0] != want[0] or any(w is not None and h != w for h, w in zip(have[1:3], want[1:3], strict=True)) \
                    or have[3:] != want[3:]:
                bad_rows.add(y)
                if len(diffs) < 8:
                    diffs.append(f"  row {y + 1} col {x + 1}: screen {have} != repaint {want}")
    if not bad_rows:
        return ""
    ref_text = ["".join(c[0] for c in cells).rstrip() for cells in ref["rows"]]
    shown = [line.rstrip() for line in screen.display]

    def render(lines: list[str]) -> str:
        return "\n".join(f"{'>' if i in bad_rows else ' '}{i + 1:3}|{text}" for i, text in enumerate(lines))

    return (f"{len(bad_rows)} rows differ ({', '.join(str(r + 1) for r in sorted(bad_rows)[:20])})\n"
            + "\n".join(diffs)
            + f"\n--- terminal (emulated) ---\n{render(shown)}\n--- full repaint ---\n{render(ref_text)}")


def cockpit_argv(config: Path, profile: str) -> list[str]:
    return [sys.executable, "-m", "cockpit.cli", "--config", str(config), "--profile", profile]
