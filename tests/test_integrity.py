"""The screen tells the truth: the real cockpit in a pty, checked against a full repaint.

After each step of a scripted scenario, the emulated terminal (every byte the app wrote,
fed to pyte) must equal what a full, unoptimised repaint of the same state shows
(tests/oracle.py, widgets/reference.py): no paint optimisation may leave a stale cell.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oracle import ROOT, OracleTerminal, cockpit_argv, cockpit_env

UP, DOWN, PGUP, PGDN = b"\x1b[A", b"\x1b[B", b"\x1b[5~", b"\x1b[6~"
HOME, END, ENTER, ESC, TAB = b"\x1b[H", b"\x1b[F", b"\r", b"\x1b", b"\t"


def write_lines(log: Path, start: int, count: int) -> None:
    stamp = time.strftime("%H:%M:%S")
    with log.open("a") as f:
        f.write("".join(f"{stamp} INFO line {i:04d} of the followed file\n" for i in range(start, start + count)))


@pytest.fixture
def cockpit(tmp_path: Path) -> Iterator[tuple[OracleTerminal, Path]]:
    """The cockpit following a local file of 30 lines, in a 160x48 terminal."""
    log = tmp_path / "app.log"
    write_lines(log, 0, 30)
    config = tmp_path / "profiles.yaml"
    config.write_text(
        "default: local\nprofiles:\n  local:\n    refresh: 5\n    hosts:\n"
        f"      - {{name: this-machine, local: true, logs: [{log}]}}\n"
    )
    term = OracleTerminal(cockpit_argv(config, "local"), cockpit_env(tmp_path), 160, 48)
    try:
        term.wait_for(lambda s: "line 0029" in s, 30, "the followed file's last line")
        yield term, log
    finally:
        term.close()


def focus(term: OracleTerminal, pane: str) -> None:
    for _ in range(6):
        if f"▶ {pane}" in term.text():
            return
        term.send(TAB)
        try:
            term.wait_for(lambda s: f"▶ {pane}" in s, 2, f"focus on {pane}")
        except AssertionError:
            continue
    term.wait_for(lambda s: f"▶ {pane}" in s, 5, f"focus on {pane}")


def test_maximised_scrolled_and_resized_log_pane_matches_a_full_repaint(cockpit):
    """Seen: z on the Logs pane showed only the 7 lines visible before; scrolling repeated
    lines; growing the terminal left the new rows blank (Home repainted it right)."""
    term, log = cockpit
    term.check("start")
    focus(term, "Logs")
    term.check("focus Logs")
    term.send(b"z")
    term.wait_for(lambda s: "Services" not in s, 10, "the maximised Logs pane")
    term.check("z on Logs (maximise)")
    for _ in range(10):
        term.send(UP)
    term.wait_for(lambda s: "line 20 of 30" in s, 10, "paused ten lines up")
    term.check("scroll up 10 lines")
    term.send(HOME)
    term.wait_for(lambda s: "line 1 of 30" in s, 10, "the oldest line")
    term.check("Home")
    term.send(END)
    term.wait_for(lambda s: "following" in s, 10, "following again")
    term.check("End")
    term.send(b"z")
    term.wait_for(lambda s: "Services" in s, 10, "the grid again")
    term.check("z again (restore)")
    term.resize(100, 30)
    term.wait_for(lambda s: len(s.splitlines()[0]) <= 100, 10, "100 columns")
    term.check("shrink to 100x30")
    term.resize(160, 60)
    term.check("grow to 160x60")
    # Paused at the oldest line while the ring (10,000 lines) drops its oldest ones.
    term.send(HOME)
    term.wait_for(lambda s: "line 1 of 30" in s, 10, "paused at the oldest line")
    term.check("paused at the oldest line")
    write_lines(log, 30, 9_990)
    term.wait_for(lambda s: "line 1 of 10020 " in s, 30, "10,020 lines")
    term.check("paused, 10,020 lines")
    write_lines(log, 10_020, 2_000)  # past the ring's 10,000 lines and its slack: a trim
    term.wait_for(lambda s: "line 1 of 10000 " in s, 30, "the ring trimmed")
    term.check("paused while the ring trimmed")


def test_screens_themes_war_room_filter_and_a_flood_match_a_full_repaint(cockpit):
    term, log = cockpit
    term.wait_for(lambda s: "1 service" in s, 20, "the host row")
    steps: list[tuple[str, bytes, str | None, str | None]] = [
        # (step, keys, text that shows once it is done, text that is gone once it is done)
        ("detail (Enter)", ENTER, "status text", None),
        ("back (Esc)", ESC, "▶ Services", "status text"),
        ("help (?)", b"?", "ops cockpit — keys", None),
        ("help closed", ESC, "▶ Services", "ops cockpit — keys"),
        ("palette (Ctrl+P)", b"\x10", "Search for commands", None),
        ("palette: delete rotated", b"delete rotated", "host: delete rotated logs", None),
        ("confirmation", ENTER, "Type this-machine to confirm", "🔎"),
        ("confirmation cancelled", ESC, "▶ Services", "Type this-machine to confirm"),
        ("palette: light theme", b"\x10", "Search for commands", None),
        ("typed", b"cockpit-light", "theme: cockpit-light", None),
        ("light theme", ENTER, "▶ Services", "🔎"),
        ("war room (w)", b"w", "● UP", None),  # its status words are capitals
        ("war room off (w)", b"w", "alarm", "ALARM"),
        ("focus Logs", TAB + TAB, "▶ Logs", None),
        ("filter", b"/", None, None),
        ("filter typed", b"0017", None, "line 0029"),
        ("filter applied", ENTER, "line 0017", None),
        ("filter reopened", b"/", None, None),
        ("filter cleared (Esc)", ESC, "line 0029", None),
        ("maximised", b"z", None, "Services"),
    ]
    for step, keys, shows, gone in steps:
        term.send(keys)
        term.wait_for(lambda s, shows=shows, gone=gone: (shows is None or shows in s) and (gone is None or gone not in s),
                      10, step)
        term.check(step)
    # A flood while maximised, then restored while lines still come.
    for start in range(30, 3030, 500):
        write_lines(log, start, 500)
        term.check(f"flood to line {start + 499}")
    term.wait_for(lambda s: "line 3029" in s, 20, "the flood's last line")
    term.check("after the flood")
    term.send(b"z")
    term.wait_for(lambda s: "Services" in s, 10, "the grid again")
    term.check("restored after the flood")
    term.send(PGUP + PGUP)
    term.wait_for(lambda s: "paused" in s, 10, "paused")
    write_lines(log, 3030, 50)
    term.check("paged up while lines come")
    term.resize(120, 40)
    term.check("shrunk while paused")
    term.send(END)
    term.wait_for(lambda s: "following" in s and "line 3079" in s, 10, "following")
    term.check("End after the resize")


def test_lab_tables_scroll_filter_and_maximise_match_a_full_repaint(tmp_path):
    """The lab: rows that come and go (sources answering one by one, a
    filter), scrolling a table past its view, log lines, each pane maximised and restored."""
    env = cockpit_env(tmp_path)
    env.update(COCKPIT_LAB_LOG_RATE="5")
    term = OracleTerminal(cockpit_argv(ROOT / "profiles.yaml", "lab"), env, 160, 48)
    grid = ("Services", "Alarms", "Queues", "Database")
    try:
        term.wait_for(lambda s: "Database" in s and "⧗" not in s, 60, "every pane answered")
        term.check("lab panes answered")
        # While the lab's other sources come in (rows added to every table).
        for pane in ("Alarms", "Logs", "Queues", "Database", "Services"):
            focus(term, pane)
            term.send(b"z")
            term.wait_for(lambda s: sum(p in s for p in grid) <= 1, 10, f"{pane} maximised")
            term.check(f"{pane} maximised")
            term.send(END if pane == "Logs" else DOWN + DOWN + HOME)
            term.check(f"{pane} maximised, moved")
            term.send(b"z")
            term.wait_for(lambda s: all(p in s for p in grid), 10, f"{pane} restored")
            term.check(f"{pane} restored")
        term.wait_for(lambda s: " worker " in s, 60, "the lab's ECS services")
        term.check("ECS rows in")
        for _ in range(30):
            term.send(DOWN)
        term.check("Services scrolled 30 rows")
        term.send(PGDN + PGDN)
        term.check("Services paged down")
        for step, keys in [("filter", b"/"), ("filter typed", b"svc-00"), ("filter applied", ENTER),
                           ("filter reopened", b"/"), ("filter cleared", ESC)]:
            term.send(keys)
            term.check(step)
        term.resize(200, 60)
        term.check("grown to 200x60")
        term.resize(90, 25)
        term.check("shrunk to 90x25")
    finally:
        term.close()

